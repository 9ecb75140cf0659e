package redisstore_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// hr is the hashrate of work difficulty-1 shares' worth over span.
func hr(work float64, span time.Duration) float64 { return work * (1 << 32) / span.Seconds() }

// near compares rates that went through a float sum in Lua.
func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

// TestPoolHashrate: every account bucket carries the pool's whole work of
// the bucket (PoolField), also for a batch across buckets; Rates and
// Series read the worker, the account and the pool from the buckets,
// counting the current bucket as far as it has run.
func TestPoolHashrate(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	// One batch holds every share (an hour's interval, flushed by hand):
	// it spans several buckets.
	// Workers' fine buckets of one minute, like the accounts'.
	s := newStore(t, r, redisstore.Options{BatchInterval: time.Hour, WorkerBucket: time.Minute})
	ctx := context.Background()
	now := time.Now()
	minute := now.Truncate(time.Minute)
	at := func(minutesAgo int) time.Time {
		return minute.Add(-time.Duration(minutesAgo) * time.Minute).Add(time.Second)
	}
	shares := []struct {
		account, rig string
		d            float64
		ago          int
	}{
		{"a", "1", 2, 0}, {"b", "1", 3, 0}, {"a", "2", 1, 3}, {"b", "1", 4, 12}, {"a", "1", 8, 90}, {"b", "2", 16, 9},
	}
	for i, x := range shares {
		rc := rec(uint64(i+1), x.account, x.rig, x.d)
		rc.Time = at(x.ago)
		if err := s.AddShare(rc); err != nil {
			t.Fatalf("AddShare: %v", err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	// A second batch in the current bucket only.
	x := rec(100, "a", "1", 0.5)
	x.Time = at(0)
	if err := s.AddShare(x); err != nil {
		t.Fatalf("AddShare: %v", err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	for ago, want := range map[int]float64{0: 5.5, 3: 1, 9: 16, 12: 4, 90: 8} {
		key := "tarbela:{acct}:hr:a:" + strconv.FormatInt(at(ago).Unix()/60*60, 10)
		got, err := c.HGet(ctx, key, redisstore.PoolField).Float64()
		if err != nil || got != want {
			t.Errorf("%s %s = %v (%v), want %v", key, redisstore.PoolField, got, err, want)
		}
	}

	covered := func(minutes int) time.Duration { return now.Sub(minute.Add(-time.Duration(minutes-1) * time.Minute)) }
	rates := []struct {
		name   string
		of     redisstore.Subject
		window time.Duration
		want   float64
	}{
		{"pool 10m", redisstore.OfPool(), 10 * time.Minute, hr(5.5+1+16, covered(10))},
		{"pool 1h", redisstore.OfPool(), time.Hour, hr(5.5+1+16+4, covered(60))},
		{"pool 24h", redisstore.OfPool(), 24 * time.Hour, hr(5.5+1+16+4+8, covered(1440))},
		{"account 10m", redisstore.OfAccount("b"), 10 * time.Minute, hr(3+16, covered(10))},
		{"worker 1m", redisstore.OfWorker("a.1"), time.Minute, hr(2.5, covered(1))},
		{"unknown worker", redisstore.OfWorker("nobody.1"), time.Hour, 0},
	}
	for _, tc := range rates {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Rates(ctx, tc.of, now, tc.window)
			if err != nil {
				t.Fatalf("Rates: %v", err)
			}
			if !near(got[0], tc.want) {
				t.Errorf("Rates = %v, want %v", got[0], tc.want)
			}
		})
	}
	if got, err := s.Rates(ctx, redisstore.OfPool(), now, 10*time.Minute, time.Hour); err != nil || len(got) != 2 ||
		!near(got[0], rates[0].want) || !near(got[1], rates[1].want) {
		t.Errorf("Rates of two windows = %v, %v", got, err)
	}

	// The pool in steps of 5 minutes over 15: the steps are aligned to the
	// epoch, the last one is the step holding now.
	step := 5 * time.Minute
	last := now.Truncate(step)
	series, err := s.Series(ctx, redisstore.OfPool(), now, 15*time.Minute, step)
	if err != nil {
		t.Fatalf("Series: %v", err)
	}
	work := map[time.Time]float64{}
	for ago, w := range map[int]float64{0: 5.5, 3: 1, 9: 16, 12: 4} {
		work[at(ago).Truncate(step)] += w
	}
	if len(series) != 3 {
		t.Fatalf("%d points, want 3", len(series))
	}
	for i, p := range series {
		wantT := last.Add(time.Duration(i-2) * step)
		span := step
		if i == 2 {
			span = now.Sub(last)
		}
		if !p.T.Equal(wantT) || !near(p.Hashrate, hr(work[wantT], span)) {
			t.Errorf("point %d = %v %v, want %v %v", i, p.T, p.Hashrate, wantT, hr(work[wantT], span))
		}
	}

	for _, bad := range []struct{ window, step time.Duration }{
		{time.Hour, 30 * time.Second}, {time.Hour, 90 * time.Second}, {time.Hour, 7 * time.Minute}, {time.Minute, time.Hour},
	} {
		if _, err := s.Series(ctx, redisstore.OfPool(), now, bad.window, bad.step); !errors.Is(err, redisstore.ErrInvalid) {
			t.Errorf("Series(%v, %v) = %v, want ErrInvalid", bad.window, bad.step, err)
		}
	}

	rs, err := s.WorkerRates(ctx, []string{"a.1", "b.2", "nobody.1"}, now, 10*time.Minute)
	if err != nil {
		t.Fatalf("WorkerRates: %v", err)
	}
	if !near(rs["a.1"], hr(2.5, covered(10))) || !near(rs["b.2"], hr(16, covered(10))) || rs["nobody.1"] != 0 {
		t.Errorf("WorkerRates = %v", rs)
	}
}

// TestAccountWorkers: an account's workers come from the name index by
// name, the worker named as the account first, without other accounts
// whose names share a prefix; a worker whose last share is older than the
// retention leaves the index; PoolSummary counts who shared since a time.
func TestAccountWorkers(t *testing.T) {
	r := startRedis(t)
	s := newStore(t, r, redisstore.Options{HashrateRetention: time.Hour})
	ctx := context.Background()
	now := time.Now()
	for i, x := range []struct {
		worker, account string
		ago             time.Duration
	}{
		{"acct.r2", "acct", time.Minute}, {"acct", "acct", 0}, {"acct.r1", "acct", 30 * time.Minute},
		{"acctb.r1", "acctb", 0}, {"acc.r1", "acc", 0}, {"acct.gone", "acct", 2 * time.Hour},
	} {
		rc := rec(uint64(i+1), x.account, "", 1)
		rc.Worker, rc.Time = x.worker, now.Add(-x.ago)
		if err := s.AddShareWait(ctx, rc); err != nil {
			t.Fatalf("AddShareWait: %v", err)
		}
	}
	tests := []struct {
		limit int
		want  []string
	}{
		{10, []string{"acct", "acct.r1", "acct.r2"}},
		{2, []string{"acct", "acct.r1"}},
	}
	for _, tc := range tests {
		ws, total, err := s.AccountWorkers(ctx, "acct", tc.limit)
		if err != nil {
			t.Fatalf("AccountWorkers: %v", err)
		}
		var names []string
		for _, w := range ws {
			names = append(names, w.Name)
			if w.Last.IsZero() || w.Last.After(now.Add(time.Second)) {
				t.Errorf("%s last share %v", w.Name, w.Last)
			}
		}
		if total != 3 || !slices.Equal(names, tc.want) {
			t.Errorf("AccountWorkers(limit %d) = %v of %d, want %v of 3", tc.limit, names, total, tc.want)
		}
	}
	if ws, _, _ := s.AccountWorkers(ctx, "acct", 10); ws[2].Last.UnixMilli() != now.Add(-time.Minute).UnixMilli() {
		t.Errorf("acct.r2 last share %v, want %v", ws[2].Last, now.Add(-time.Minute))
	}
	if ws, total, err := s.AccountWorkers(ctx, "nobody", 10); err != nil || len(ws) != 0 || total != 0 {
		t.Errorf("AccountWorkers of an unknown account = %v, %d, %v", ws, total, err)
	}
	sum, err := s.PoolSummary(ctx, now.Add(-10*time.Minute))
	if err != nil {
		t.Fatalf("PoolSummary: %v", err)
	}
	// acct.r1 (30 min ago) is not online; acct.gone is past the retention.
	want := redisstore.PoolSummary{AccountsOnline: 3, WorkersOnline: 4, TotalShares: 6, TotalWork: 6}
	if sum != want {
		t.Errorf("PoolSummary = %+v, want %+v", sum, want)
	}
}

// TestNodeStats: each node's figures are read back until they expire (by
// the index's score, and the key's own TTL), and a node that deletes its
// figures is gone at once.
func TestNodeStats(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	rd := redisstore.NewReader(c, "nodes", 0)
	ctx := context.Background()
	now := time.UnixMilli(time.Now().UnixMilli())
	const ttl = time.Minute
	one := redisstore.NodeStats{Node: 1, Accepted: 10, Rejected: 3, RejectedBy: map[string]uint64{"duplicate": 1, "low-difficulty": 2},
		Connections: 5, Updated: now}
	two := redisstore.NodeStats{Node: 2, Accepted: 7, RejectedBy: map[string]uint64{}, Updated: now.Add(-30 * time.Second)}
	for _, st := range []redisstore.NodeStats{two, one} {
		if err := rd.SetNodeStats(ctx, st, ttl); err != nil {
			t.Fatalf("SetNodeStats: %v", err)
		}
	}
	got, err := rd.NodeStats(ctx, now)
	if err != nil {
		t.Fatalf("NodeStats: %v", err)
	}
	if len(got) != 2 || !sameNode(got[0], one) || !sameNode(got[1], two) {
		t.Fatalf("NodeStats = %+v", got)
	}
	if pttl, err := c.PTTL(ctx, "nodes:{acct}:node:1:stats").Result(); err != nil || pttl <= 0 || pttl > ttl {
		t.Errorf("node 1's figures have TTL %v (%v), want (0, %v]", pttl, err, ttl)
	}
	// Node 2 wrote 30 s earlier: its figures expire first.
	if got, _ := rd.NodeStats(ctx, now.Add(45*time.Second)); len(got) != 1 || got[0].Node != 1 {
		t.Errorf("NodeStats 45 s later = %+v, want node 1 only", got)
	}
	if err := rd.DeleteNodeStats(ctx, 1); err != nil {
		t.Fatalf("DeleteNodeStats: %v", err)
	}
	if got, _ := rd.NodeStats(ctx, now); len(got) != 1 || got[0].Node != 2 {
		t.Errorf("NodeStats after node 1 left = %+v, want node 2 only", got)
	}
}

func sameNode(a, b redisstore.NodeStats) bool {
	if a.Node != b.Node || a.Accepted != b.Accepted || a.Rejected != b.Rejected || a.Connections != b.Connections ||
		!a.Updated.Equal(b.Updated) || len(a.RejectedBy) != len(b.RejectedBy) {
		return false
	}
	for k, v := range b.RejectedBy {
		if a.RejectedBy[k] != v {
			return false
		}
	}
	return true
}
