package redisstore_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// bucketStarts lists the starts (minutes after t0) of the buckets of one
// kind (hr:w, hr:wc, hr:a) under prefix, sorted.
func bucketStarts(t *testing.T, c *redis.Client, prefix, kind string, t0 time.Time) []int {
	t.Helper()
	ks, err := c.Keys(context.Background(), prefix+":{acct}:hr:"+kind+":*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	var out []int
	for _, k := range ks {
		sec, err := strconv.ParseInt(k[strings.LastIndexByte(k, ':')+1:], 10, 64)
		if err != nil {
			t.Fatalf("bucket key %s: %v", k, err)
		}
		out = append(out, int(time.Unix(sec, 0).Sub(t0)/time.Minute))
	}
	slices.Sort(out)
	return out
}

func minutes(from, to, step int) []int {
	var out []int
	for m := from; m <= to; m += step {
		out = append(out, m)
	}
	return out
}

// TestTiers plays an hour of simulated time, one share a minute from one
// worker, in tiers small enough to turn over several times: accounts in
// 1-minute buckets for 10 minutes, workers in 1-minute buckets for 5 and
// 5-minute ones for 30. The buckets kept are exactly those whose end plus
// their tier's retention lies after the newest share (expiry by the shares'
// clock, not Redis's); a worker's rates and series read the fine tier
// within its retention and the coarse one beyond; last-share times expire
// by the same clock; a batch replayed from the past neither turns the
// clock back nor leaves its expired buckets behind.
func TestTiers(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	o := redisstore.Options{Prefix: "tiers", HashrateBucket: time.Minute, HashrateRetention: 10 * time.Minute,
		WorkerBucket: time.Minute, WorkerRetention: 5 * time.Minute,
		WorkerCoarseBucket: 5 * time.Minute, WorkerCoarseRetention: 30 * time.Minute}
	s := newStore(t, r, o)
	ctx := context.Background()
	// A simulated hour far from the wall clock.
	t0 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m)*time.Minute + time.Second) }
	gone := rec(1, "b", "1", 1)
	gone.Time = at(0)
	if err := s.AddShareWait(ctx, gone); err != nil {
		t.Fatalf("AddShareWait: %v", err)
	}
	for m := range 60 {
		x := rec(uint64(m+2), "a", "1", 1)
		x.Time = at(m)
		if err := s.AddShareWait(ctx, x); err != nil {
			t.Fatalf("AddShareWait: %v", err)
		}
		// The clock is at minute m: fine buckets from m-5 (end + 5 min
		// after it), coarse ones whose end + 30 min lies after it,
		// accounts' from m-10.
		fine := minutes(max(0, m-5), m, 1)
		coarse := minutes(max(0, (m-34+4)/5*5), m/5*5, 5)
		acct := minutes(max(0, m-10), m, 1)
		for _, tc := range []struct {
			kind string
			want []int
		}{{"w", fine}, {"wc", coarse}, {"a", acct}} {
			if got := bucketStarts(t, c, "tiers", tc.kind, t0); !slices.Equal(got, tc.want) {
				t.Fatalf("minute %d: hr:%s buckets at minutes %v, want %v", m, tc.kind, got, tc.want)
			}
		}
	}
	now := at(59)
	// b.1's only share (minute 0) is older than HashrateRetention on the
	// shares' clock: it left last:w and names:w.
	if last, err := s.LastShare(ctx, "b.1", false); err != nil || !last.IsZero() {
		t.Errorf("LastShare of b.1 = %v, %v; want none (expired by the shares' clock)", last, err)
	}
	if ws, n, err := s.AccountWorkers(ctx, "b", 10); err != nil || n != 0 || len(ws) != 0 {
		t.Errorf("AccountWorkers(b) = %v, %d, %v; want none", ws, n, err)
	}
	if ws, n, err := s.AccountWorkers(ctx, "a", 10); err != nil || n != 1 || len(ws) != 1 || !ws[0].Last.Equal(now) {
		t.Errorf("AccountWorkers(a) = %v, %d, %v; want a.1 at %v", ws, n, err, now)
	}

	since := func(m int) time.Duration { return now.Sub(t0.Add(time.Duration(m) * time.Minute)) }
	w := redisstore.OfWorker("a.1")
	for _, tc := range []struct {
		name   string
		of     redisstore.Subject
		window time.Duration
		want   float64
	}{
		// Fine tier: minutes 55..59.
		{"worker 5m", w, 5 * time.Minute, hr(5, since(55))},
		// Coarse tier: buckets 30..55, minutes 30..59.
		{"worker 30m", w, 30 * time.Minute, hr(30, since(30))},
		// Coarse tier over an hour (buckets 0..55): only 25..55 are kept.
		{"worker 1h", w, time.Hour, hr(35, since(0))},
		// Accounts: minute buckets 50..59.
		{"account 10m", redisstore.OfAccount("a"), 10 * time.Minute, hr(10, since(50))},
		{"pool 10m", redisstore.OfPool(), 10 * time.Minute, hr(10, since(50))},
	} {
		got, err := s.Rates(ctx, tc.of, now, tc.window)
		if err != nil {
			t.Fatalf("%s: Rates: %v", tc.name, err)
		}
		if !near(got[0], tc.want) {
			t.Errorf("%s: Rates = %v, want %v", tc.name, got[0], tc.want)
		}
	}
	if got, err := s.Rates(ctx, w, now, 5*time.Minute, 30*time.Minute); err != nil || !near(got[0], hr(5, since(55))) ||
		!near(got[1], hr(30, since(30))) {
		t.Errorf("Rates of both tiers at once = %v, %v", got, err)
	}
	for _, d := range []time.Duration{5 * time.Minute, 30 * time.Minute} {
		one, _ := s.Rates(ctx, w, now, d)
		many, err := s.WorkerRates(ctx, []string{"a.1", "b.1"}, now, d)
		if err != nil || !near(many["a.1"], one[0]) || many["b.1"] != 0 {
			t.Errorf("WorkerRates over %v = %v, %v; want a.1 %v, b.1 0", d, many, err, one[0])
		}
	}

	// Series: within the fine tier's retention in minutes, beyond it in
	// the coarse tier's 5 minutes.
	for _, tc := range []struct {
		window, step time.Duration
		work         []float64
	}{
		{5 * time.Minute, time.Minute, []float64{1, 1, 1, 1, 1}},
		{30 * time.Minute, 5 * time.Minute, []float64{5, 5, 5, 5, 5, 5}},
		{time.Hour, 10 * time.Minute, []float64{0, 0, 5, 10, 10, 10}},
	} {
		ps, err := s.Series(ctx, w, now, tc.window, tc.step)
		if err != nil {
			t.Fatalf("Series(%v, %v): %v", tc.window, tc.step, err)
		}
		if len(ps) != len(tc.work) {
			t.Fatalf("Series(%v, %v): %d points, want %d", tc.window, tc.step, len(ps), len(tc.work))
		}
		for i, p := range ps {
			span := tc.step
			if i == len(ps)-1 {
				span = now.Sub(p.T)
			}
			if !near(p.Hashrate, hr(tc.work[i], span)) {
				t.Errorf("Series(%v, %v) point %d at %v = %v, want %v", tc.window, tc.step, i, p.T, p.Hashrate, hr(tc.work[i], span))
			}
		}
	}
	// A step the tier cannot give is refused; SeriesStep gives the nearest
	// one it can, and Series takes it.
	if _, err := s.Series(ctx, w, now, 30*time.Minute, time.Minute); !errors.Is(err, redisstore.ErrInvalid) {
		t.Errorf("Series of 30m in 1m steps (coarse tier) = %v, want ErrInvalid", err)
	}
	for _, tc := range []struct {
		of                   redisstore.Subject
		window, step         time.Duration
		wantWindow, wantStep time.Duration
	}{
		{w, 30 * time.Minute, time.Minute, 30 * time.Minute, 5 * time.Minute},
		{w, 30 * time.Minute, 7 * time.Minute, 30 * time.Minute, 10 * time.Minute},
		{w, 4 * time.Minute, 90 * time.Second, 4 * time.Minute, 2 * time.Minute},
		// 5m in steps of 3m rounds to 6m, beyond the fine tier.
		{w, 5 * time.Minute, 3 * time.Minute, 10 * time.Minute, 5 * time.Minute},
		{redisstore.OfPool(), 30 * time.Minute, 90 * time.Second, 30 * time.Minute, 2 * time.Minute},
	} {
		gw, gs := s.SeriesStep(tc.of, tc.window, tc.step)
		if gw != tc.wantWindow || gs != tc.wantStep {
			t.Errorf("SeriesStep(%v, %v) = %v, %v; want %v, %v", tc.window, tc.step, gw, gs, tc.wantWindow, tc.wantStep)
		}
		if _, err := s.Series(ctx, tc.of, now, gw, gs); err != nil {
			t.Errorf("Series(%v, %v) from SeriesStep: %v", gw, gs, err)
		}
	}

	// A batch from the past (a journal replayed late): its buckets are
	// expired on arrival, and the clock stays.
	old := rec(100, "a", "1", 1)
	old.Time = at(2)
	if err := s.AddShareWait(ctx, old); err != nil {
		t.Fatalf("AddShareWait: %v", err)
	}
	for _, kind := range []string{"w", "wc", "a"} {
		if got := bucketStarts(t, c, "tiers", kind, t0); slices.Contains(got, 2) || slices.Contains(got, 0) {
			t.Errorf("hr:%s buckets %v after a replayed batch of minute 2; want its buckets expired", kind, got)
		}
	}
	if ms, err := c.Get(ctx, "tiers:{acct}:clock").Int64(); err != nil || ms != now.UnixMilli() {
		t.Errorf("clock = %d (%v), want %d", ms, err, now.UnixMilli())
	}
	// The TTL is only the safety net for a pool that stops: retention plus
	// two widths in Redis's clock.
	key := "tiers:{acct}:hr:wc:" + strconv.FormatInt(t0.Add(55*time.Minute).Unix(), 10)
	if ttl, err := c.TTL(ctx, key).Result(); err != nil || ttl <= 30*time.Minute || ttl > 40*time.Minute {
		t.Errorf("TTL of %s = %v (%v), want (30m, 40m]", key, ttl, err)
	}
}

