package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Hashrate reads for the API and the CLI. Work is kept per hashrate bucket
// (HashrateBucket wide, aligned to the Unix epoch): per worker in hr:w, per
// account in hr:a, and the pool's in hr:a's PoolField. A rate is work·2^32
// over the time the buckets read cover up to now, the current bucket only
// as far as it has run, so a rate neither lags a bucket behind nor dips at
// the start of one.

// Subject is what a hashrate read is of: a worker, an account or the whole
// pool.
type Subject struct {
	kind byte // 'w', 'a' or 'p'
	name string
}

// OfWorker, OfAccount and OfPool name the subject of a hashrate read.
func OfWorker(name string) Subject  { return Subject{'w', name} }
func OfAccount(name string) Subject { return Subject{'a', name} }
func OfPool() Subject               { return Subject{'p', PoolField} }

// keyAt is the hash holding the subject's work in the bucket starting at
// unix second start.
func (s *Reader) keyAt(of Subject, start int64) string {
	if of.kind == 'w' {
		return s.k.hashrateWorkers(start)
	}
	return s.k.hashrateAccounts(start)
}

// Bucket is the width of the hashrate buckets this Reader reads.
func (s *Reader) Bucket() time.Duration { return s.bucket }

// bucketWork returns the subject's work in the n buckets up to and
// including the one that holds now, oldest first, and the start of the
// oldest.
func (s *Reader) bucketWork(ctx context.Context, of Subject, now time.Time, n int) ([]float64, time.Time, error) {
	starts := s.bucketStarts(now, n)
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, n)
	for i, start := range starts {
		cmds[i] = pipe.HGet(ctx, s.keyAt(of, start), of.name)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, time.Time{}, fmt.Errorf("redisstore: read hashrate buckets of %s: %w", of.name, err)
	}
	work := make([]float64, n)
	for i, c := range cmds {
		if v, err := c.Float64(); err == nil {
			work[i] = v
		}
	}
	return work, time.Unix(starts[0], 0), nil
}

// bucketStarts returns the starts (unix seconds) of the n buckets up to
// and including the one that holds now, oldest first.
func (s *Reader) bucketStarts(now time.Time, n int) []int64 {
	width := int64(s.bucket / time.Second)
	first := now.Unix()/width*width - int64(n-1)*width
	out := make([]int64, n)
	for i := range out {
		out[i] = first + int64(i)*width
	}
	return out
}

// buckets is how many buckets cover d, rounded up (at least one).
func (s *Reader) buckets(d time.Duration) int {
	return max(1, int((d+s.bucket-1)/s.bucket))
}

// rate is work·2^32 per second of span, 0 for an empty span.
func rate(work float64, span time.Duration) float64 {
	if span <= 0 {
		return 0
	}
	return work * (1 << 32) / span.Seconds()
}

// Rates returns the subject's hashrate in H/s over each of windows up to
// now: the work of the buckets that cover the window (rounded up to whole
// buckets, the current one included) over the time they cover until now.
// The buckets are read once, for the longest window.
func (s *Reader) Rates(ctx context.Context, of Subject, now time.Time, windows ...time.Duration) ([]float64, error) {
	longest := 0
	for _, w := range windows {
		if w <= 0 {
			return nil, fmt.Errorf("redisstore: hashrate window %v: %w", w, ErrInvalid)
		}
		longest = max(longest, s.buckets(w))
	}
	work, first, err := s.bucketWork(ctx, of, now, longest)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(windows))
	for i, w := range windows {
		k := s.buckets(w)
		var sum float64
		for _, v := range work[longest-k:] {
			sum += v
		}
		start := first.Add(time.Duration(longest-k) * s.bucket)
		out[i] = rate(sum, now.Sub(start))
	}
	return out, nil
}

// RatePoint is one point of a hashrate series: the rate over the step that
// starts at T.
type RatePoint struct {
	T        time.Time
	Hashrate float64
}

// Series returns the subject's hashrate over window in points of step,
// oldest first. Steps are aligned to the Unix epoch; the last point is the
// step that holds now, its rate over the part of it that has run. step must
// be a whole number of buckets and window a whole number of steps
// (ErrInvalid).
func (s *Reader) Series(ctx context.Context, of Subject, now time.Time, window, step time.Duration) ([]RatePoint, error) {
	if step < s.bucket || step%s.bucket != 0 || window < step || window%step != 0 {
		return nil, fmt.Errorf("redisstore: hashrate series of %v in steps of %v: %w (steps are whole buckets of %v, the window whole steps)",
			window, step, ErrInvalid, s.bucket)
	}
	points := int(window / step)
	per := int(step / s.bucket)
	stepSec := int64(step / time.Second)
	lastStep := time.Unix(now.Unix()/stepSec*stepSec, 0)
	firstStep := lastStep.Add(-time.Duration(points-1) * step)
	n := int(now.Sub(firstStep)/s.bucket) + 1
	work, first, err := s.bucketWork(ctx, of, now, n)
	if err != nil {
		return nil, err
	}
	// The oldest bucket read starts the first step.
	if !first.Equal(firstStep) {
		return nil, fmt.Errorf("redisstore: hashrate series: buckets start at %v, steps at %v", first, firstStep)
	}
	out := make([]RatePoint, points)
	for i := range out {
		var sum float64
		for _, v := range work[i*per : min(len(work), (i+1)*per)] {
			sum += v
		}
		t := firstStep.Add(time.Duration(i) * step)
		span := step
		if i == points-1 {
			span = now.Sub(t)
		}
		out[i] = RatePoint{T: t, Hashrate: rate(sum, span)}
	}
	return out, nil
}

