package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/share"
)

// Reader reads what stores wrote under one prefix. It needs no writer: the
// admin CLI and tests use it with their own client. Store embeds one.
type Reader struct {
	rdb   redis.UniversalClient
	k     keys
	tiers Tiers
}

// NewReader returns a Reader of the keys under prefix ("tarbela" when
// empty); hashrateBucket must match the writers' HashrateBucket (1 minute
// when zero), and the workers' tiers are DefaultTiers'. NewTieredReader
// takes the whole layout.
func NewReader(rdb redis.UniversalClient, prefix string, hashrateBucket time.Duration) *Reader {
	t := DefaultTiers()
	if hashrateBucket >= time.Second {
		t.Bucket = hashrateBucket
	}
	return NewTieredReader(rdb, prefix, t)
}

// NewTieredReader returns a Reader of the keys under prefix ("tarbela"
// when empty) written with the hashrate layout t (the writers' Options);
// a zero field of t takes DefaultTiers'.
func NewTieredReader(rdb redis.UniversalClient, prefix string, t Tiers) *Reader {
	if prefix == "" {
		prefix = "tarbela"
	}
	d := DefaultTiers()
	for _, f := range []struct{ v, def *time.Duration }{
		{&t.Bucket, &d.Bucket}, {&t.Retention, &d.Retention}, {&t.WorkerBucket, &d.WorkerBucket},
		{&t.WorkerRetention, &d.WorkerRetention}, {&t.WorkerCoarseBucket, &d.WorkerCoarseBucket},
		{&t.WorkerCoarseRetention, &d.WorkerCoarseRetention},
	} {
		if *f.v < time.Second {
			*f.v = *f.def
		}
	}
	return &Reader{rdb: rdb, k: newKeys(prefix), tiers: t}
}

// WithClient returns a Reader of the same keys and layout that reads
// through rdb: the API reads through a client of its own, so that its
// reads never take the connections the share writer needs.
func (s *Reader) WithClient(rdb redis.UniversalClient) *Reader {
	r := *s
	r.rdb = rdb
	return &r
}

// Stats is a snapshot of what Redis holds, for status lines and tests.
type Stats struct {
	// RoundShares and RoundWork are the open round's share count and
	// difficulty-weighted work; RoundStart is its first share's time.
	RoundShares int64
	RoundWork   float64
	RoundStart  time.Time
	// RoundWorkers is how many workers have work in the open round.
	RoundWorkers int64
	// TotalShares and TotalWork count every share recorded under the
	// prefix by every node; NodeShares splits TotalShares by node id.
	TotalShares int64
	TotalWork   float64
	NodeShares  map[uint8]int64
	// Blocks is the number of block records.
	Blocks int64
	// Slices is the number of PPLNS window slices kept.
	Slices int64
}

// Stats reads the counters in one round trip.
func (s *Reader) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	pipe := s.rdb.Pipeline()
	meta := pipe.HMGet(ctx, s.k.roundMeta(CurrentRound), "shares", "work", "start")
	workers := pipe.HLen(ctx, s.k.roundWorkers(CurrentRound))
	totals := pipe.HGetAll(ctx, s.k.totals())
	blocks := pipe.ZCard(ctx, s.k.blocks())
	slices := pipe.ZCard(ctx, s.k.pplnsIndex())
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return st, fmt.Errorf("redisstore: read stats: %w", err)
	}
	m := meta.Val()
	st.RoundShares = parseInt(m[0])
	st.RoundWork = parseFloat(m[1])
	if ms := parseInt(m[2]); ms > 0 {
		st.RoundStart = time.UnixMilli(ms)
	}
	st.RoundWorkers = workers.Val()
	t := totals.Val()
	st.TotalShares = parseInt(t["shares"])
	st.TotalWork = parseFloat(t["work"])
	st.NodeShares = map[uint8]int64{}
	for k, v := range t {
		if id, ok := strings.CutPrefix(k, "node:"); ok {
			if n, err := strconv.ParseUint(id, 10, 8); err == nil {
				st.NodeShares[uint8(n)] = parseInt(v)
			}
		}
	}
	st.Blocks = blocks.Val()
	st.Slices = slices.Val()
	return st, nil
}