// TestTiersOptions: every bad tier names its field and the fix.
func TestTiersOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    redisstore.Options
		want string
	}{
		{"fine width not whole seconds", redisstore.Options{WorkerBucket: 1500 * time.Millisecond}, "WorkerBucket: 1.5s is not a whole number of seconds"},
		{"negative coarse retention", redisstore.Options{WorkerCoarseRetention: -time.Hour}, "WorkerCoarseRetention: -1h0m0s is negative"},
		{"retention below width", redisstore.Options{WorkerBucket: 10 * time.Minute, WorkerRetention: 5 * time.Minute},
			"WorkerRetention: 5m0s is shorter than WorkerBucket 10m0s"},
		{"coarse finer than fine", redisstore.Options{WorkerBucket: 10 * time.Minute, WorkerCoarseBucket: 5 * time.Minute},
			"WorkerCoarseBucket: 5m0s is finer than WorkerBucket 10m0s"},
		{"coarse shorter than fine", redisstore.Options{WorkerRetention: 2 * time.Hour, WorkerCoarseRetention: time.Hour},
			"WorkerCoarseRetention: 1h0m0s is shorter than WorkerRetention 2h0m0s"},
		{"accounts' retention below width", redisstore.Options{HashrateBucket: time.Hour, HashrateRetention: time.Minute},
			"HashrateRetention: 1m0s is shorter than HashrateBucket 1h0m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Addr = "127.0.0.1:1"
			_, err := redisstore.New(tc.o)
			var oe *redisstore.OptionsError
			if !errors.As(err, &oe) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an OptionsError with %q", err, tc.want)
			}
		})
	}
	if _, err := redisstore.New(redisstore.Options{Addr: "127.0.0.1:1"}); err != nil {
		t.Errorf("New with the default tiers: %v", err)
	}
}