// WorkerRates returns the hashrate in H/s of each named worker over d up
// to now, as Rates does, with one HMGET per bucket for all of them.
func (s *Reader) WorkerRates(ctx context.Context, names []string, now time.Time, d time.Duration) (map[string]float64, error) {
	out := make(map[string]float64, len(names))
	if len(names) == 0 {
		return out, nil
	}
	starts := s.bucketStarts(now, s.buckets(d))
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(starts))
	for i, start := range starts {
		cmds[i] = pipe.HMGet(ctx, s.k.hashrateWorkers(start), names...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redisstore: read workers' hashrate: %w", err)
	}
	sums := make([]float64, len(names))
	for _, c := range cmds {
		for j, v := range c.Val() {
			sums[j] += parseFloat(v)
		}
	}
	span := now.Sub(time.Unix(starts[0], 0))
	for j, name := range names {
		out[name] = rate(sums[j], span)
	}
	return out, nil
}

// PoolSummary is what the pool's front page counts, read in one round trip.
type PoolSummary struct {
	// AccountsOnline and WorkersOnline are the accounts and workers with
	// a share recorded since the time asked for.
	AccountsOnline, WorkersOnline int64
	// TotalShares and TotalWork count every share recorded by every node.
	TotalShares int64
	TotalWork   float64
}

// PoolSummary counts the accounts and workers with a share since since,
// and the share totals.
func (s *Reader) PoolSummary(ctx context.Context, since time.Time) (PoolSummary, error) {
	from := strconv.FormatInt(since.UnixMilli(), 10)
	pipe := s.rdb.Pipeline()
	accounts := pipe.ZCount(ctx, s.k.lastAccount(), from, "+inf")
	workers := pipe.ZCount(ctx, s.k.lastWorker(), from, "+inf")
	totals := pipe.HMGet(ctx, s.k.totals(), "shares", "work")
	if _, err := pipe.Exec(ctx); err != nil {
		return PoolSummary{}, fmt.Errorf("redisstore: read pool summary: %w", err)
	}
	t := totals.Val()
	return PoolSummary{AccountsOnline: accounts.Val(), WorkersOnline: workers.Val(),
		TotalShares: parseInt(t[0]), TotalWork: parseFloat(t[1])}, nil
}

// WorkerSeen is a worker and its last recorded share.
type WorkerSeen struct {
	Name string
	Last time.Time
}

// AccountWorkers returns up to limit workers of account with a share
// within HashrateRetention, by name (the worker named as the account
// itself first), with their last share times, and how many there are in
// all.
func (s *Reader) AccountWorkers(ctx context.Context, account string, limit int) ([]WorkerSeen, int64, error) {
	if account == "" || limit <= 0 {
		return nil, 0, nil
	}
	// Names starting with "account." sort from "account." up to
	// "account/" ('/' follows '.').
	lo, hi := "["+account+".", "("+account+"/"
	pipe := s.rdb.Pipeline()
	bare := pipe.ZScore(ctx, s.k.lastWorker(), account)
	total := pipe.ZLexCount(ctx, s.k.workerNames(), lo, hi)
	names := pipe.ZRangeByLex(ctx, s.k.workerNames(), &redis.ZRangeBy{Min: lo, Max: hi, Count: int64(limit)})
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, 0, fmt.Errorf("redisstore: read workers of %s: %w", account, err)
	}
	var out []WorkerSeen
	n := total.Val()
	if ms, err := bare.Result(); err == nil {
		out = append(out, WorkerSeen{Name: account, Last: time.UnixMilli(int64(ms))})
		n++
	}
	list := names.Val()
	if room := limit - len(out); len(list) > room {
		list = list[:room]
	}
	if len(list) == 0 {
		return out, n, nil
	}
	scores, err := s.rdb.ZMScore(ctx, s.k.lastWorker(), list...).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("redisstore: read last shares of %s's workers: %w", account, err)
	}
	for i, name := range list {
		w := WorkerSeen{Name: name}
		// A name whose last share was trimmed after the index was read
		// has no score (0).
		if scores[i] > 0 {
			w.Last = time.UnixMilli(int64(scores[i]))
		}
		out = append(out, w)
	}
	return out, n, nil
}