func parseInt(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func parseFloat(v any) float64 {
	s, _ := v.(string)
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

// RoundWork returns the difficulty-weighted work per worker and per account
// of a round: CurrentRound, or the hash of the block that froze it. A round
// that does not exist (or was expired after payout) is empty.
func (s *Reader) RoundWork(ctx context.Context, round string) (workers, accounts map[string]float64, err error) {
	pipe := s.rdb.Pipeline()
	w := pipe.HGetAll(ctx, s.k.roundWorkers(round))
	a := pipe.HGetAll(ctx, s.k.roundAccounts(round))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, fmt.Errorf("redisstore: read round %s: %w", round, err)
	}
	return floats(w.Val()), floats(a.Val()), nil
}

// Block is a block record with the round it froze.
type Block struct {
	share.BlockRecord
	// Round is the key of the frozen round (the block hash), empty when
	// the block froze none (rejected).
	Round string
}

// Blocks returns up to n block records, highest first.
func (s *Reader) Blocks(ctx context.Context, n int) ([]Block, error) {
	if n <= 0 {
		return nil, nil
	}
	hashes, err := s.rdb.ZRevRange(ctx, s.k.blocks(), 0, int64(n-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read blocks index: %w", err)
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(hashes))
	for i, h := range hashes {
		cmds[i] = pipe.HGetAll(ctx, s.k.block(h))
	}
	if len(hashes) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("redisstore: read blocks: %w", err)
		}
	}
	out := make([]Block, 0, len(hashes))
	for _, c := range cmds {
		m := c.Val()
		if len(m) == 0 {
			continue
		}
		node, _ := strconv.ParseUint(m["node"], 10, 8)
		out = append(out, Block{
			BlockRecord: share.BlockRecord{
				Height: parseInt(m["height"]), Hash: m["hash"], Worker: m["worker"], Account: m["account"],
				Reward: parseInt(m["reward"]), Status: share.BlockStatus(m["status"]), Reason: m["reason"],
				Time: time.UnixMilli(parseInt(m["time"])), Node: uint8(node),
				CoinbaseTxID: m["coinbase_txid"], NetDifficulty: parseFloat(m["netdiff"]), Site: m["site"],
			},
			Round: m["round"],
		})
	}
	return out, nil
}

// PPLNSWindow returns the PPLNS window a block froze: the work per account
// of the last N × D of work before it (docs/payout.md). It is empty for a
// block that froze none (rejected, or recorded again) and once the round
// was released.
func (s *Reader) PPLNSWindow(ctx context.Context, blockHash string) (map[string]float64, error) {
	m, err := s.rdb.HGetAll(ctx, s.k.roundPPLNS(blockHash)).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read the PPLNS window of %s: %w", blockHash, err)
	}
	return accountFloats(m), nil
}

// Slice is one slice of the PPLNS window: the work per account of the
// shares accepted in [Start, Start+PPLNSSlice).
type Slice struct {
	Start    time.Time
	Work     float64
	Accounts map[string]float64
}

// PPLNSSlices returns the slices of the PPLNS window kept, oldest first,
// and the running sum of their work the writers keep for trimming.
func (s *Reader) PPLNSSlices(ctx context.Context) ([]Slice, float64, error) {
	starts, err := s.rdb.ZRange(ctx, s.k.pplnsIndex(), 0, -1).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("redisstore: read the PPLNS slice index: %w", err)
	}
	pipe := s.rdb.Pipeline()
	tot := pipe.HGetAll(ctx, s.k.pplnsTotals())
	cmds := make([]*redis.MapStringStringCmd, len(starts))
	for i, st := range starts {
		cmds[i] = pipe.HGetAll(ctx, s.k.pplnsSlicePrefix()+st)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, fmt.Errorf("redisstore: read the PPLNS slices: %w", err)
	}
	t := tot.Val()
	out := make([]Slice, len(starts))
	for i, st := range starts {
		ms, err := strconv.ParseInt(st, 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("redisstore: PPLNS slice index member %q is not a start time", st)
		}
		out[i] = Slice{Start: time.UnixMilli(ms), Work: parseFloat(t[st]), Accounts: accountFloats(cmds[i].Val())}
	}
	return out, parseFloat(t[pplnsAll]), nil
}

