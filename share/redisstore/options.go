package redisstore

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Options configures a Store. The zero value, with Addr set, is usable.
type Options struct {
	// Addr is the Redis address, host:port. SentinelAddrs with MasterName
	// (and SentinelPassword, the Sentinels' own) or ClusterAddrs take its
	// place; exactly one of the three is set (see Connection).
	Addr string
	// Password and DB select the Redis account and database.
	Password         string
	DB               int
	SentinelAddrs    []string
	MasterName       string
	SentinelPassword string
	ClusterAddrs     []string

	// WaitReplicas is how many replicas must hold a batch before its
	// shares are acknowledged: the writer sends WAIT after the batch, on
	// the connection that wrote it, and a batch that falls short within
	// WaitTimeout goes to the journal (fsynced) before the acknowledgement,
	// to be replayed, once, later. WaitAuto waits for one replica while
	// the primary reports one online (INFO replication, read at most
	// once a second), for none otherwise; 0 (the default) never waits.
	WaitReplicas int
	// WaitTimeout bounds one WAIT (1 s by default).
	WaitTimeout time.Duration
	// Prefix starts every key ("tarbela" by default); see docs/redis.md.
	Prefix string
	// Node is this pool node's id; it goes into batch ids and the per-node
	// share counter, so two nodes on one Redis never collide.
	Node uint8

	// BatchSize seals a batch when it holds this many shares (512 by
	// default, at most MaxBatchSize).
	BatchSize int
	// BatchInterval seals a partial batch this long after its first share
	// (10 ms by default): the bound on how stale Redis can be, and on how
	// long a share waits for its acknowledgement (share.Acker) beyond one
	// Redis round trip.
	BatchInterval time.Duration
	// QueueSize bounds the shares held in memory waiting for Redis or the
	// journal (256 batches' worth by default). AddShare returns ErrBacklog
	// beyond it.
	QueueSize int
	// PPLNSWindow is N of the PPLNS window (payout.pplns_window): a block
	// freezes the last N × D of work before it, D its network difficulty
	// (2 by default). Slices are kept up to 4 × N × D of work. Every node
	// writing one Redis must use the same value.
	PPLNSWindow float64
	// PPLNSSlice is the width of one slice of the PPLNS window, the
	// granularity of its oldest end (1 minute by default; at least 1 s,
	// whole milliseconds; the same on every node).
	PPLNSSlice time.Duration
	// Scheme is the payout scheme (payout.scheme). "pps" and "fpps" make
	// each batch add its shares' worth, per account, to the amounts owed
	// (pps:owed); "", "pplns", "prop" and "solo" record nothing more. See
	// docs/payout.md.
	Scheme string
	// SubsidyHalvingInterval is the number of blocks between halvings of
	// the block subsidy, which prices a PPS share (210,000 by default, as
	// on mainnet and testnet; regtest halves every 150).
	SubsidyHalvingInterval int64
	// HashrateBucket is the width of one hashrate time bucket (1 minute by
	// default); HashrateRetention is how long a bucket lives (24 h by
	// default). Last-share times older than the retention are trimmed too.
	HashrateBucket    time.Duration
	HashrateRetention time.Duration
	// The per-worker history is kept in two tiers (docs/redis.md, "Hashrate
	// tiers"): WorkerBucket-wide buckets for WorkerRetention (5 minutes
	// for 1 h by default: the workers' hourly rate), and
	// WorkerCoarseBucket-wide ones for WorkerCoarseRetention (1 h for
	// 24 h: a worker's day). Accounts and the pool keep HashrateBucket
	// for HashrateRetention. Widths are whole seconds; a retention is at
	// least its width; the coarse tier is no finer and no shorter than
	// the fine one. Every node writing one Redis must use the same values.
	// A bucket is deleted by the first batch whose time is past its end
	// plus its tier's retention, so expiry follows the shares' own clock.
	WorkerBucket          time.Duration
	WorkerRetention       time.Duration
	WorkerCoarseBucket    time.Duration
	WorkerCoarseRetention time.Duration
	// DropFrozenWorkers makes a block that freezes the round unlink the
	// round's work per worker (round:current:w) instead of keeping it as
	// round:<hash>:w until the block is credited. No payout scheme reads
	// it (they credit accounts: round:<hash>:a, the PPLNS window); it
	// holds ~76 MB per block awaiting credit at 570,000 workers
	// (docs/redis.md, "Memory budget"). An orphaned block then gives back
	// only its accounts' work (PROP). False by default.
	DropFrozenWorkers bool
	// DedupeTTL is how long a batch id is remembered so that a resent or
	// replayed batch is recorded once (7 days by default). A journal replayed
	// later than this after it was written would count its batches again.
	DedupeTTL time.Duration
	// EnergyBucket is the width of the per-site work buckets (en:m:*)
	// that curtailment reports read (1 minute by default; at least 1 s,
	// whole seconds, the same on every node); EnergyBucketTTL is how long
	// one lives (48 h by default). See docs/energy.md.
	EnergyBucket    time.Duration
	EnergyBucketTTL time.Duration

	// JournalPath is the append-only journal used while Redis is
	// unreachable; empty disables it (then batches wait in memory, and
	// AddShare returns ErrBacklog once QueueSize is reached).
	JournalPath string

	// Timeout bounds one Redis round trip (2 s by default); a batch that
	// takes longer goes to the journal.
	Timeout time.Duration
	// RetryInterval is the pause between attempts to reach Redis while it
	// is down (250 ms by default).
	RetryInterval time.Duration
	// StopTimeout bounds how long Stop waits for queued batches to reach
	// Redis or the journal when its context allows longer (30 s by default).
	StopTimeout time.Duration

	// Log receives the store's logs; nop by default. Nothing is logged per
	// share above debug level.
	Log *zap.Logger
	// Observer is told about batches, errors and refusals, for metrics.
	Observer Observer
}