// TestClockAhead: a share stamped a year ahead (a node with a wrong clock)
// is recorded, but moves the batches' clock at most MaxClockAhead past the
// Redis server's time, so the history of the others stays; its own bucket
// lives until its TTL.
func TestClockAhead(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	s := newStore(t, r, redisstore.Options{Prefix: "ahead"})
	ctx := context.Background()
	before := time.Now()
	x := rec(1, "a", "1", 1)
	x.Time = before
	if err := s.AddShareWait(ctx, x); err != nil {
		t.Fatalf("AddShareWait: %v", err)
	}
	late := rec(2, "b", "1", 1)
	late.Time = before.Add(365 * 24 * time.Hour)
	if err := s.AddShareWait(ctx, late); err != nil {
		t.Fatalf("AddShareWait: %v", err)
	}
	after := time.Now()
	clock, err := c.Get(ctx, "ahead:{acct}:clock").Int64()
	if err != nil {
		t.Fatalf("GET clock: %v", err)
	}
	// Redis's TIME lies between before and after (one machine's clock).
	if clock < before.UnixMilli() || clock > after.Add(redisstore.MaxClockAhead).UnixMilli() {
		t.Errorf("clock %v after a share a year ahead; want within [%v, %v]", time.UnixMilli(clock), before,
			after.Add(redisstore.MaxClockAhead))
	}
	got, err := s.Rates(ctx, redisstore.OfWorker("a.1"), time.Now(), time.Hour)
	if err != nil || !(got[0] > 0) {
		t.Errorf("a.1's hourly rate after a share a year ahead = %v, %v; want its history kept", got, err)
	}
	if last, err := s.LastShare(ctx, "a.1", false); err != nil || last.IsZero() {
		t.Errorf("a.1's last share = %v, %v; want kept", last, err)
	}
	key := "ahead:{acct}:hr:w:" + strconv.FormatInt(late.Time.Unix()/300*300, 10)
	if ttl, err := c.TTL(ctx, key).Result(); err != nil || ttl <= 0 || ttl > time.Hour+10*time.Minute {
		t.Errorf("TTL of the late share's bucket %s = %v (%v), want (0, 1h10m]", key, ttl, err)
	}
}

