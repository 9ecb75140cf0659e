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
// (aligned to the Unix epoch) in tiers (Tiers): per account in hr:a and
// the pool's in hr:a's PoolField (HashrateBucket wide), per worker in hr:w
// (WorkerBucket, the last WorkerRetention) and hr:wc (WorkerCoarseBucket,
// the last WorkerCoarseRetention). A rate is work·2^32
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

// tierFor is the tier a read of the subject over window uses: the
// accounts' tier for an account or the pool; for a worker its fine tier
// when the window lies within its retention, else its coarse tier.
func (s *Reader) tierFor(of Subject, window time.Duration) tier {
	l := s.tiers.levels()
	switch {
	case of.kind != 'w':
		return l[tierAccounts]
	case window <= s.tiers.WorkerRetention:
		return l[tierWorkers]
	default:
		return l[tierWorkersCoarse]
	}
}

// Bucket is the width of the accounts' and the pool's hashrate buckets.
func (s *Reader) Bucket() time.Duration { return s.tiers.Bucket }

// Tiers is the hashrate layout this Reader reads.
func (s *Reader) Tiers() Tiers { return s.tiers }

// bucketWork returns the subject's work in the n buckets of tier l up to
// and including the one that holds now, oldest first, and the start of
// the oldest.
func (s *Reader) bucketWork(ctx context.Context, of Subject, l tier, now time.Time, n int) ([]float64, time.Time, error) {
	starts := bucketStarts(l, now, n)
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, n)
	field := of.name
	if l.workers {
		field = WorkerField(of.name)
	}
	for i, start := range starts {
		cmds[i] = pipe.HGet(ctx, l.key(s.k, start), field)
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

// bucketStarts returns the starts (unix seconds) of the n buckets of tier
// l up to and including the one that holds now, oldest first.
func bucketStarts(l tier, now time.Time, n int) []int64 {
	width := int64(l.width / time.Second)
	first := periodStart(now.Unix(), width) - int64(n-1)*width
	out := make([]int64, n)
	for i := range out {
		out[i] = first + int64(i)*width
	}
	return out
}

// bucketsOver is how many buckets of tier l cover d, rounded up (at least
// one).
func bucketsOver(l tier, d time.Duration) int {
	return max(1, int((d+l.width-1)/l.width))
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
// A worker's windows up to WorkerRetention read its fine tier, longer ones
// its coarse tier (so its 24 h rate is over whole hours). The buckets of a
// tier are read once, for its longest window.
func (s *Reader) Rates(ctx context.Context, of Subject, now time.Time, windows ...time.Duration) ([]float64, error) {
	longest := map[time.Duration]int{}
	levels := make([]tier, len(windows))
	for i, w := range windows {
		if w <= 0 {
			return nil, fmt.Errorf("redisstore: hashrate window %v: %w", w, ErrInvalid)
		}
		levels[i] = s.tierFor(of, w)
		longest[levels[i].width] = max(longest[levels[i].width], bucketsOver(levels[i], w))
	}
	type read struct {
		work  []float64
		first time.Time
	}
	reads := map[time.Duration]read{}
	out := make([]float64, len(windows))
	for i, w := range windows {
		l := levels[i]
		n := longest[l.width]
		r, ok := reads[l.width]
		if !ok {
			work, first, err := s.bucketWork(ctx, of, l, now, n)
			if err != nil {
				return nil, err
			}
			r = read{work, first}
			reads[l.width] = r
		}
		k := bucketsOver(l, w)
		var sum float64
		for _, v := range r.work[n-k:] {
			sum += v
		}
		start := r.first.Add(time.Duration(n-k) * l.width)
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

// SeriesStep returns the window and step a Series of the subject can
// have that are nearest to those asked: the step rounded up to whole
// buckets of the tier that holds the window (a worker's fine tier for a
// window within WorkerRetention, its coarse tier beyond), the window
// rounded up to whole steps. A caller that shows a series asks this first
// and reports the step it got (a worker's 24 h chart is in hours).
func (s *Reader) SeriesStep(of Subject, window, step time.Duration) (time.Duration, time.Duration) {
	step = max(step, time.Second)
	window = max(window, step)
	for {
		l := s.tierFor(of, window)
		st := (step + l.width - 1) / l.width * l.width
		w := (window + st - 1) / st * st
		if s.tierFor(of, w).width == l.width {
			return w, st
		}
		// Rounding took the window past the fine tier: use the coarse one.
		window = w
	}
}

// Series returns the subject's hashrate over window in points of step,
// oldest first. Steps are aligned to the Unix epoch; the last point is the
// step that holds now, its rate over the part of it that has run. The
// buckets read are the subject's tier for the window (see SeriesStep):
// step must be a whole number of that tier's buckets and window a whole
// number of steps (ErrInvalid); SeriesStep gives the nearest that are.
func (s *Reader) Series(ctx context.Context, of Subject, now time.Time, window, step time.Duration) ([]RatePoint, error) {
	l := s.tierFor(of, window)
	if step < l.width || step%l.width != 0 || window < step || window%step != 0 {
		return nil, fmt.Errorf("redisstore: hashrate series of %v in steps of %v: %w (steps are whole buckets of %v, the window whole steps)",
			window, step, ErrInvalid, l.width)
	}
	points := int(window / step)
	per := int(step / l.width)
	stepSec := int64(step / time.Second)
	lastStep := time.Unix(periodStart(now.Unix(), stepSec), 0)
	firstStep := lastStep.Add(-time.Duration(points-1) * step)
	n := int(now.Sub(firstStep)/l.width) + 1
	work, first, err := s.bucketWork(ctx, of, l, now, n)
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
// to now, as Rates does (from the workers' fine tier when d is within
// WorkerRetention, else the coarse one), with one HMGET per bucket for all
// of them.
func (s *Reader) WorkerRates(ctx context.Context, names []string, now time.Time, d time.Duration) (map[string]float64, error) {
	out := make(map[string]float64, len(names))
	if len(names) == 0 {
		return out, nil
	}
	l := s.tierFor(OfWorker(""), d)
	starts := bucketStarts(l, now, bucketsOver(l, d))
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(starts))
	fields := make([]string, len(names))
	for i, name := range names {
		fields[i] = WorkerField(name)
	}
	for i, start := range starts {
		cmds[i] = pipe.HMGet(ctx, l.key(s.k, start), fields...)
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