// WaitAuto is the WaitReplicas that waits for one replica while the
// primary has any.
const WaitAuto = -1

// connection is where o's Redis is; the client's read timeout leaves room
// for a WAIT.
func (o Options) connection() Connection {
	c := Connection{Addr: o.Addr, SentinelAddrs: o.SentinelAddrs, MasterName: o.MasterName,
		SentinelPassword: o.SentinelPassword, ClusterAddrs: o.ClusterAddrs, Password: o.Password, DB: o.DB,
		// The store retries by itself (and journals); a client retry of a
		// script call would only hide the outage.
		MaxRetries: -1, Timeout: o.Timeout, PoolSize: 4}
	if o.WaitReplicas != 0 {
		c.Timeout += o.WaitTimeout
	}
	return c
}

// MaxBatchSize caps BatchSize: one script call's argument list stays well
// inside Redis' and Lua's limits.
const MaxBatchSize = 4096

// Observer receives the store's events for metrics. Methods are called from
// the store's goroutines and must not block.
type Observer interface {
	// Recorded is called when a batch of shares is confirmed in Redis
	// (written directly or replayed from the journal); latency runs from the
	// batch being sealed to Redis' reply.
	Recorded(shares int, latency time.Duration)
	// RedisError is called for every failed Redis round trip.
	RedisError(err error)
	// Journaled is called when shares are written to the journal.
	Journaled(shares int)
	// Refused is called when AddShare returns ErrBacklog or ErrInvalid.
	Refused(err error)
}

// OptionsError lists every bad field of an Options value.
type OptionsError struct {
	// Fields maps an option name to what is wrong with it.
	Fields []string
}

func (e *OptionsError) Error() string {
	return "redisstore: bad options: " + strings.Join(e.Fields, "; ")
}

