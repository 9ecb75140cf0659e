package redisstore

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"
)

// Tiers is the layout of the hashrate history: which buckets exist, how
// wide and for how long (docs/redis.md, "Hashrate tiers"). Accounts and
// the pool are few (hundreds), so their buckets are fine and long; workers
// are many (570,000 at the programme's scale), so theirs are fine only for
// the last hour and coarse for the day. A bucket is deleted by the first
// batch whose clock (the newest share time recorded) is past the bucket's
// end plus its tier's retention.
type Tiers struct {
	// Bucket and Retention are the accounts' and the pool's tier (hr:a).
	Bucket, Retention time.Duration
	// WorkerBucket and WorkerRetention are the workers' fine tier (hr:w).
	WorkerBucket, WorkerRetention time.Duration
	// WorkerCoarseBucket and WorkerCoarseRetention are the workers'
	// coarse tier (hr:wc).
	WorkerCoarseBucket, WorkerCoarseRetention time.Duration
}

// DefaultTiers is the layout Options default to: accounts and the pool in
// 1-minute buckets for 24 h; workers in 5-minute buckets for 1 h and in
// 1-hour buckets for 24 h. With 570,000 workers that keeps about 2 GB of
// worker history instead of 75 GB (docs/redis.md, "Memory budget").
func DefaultTiers() Tiers {
	return Tiers{
		Bucket: time.Minute, Retention: 24 * time.Hour,
		WorkerBucket: 5 * time.Minute, WorkerRetention: time.Hour,
		WorkerCoarseBucket: time.Hour, WorkerCoarseRetention: 24 * time.Hour,
	}
}

// tiers returns the Options' hashrate layout (after withDefaults).
func (o *Options) tiers() Tiers {
	return Tiers{
		Bucket: o.HashrateBucket, Retention: o.HashrateRetention,
		WorkerBucket: o.WorkerBucket, WorkerRetention: o.WorkerRetention,
		WorkerCoarseBucket: o.WorkerCoarseBucket, WorkerCoarseRetention: o.WorkerCoarseRetention,
	}
}

// tiersDefaults defaults the worker tiers and checks every tier, naming
// the field at fault and the fix.
func (o *Options) tiersDefaults() []string {
	var bad []string
	d := DefaultTiers()
	for _, f := range []struct {
		v    *time.Duration
		def  time.Duration
		name string
	}{
		{&o.WorkerBucket, d.WorkerBucket, "WorkerBucket"}, {&o.WorkerRetention, d.WorkerRetention, "WorkerRetention"},
		{&o.WorkerCoarseBucket, d.WorkerCoarseBucket, "WorkerCoarseBucket"},
		{&o.WorkerCoarseRetention, d.WorkerCoarseRetention, "WorkerCoarseRetention"},
	} {
		if *f.v == 0 {
			*f.v = f.def
		} else if *f.v < 0 {
			bad = append(bad, fmt.Sprintf("%s: %v is negative", f.name, *f.v))
		}
	}
	if len(bad) > 0 || o.HashrateBucket < 0 || o.HashrateRetention < 0 {
		return bad
	}
	return append(bad, o.tiers().check()...)
}

// check lists what is wrong with t, by Options field.
func (t Tiers) check() []string {
	var bad []string
	for _, x := range []struct {
		width, keep         time.Duration
		widthName, keepName string
	}{
		{t.Bucket, t.Retention, "HashrateBucket", "HashrateRetention"},
		{t.WorkerBucket, t.WorkerRetention, "WorkerBucket", "WorkerRetention"},
		{t.WorkerCoarseBucket, t.WorkerCoarseRetention, "WorkerCoarseBucket", "WorkerCoarseRetention"},
	} {
		if x.width < time.Second || x.width%time.Second != 0 {
			// HashrateBucket below 1 s is reported by withDefaults.
			if x.widthName != "HashrateBucket" || x.width >= time.Second {
				bad = append(bad, fmt.Sprintf("%s: %v is not a whole number of seconds, at least 1s", x.widthName, x.width))
			}
			continue
		}
		if x.keep < x.width {
			bad = append(bad, fmt.Sprintf("%s: %v is shorter than %s %v; keep at least one bucket", x.keepName, x.keep, x.widthName, x.width))
		}
	}
	if t.WorkerCoarseBucket < t.WorkerBucket {
		bad = append(bad, fmt.Sprintf("WorkerCoarseBucket: %v is finer than WorkerBucket %v; the coarse tier must be at least as wide",
			t.WorkerCoarseBucket, t.WorkerBucket))
	}
	if t.WorkerCoarseRetention < t.WorkerRetention {
		bad = append(bad, fmt.Sprintf("WorkerCoarseRetention: %v is shorter than WorkerRetention %v; the coarse tier must reach at least as far back",
			t.WorkerCoarseRetention, t.WorkerRetention))
	}
	return bad
}

// MaxClockAhead is how far the batches' clock (the newest share time
// recorded, by which hashrate buckets and last-share times expire) may run
// past the Redis server's own time: shares stamped later by a node whose
// clock is ahead count, but do not expire the history early.
const MaxClockAhead = 5 * time.Minute

// tier is one level of the hashrate history as the writer and the readers
// see it: its bucket width and lifetime and the key of a bucket.
type tier struct {
	width, retention time.Duration
	// workers is true for the workers' tiers, false for the accounts'
	// (whose buckets also hold the pool's work, field PoolField).
	workers bool
	key     func(k keys, startSec int64) string
}

// The tiers in the order the batch script takes them.
const (
	tierAccounts = iota
	tierWorkers
	tierWorkersCoarse
	numTiers
)

// levels returns t's tiers, indexed by tierAccounts, tierWorkers and
// tierWorkersCoarse.
func (t Tiers) levels() [numTiers]tier {
	return [numTiers]tier{
		tierAccounts:      {width: t.Bucket, retention: t.Retention, key: keys.hashrateAccounts},
		tierWorkers:       {width: t.WorkerBucket, retention: t.WorkerRetention, workers: true, key: keys.hashrateWorkers},
		tierWorkersCoarse: {width: t.WorkerCoarseBucket, retention: t.WorkerCoarseRetention, workers: true, key: keys.hashrateWorkersCoarse},
	}
}

// deadline is the time (ms) from which the bucket starting at startMs is
// deleted: its end plus the tier's retention.
func (l tier) deadline(startMs int64) int64 {
	return startMs + (l.width + l.retention).Milliseconds()
}

// ttl is the bucket's lifetime in Redis's own clock, a safety net for a
// pool that stops recording: the batches delete buckets by the shares'
// clock one bucket earlier.
func (l tier) ttl() time.Duration { return l.retention + 2*l.width }

// WorkerField is a worker's field in the workers' hashrate buckets: the
// first 64 bits of the SHA-256 of its name, in 11 characters of base64url.
// A bucket holds every worker of the pool (570,000 at the programme's
// scale) and a name is about 50 bytes: the digest halves what each worker
// costs in each bucket (docs/redis.md, "Memory budget"). Two names share a
// field only by a 64-bit collision (about 1 in 10^8 for 570,000 workers,
// and not to be found on purpose for a given name); the cost would be two
// workers' rates shown together, never a payout, which reads accounts.
func WorkerField(name string) string {
	h := sha256.Sum256([]byte(name))
	return base64.RawURLEncoding.EncodeToString(h[:8])
}