// PPSOwed returns what PPS/FPPS owes each account so far, in satoshis
// (fractions included), as the batch script accrued it and the payout job
// left it.
func (s *Reader) PPSOwed(ctx context.Context) (map[string]float64, error) {
	m, err := s.rdb.HGetAll(ctx, s.k.ppsOwed()).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read PPS owed: %w", err)
	}
	return floats(m), nil
}

// floats parses a hash of float fields.
func floats(m map[string]string) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = parseFloat(v)
	}
	return out
}

// Hashrate returns the hashes per second of a worker (or, with account set,
// of an account) over the buckets that cover the last d, from the
// difficulty-weighted work recorded in them (work·2^32 over the buckets'
// whole width). d is rounded up to whole buckets of the tier that holds it
// (a worker's fine tier within WorkerRetention, else its coarse tier).
func (s *Reader) Hashrate(ctx context.Context, name string, account bool, d time.Duration) (float64, error) {
	if d <= 0 {
		return 0, nil
	}
	of := OfWorker(name)
	if account {
		of = OfAccount(name)
	}
	l := s.tierFor(of, d)
	n := bucketsOver(l, d)
	work, _, err := s.bucketWork(ctx, of, l, time.Now(), n)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, v := range work {
		sum += v
	}
	return sum * (1 << 32) / (time.Duration(n) * l.width).Seconds(), nil
}

// LastShare returns when a worker (or account) last had a share recorded;
// zero when none within HashrateRetention.
func (s *Reader) LastShare(ctx context.Context, name string, account bool) (time.Time, error) {
	key := s.k.lastWorker()
	if account {
		key = s.k.lastAccount()
	}
	ms, err := s.rdb.ZScore(ctx, key, name).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("redisstore: read last share of %s: %w", name, err)
	}
	return time.UnixMilli(int64(ms)), nil
}

// SetBlockStatus changes a block's recorded status (for the unlocker:
// confirmed, orphaned, paid). It does not move round work; rejections
// found at submission go through AddBlock, which gives the round back.
func (s *Reader) SetBlockStatus(ctx context.Context, hash string, status share.BlockStatus) error {
	n, err := s.rdb.Exists(ctx, s.k.block(hash)).Result()
	if err != nil {
		return fmt.Errorf("redisstore: set status of block %s: %w", hash, err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore: set status of block %s: %w", hash, ErrNoBlock)
	}
	if err := s.rdb.HSet(ctx, s.k.block(hash), "status", string(status)).Err(); err != nil {
		return fmt.Errorf("redisstore: set status of block %s: %w", hash, err)
	}
	return nil
}

// ErrNoBlock means no block record has the given hash.
var ErrNoBlock = errors.New("no such block")

// ReleaseRound ends the life of a frozen round once its block is paid or
// orphaned: its keys, the PPLNS window it froze included, expire after
// keep (0 deletes them now). The block record itself stays.
func (s *Reader) ReleaseRound(ctx context.Context, hash string, keep time.Duration) error {
	if hash == "" || hash == CurrentRound {
		return fmt.Errorf("redisstore: release round %q: %w", hash, ErrInvalid)
	}
	ks := []string{s.k.roundWorkers(hash), s.k.roundAccounts(hash), s.k.roundMeta(hash), s.k.roundPPLNS(hash)}
	pipe := s.rdb.TxPipeline()
	for _, k := range ks {
		if keep <= 0 {
			// UNLINK frees a frozen round of 570,000 workers off Redis's
			// main thread.
			pipe.Unlink(ctx, k)
		} else {
			pipe.Expire(ctx, k, keep)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redisstore: release round %s: %w", hash, err)
	}
	return nil
}