// withDefaults returns o with zero fields defaulted, or an *OptionsError.
func (o Options) withDefaults() (Options, error) {
	var bad []string
	bad = append(bad, o.connection().check()...)
	if o.WaitReplicas < WaitAuto {
		bad = append(bad, fmt.Sprintf("WaitReplicas: %d is below WaitAuto (-1)", o.WaitReplicas))
	}
	if o.Prefix == "" {
		o.Prefix = "tarbela"
	}
	if strings.ContainsAny(o.Prefix, "{} \t\r\n") {
		bad = append(bad, fmt.Sprintf("Prefix %q: must not contain braces or spaces", o.Prefix))
	}
	def := func(v *int, d int, name string) {
		if *v == 0 {
			*v = d
		} else if *v < 0 {
			bad = append(bad, fmt.Sprintf("%s: %d is negative", name, *v))
		}
	}
	defd := func(v *time.Duration, d time.Duration, name string) {
		if *v == 0 {
			*v = d
		} else if *v < 0 {
			bad = append(bad, fmt.Sprintf("%s: %v is negative", name, *v))
		}
	}
	def(&o.BatchSize, 512, "BatchSize")
	if o.BatchSize > MaxBatchSize {
		bad = append(bad, fmt.Sprintf("BatchSize: %d is above %d", o.BatchSize, MaxBatchSize))
	}
	def(&o.QueueSize, 256*o.BatchSize, "QueueSize")
	if o.QueueSize > 0 && o.QueueSize < o.BatchSize {
		bad = append(bad, fmt.Sprintf("QueueSize: %d is below BatchSize %d", o.QueueSize, o.BatchSize))
	}
	switch {
	case o.PPLNSWindow == 0:
		o.PPLNSWindow = 2
	case !(o.PPLNSWindow > 0) || math.IsInf(o.PPLNSWindow, 0):
		bad = append(bad, fmt.Sprintf("PPLNSWindow: %v is not a positive number", o.PPLNSWindow))
	}
	defd(&o.PPLNSSlice, time.Minute, "PPLNSSlice")
	if o.PPLNSSlice > 0 && (o.PPLNSSlice < time.Second || o.PPLNSSlice%time.Millisecond != 0) {
		bad = append(bad, fmt.Sprintf("PPLNSSlice: %v is below 1s or not whole milliseconds", o.PPLNSSlice))
	}
	switch o.Scheme {
	case "", "pplns", "prop", "solo", "pps", "fpps":
	default:
		bad = append(bad, fmt.Sprintf("Scheme %q: want pplns, prop, solo, pps or fpps", o.Scheme))
	}
	if o.SubsidyHalvingInterval == 0 {
		o.SubsidyHalvingInterval = 210_000
	} else if o.SubsidyHalvingInterval < 0 {
		bad = append(bad, fmt.Sprintf("SubsidyHalvingInterval: %d is negative", o.SubsidyHalvingInterval))
	}
	defd(&o.BatchInterval, 10*time.Millisecond, "BatchInterval")
	defd(&o.HashrateBucket, time.Minute, "HashrateBucket")
	if o.HashrateBucket > 0 && o.HashrateBucket < time.Second {
		bad = append(bad, "HashrateBucket: below 1s")
	}
	defd(&o.HashrateRetention, 24*time.Hour, "HashrateRetention")
	bad = append(bad, o.tiersDefaults()...)
	defd(&o.DedupeTTL, 7*24*time.Hour, "DedupeTTL")
	if o.DedupeTTL > 0 && o.DedupeTTL < time.Second {
		bad = append(bad, "DedupeTTL: below 1s")
	}
	defd(&o.EnergyBucket, time.Minute, "EnergyBucket")
	if o.EnergyBucket > 0 && (o.EnergyBucket < time.Second || o.EnergyBucket%time.Second != 0 || EnergyHour%o.EnergyBucket.Milliseconds() != 0) {
		bad = append(bad, fmt.Sprintf("EnergyBucket: %v is below 1s, not whole seconds, or does not divide an hour", o.EnergyBucket))
	}
	defd(&o.EnergyBucketTTL, 48*time.Hour, "EnergyBucketTTL")
	if o.EnergyBucketTTL > 0 && o.EnergyBucketTTL < time.Second {
		bad = append(bad, "EnergyBucketTTL: below 1s")
	}
	defd(&o.Timeout, 2*time.Second, "Timeout")
	defd(&o.WaitTimeout, time.Second, "WaitTimeout")
	defd(&o.RetryInterval, 250*time.Millisecond, "RetryInterval")
	defd(&o.StopTimeout, 30*time.Second, "StopTimeout")
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if len(bad) > 0 {
		return o, &OptionsError{Fields: bad}
	}
	return o, nil
}

// Errors returned by AddShare, AddShareWait, AddBlock and Stop.
var (
	// ErrBacklog means the in-memory queue is full: Redis (and the
	// journal, when configured) are not keeping up. The share was not
	// recorded; the caller counts it and carries on.
	ErrBacklog = errors.New("redisstore: share queue full")
	// ErrClosed means the store was closed (or never started).
	ErrClosed = errors.New("redisstore: store closed")
	// ErrInvalid means the record cannot be stored as given (empty or
	// unencodable name, non-finite or negative difficulty).
	ErrInvalid = errors.New("redisstore: invalid record")
	// ErrUnflushed means Stop gave up on batches that reached neither
	// Redis nor the journal in time: those shares are lost.
	ErrUnflushed = errors.New("redisstore: batches not flushed")
)