// TestDropFrozenWorkers: with DropFrozenWorkers a block freezes its round
// per account (what payout reads) and unlinks the work per worker, which the
// default keeps until the block is credited.
func TestDropFrozenWorkers(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	ctx := context.Background()
	for _, drop := range []bool{false, true} {
		prefix := "keep"
		if drop {
			prefix = "drop"
		}
		s := newStore(t, r, redisstore.Options{Prefix: prefix, DropFrozenWorkers: drop})
		for i := range 10 {
			if err := s.AddShare(rec(uint64(i+1), "acct", "rig"+strconv.Itoa(i%3), 2)); err != nil {
				t.Fatalf("AddShare: %v", err)
			}
		}
		if err := s.AddBlockWait(ctx, &share.BlockRecord{Height: 1, Hash: "0b1", Worker: "acct.rig0", Account: "acct",
			Status: share.BlockAccepted}); err != nil {
			t.Fatalf("AddBlockWait: %v", err)
		}
		workers, accounts, err := s.RoundWork(ctx, "0b1")
		if err != nil {
			t.Fatalf("RoundWork: %v", err)
		}
		wantWorkers := 3
		if drop {
			wantWorkers = 0
		}
		if len(workers) != wantWorkers || accounts["acct"] != 20 {
			t.Errorf("drop %v: frozen round holds workers %v, accounts %v; want %d workers, acct 20", drop, workers, accounts, wantWorkers)
		}
		if n := c.Exists(ctx, prefix+":{acct}:round:current:w").Val(); n != 0 {
			t.Errorf("drop %v: round:current:w outlived the freeze", drop)
		}
	}
}
