package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
	"github.com/tarbela-pool/tarbela/share/redisstore/storetest"
)

// startRedis starts a real redis-server for t and stops it at cleanup.
func startRedis(t testing.TB) *localnet.Redis {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := localnet.StartRedis(ctx, localnet.RedisOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(r.Stop)
	return r
}

// client is a Redis client for checking what the store wrote, independent
// of the store's own connection.
func client(t testing.TB, r *localnet.Redis) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.Password})
	t.Cleanup(func() { c.Close() })
	return c
}

// newStore starts a store on r with o (Addr and a nop-safe default filled
// in) and closes it at cleanup.
func newStore(t testing.TB, r *localnet.Redis, o redisstore.Options) *redisstore.Store {
	t.Helper()
	o.Addr = r.Addr
	s, err := redisstore.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s
}

// adapter runs the conformance suite on a Store, reading through a client
// of its own so that reads work after Stop.
type adapter struct {
	*redisstore.Store
	r *redisstore.Reader
}

func (a adapter) Totals(ctx context.Context) (int64, float64, error) {
	st, err := a.r.Stats(ctx)
	return st.TotalShares, st.TotalWork, err
}

func (a adapter) RoundWork(ctx context.Context, round string) (map[string]float64, map[string]float64, error) {
	return a.r.RoundWork(ctx, round)
}

func (a adapter) BlockRound(ctx context.Context, hash string) (string, share.BlockStatus, error) {
	bs, err := a.r.Blocks(ctx, 100)
	if err != nil {
		return "", "", err
	}
	for _, b := range bs {
		if b.Hash == hash {
			return b.Round, b.Status, nil
		}
	}
	return "", "", fmt.Errorf("block %s not found", hash)
}

func (a adapter) PPLNSSlices(ctx context.Context) ([]storetest.Slice, error) {
	sl, _, err := a.r.PPLNSSlices(ctx)
	out := make([]storetest.Slice, len(sl))
	for i, x := range sl {
		out[i] = storetest.Slice{Start: x.Start, Work: x.Work, Accounts: x.Accounts}
	}
	return out, err
}

func (a adapter) PPLNSWindow(ctx context.Context, hash string) (map[string]float64, error) {
	return a.r.PPLNSWindow(ctx, hash)
}

func TestConformance(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) storetest.Store {
		// A fresh prefix per case gives each case an empty namespace on
		// the one server.
		prefix := "conf" + strconv.FormatInt(n.Add(1), 10)
		s := newStore(t, r, redisstore.Options{Prefix: prefix, JournalPath: t.TempDir() + "/journal"})
		return adapter{Store: s, r: redisstore.NewReader(c, prefix, 0)}
	})
}

// rec is a share for worker "<account>.<rig>" at difficulty d.
func rec(seq uint64, account, rig string, d float64) share.Record {
	return share.Record{Node: 1, Seq: seq, Worker: account + "." + rig, Account: account,
		Difficulty: d, ShareDifficulty: d, Time: time.Now(), Height: 200, JobID: "1"}
}

func stats(t testing.TB, c *redis.Client, prefix string) redisstore.Stats {
	t.Helper()
	st, err := redisstore.NewReader(c, prefix, 0).Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}

// waitFor polls cond until it holds or 20 s pass (a bound on correctness,
// not on speed: the conditions hold within milliseconds when things work).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func batches(t testing.TB, c *redis.Client) int64 {
	t.Helper()
	n, err := c.HGet(context.Background(), "tarbela:{acct}:totals", "batches").Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		t.Fatalf("read batches: %v", err)
	}
	return n
}

func TestBatching(t *testing.T) {
	tests := []struct {
		name     string
		size     int
		interval time.Duration
		shares   int
		// wantShares and wantBatches are what Redis holds before Flush.
		wantShares, wantBatches int64
	}{
		// An hour-long interval leaves only the count to seal batches.
		{name: "by count", size: 10, interval: time.Hour, shares: 25, wantShares: 20, wantBatches: 2},
		// A batch far from full is sealed by its age.
		{name: "by time", size: 1000, interval: 20 * time.Millisecond, shares: 3, wantShares: 3, wantBatches: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := startRedis(t)
			c := client(t, r)
			s := newStore(t, r, redisstore.Options{BatchSize: tc.size, BatchInterval: tc.interval})
			start := time.Now()
			for i := range tc.shares {
				if err := s.AddShare(rec(uint64(i+1), "a", "r", 1)); err != nil {
					t.Fatalf("AddShare: %v", err)
				}
			}
			added := time.Since(start)
			waitFor(t, "batches in redis", func() bool { return stats(t, c, "tarbela").TotalShares >= tc.wantShares })
			// Nothing else is sealed on its own: the rest waits for its
			// batch to fill or age.
			time.Sleep(50 * time.Millisecond)
			if got := stats(t, c, "tarbela").TotalShares; got != tc.wantShares {
				t.Errorf("shares in redis = %d, want %d", got, tc.wantShares)
			}
			// A batch's age runs from its first share, so shares all
			// added within the interval share a batch. A test stalled
			// for longer between two of them (a busy machine) lets the
			// age seal more, at most one per share.
			got := batches(t, c)
			if added < tc.interval && got != tc.wantBatches {
				t.Errorf("batches = %d, want %d", got, tc.wantBatches)
			}
			if added >= tc.interval && (got < tc.wantBatches || got > int64(tc.shares)) {
				t.Errorf("batches = %d for %d shares added over %v, want %d to %d", got, tc.shares, added, tc.wantBatches, tc.shares)
			}
			if err := s.Flush(context.Background()); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if got := stats(t, c, "tarbela").TotalShares; got != int64(tc.shares) {
				t.Errorf("after Flush: shares = %d, want %d", got, tc.shares)
			}
			if got := s.SharesRecorded(); got != uint64(tc.shares) {
				t.Errorf("SharesRecorded = %d, want %d", got, tc.shares)
			}
		})
	}
}

func TestCloseFlushes(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	s := newStore(t, r, redisstore.Options{BatchSize: 100, BatchInterval: time.Hour})
	const n = 250
	for i := range n {
		if err := s.AddShare(rec(uint64(i+1), "a", "r", 2)); err != nil {
			t.Fatalf("AddShare: %v", err)
		}
	}
	if err := s.AddBlock(&share.BlockRecord{Height: 5, Hash: "00ff", Worker: "a.r", Account: "a", Status: share.BlockAccepted}); err != nil {
		t.Fatalf("AddBlock: %v", err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	st := stats(t, c, "tarbela")
	if st.TotalShares != n || st.TotalWork != 2*n || st.Blocks != 1 {
		t.Errorf("after Stop: %d shares, %v work, %d blocks; want %d, %d, 1", st.TotalShares, st.TotalWork, st.Blocks, n, 2*n)
	}
	if err := s.AddShare(rec(n+1, "a", "r", 1)); !errors.Is(err, redisstore.ErrClosed) {
		t.Errorf("AddShare after Stop = %v, want ErrClosed", err)
	}
}

// observer counts the store's events.
type observer struct {
	recorded, journaled, refused, redisErrors atomic.Int64
}

func (o *observer) Recorded(n int, _ time.Duration) { o.recorded.Add(int64(n)) }
func (o *observer) RedisError(error)                { o.redisErrors.Add(1) }
func (o *observer) Journaled(n int)                 { o.journaled.Add(int64(n)) }
func (o *observer) Refused(error)                   { o.refused.Add(1) }

// TestBackpressure defines what happens when Redis stalls and no journal is
// configured: shares queue in memory up to QueueSize, then AddShare returns
// ErrBacklog at once (never blocking), and everything queued lands once
// Redis answers again.
func TestBackpressure(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	obs := &observer{}
	s := newStore(t, r, redisstore.Options{BatchSize: 8, QueueSize: 64, BatchInterval: 5 * time.Millisecond,
		Timeout: 200 * time.Millisecond, RetryInterval: 20 * time.Millisecond, Observer: obs})
	if err := r.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	thawed := false
	defer func() {
		if !thawed {
			_ = r.Thaw()
		}
	}()
	// Redis stays frozen until the 1,000 calls have returned, so a call
	// that waited on Redis would never return: the deadline is only there
	// to turn that hang into a failure, and is not a speed figure.
	accepted, backlog := 0, 0
	var addErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			err := s.AddShare(rec(uint64(i+1), "a", "r", 1))
			switch {
			case err == nil:
				accepted++
			case errors.Is(err, redisstore.ErrBacklog):
				backlog++
			default:
				addErr = err
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("AddShare blocked while redis was frozen (%d calls returned)", accepted+backlog)
	}
	if addErr != nil {
		t.Fatalf("AddShare: %v", addErr)
	}
	if accepted != 64 || backlog != 1000-64 {
		t.Errorf("accepted %d, refused %d; want 64 and %d", accepted, backlog, 1000-64)
	}
	if got := s.SharesRefused(); got != uint64(backlog) || obs.refused.Load() != int64(backlog) {
		t.Errorf("SharesRefused = %d, observer %d; want %d", got, obs.refused.Load(), backlog)
	}
	if q, _ := s.Backlog(); q != 64 {
		t.Errorf("Backlog queued = %d, want 64", q)
	}
	waitFor(t, "a redis error to be reported", func() bool { return obs.redisErrors.Load() > 0 })
	if err := r.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	thawed = true
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := stats(t, c, "tarbela").TotalShares; got != int64(accepted) {
		t.Errorf("redis holds %d shares, want the %d accepted", got, accepted)
	}
	// After the stall the queue accepts again.
	if err := s.AddShare(rec(5000, "a", "r", 1)); err != nil {
		t.Errorf("AddShare after recovery: %v", err)
	}
}

// TestTwoNodes runs two stores (two pool nodes) on one Redis writing the
// same workers at once: nothing is lost, and each node's block freezes
// exactly the round open at that moment.
func TestTwoNodes(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	nodes := []*redisstore.Store{
		newStore(t, r, redisstore.Options{Node: 1, BatchSize: 50}),
		newStore(t, r, redisstore.Options{Node: 2, BatchSize: 50}),
	}
	const per = 5000
	phase := func(seq0 uint64) {
		var wg sync.WaitGroup
		for ni, s := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per {
					r := rec(seq0+uint64(i), "acct"+strconv.Itoa(i%3), "rig"+strconv.Itoa(i%5), 1)
					r.Node = uint8(ni + 1)
					if err := s.AddShare(r); err != nil {
						t.Errorf("node %d AddShare: %v", ni+1, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		for _, s := range nodes {
			if err := s.Flush(context.Background()); err != nil {
				t.Fatalf("Flush: %v", err)
			}
		}
	}
	ctx := context.Background()
	phase(1)
	if err := nodes[1].AddBlockWait(ctx, &share.BlockRecord{Height: 10, Hash: "0b10", Worker: "acct1.rig1", Account: "acct1", Status: share.BlockAccepted, Node: 2}); err != nil {
		t.Fatalf("AddBlockWait: %v", err)
	}
	phase(per + 1)
	if err := nodes[0].AddBlockWait(ctx, &share.BlockRecord{Height: 11, Hash: "0b11", Worker: "acct0.rig0", Account: "acct0", Status: share.BlockAccepted, Node: 1}); err != nil {
		t.Fatalf("AddBlockWait: %v", err)
	}
	st := stats(t, c, "tarbela")
	if st.TotalShares != 4*per || st.NodeShares[1] != 2*per || st.NodeShares[2] != 2*per {
		t.Errorf("totals %d, per node %v; want %d, %d each", st.TotalShares, st.NodeShares, 4*per, 2*per)
	}
	rd := redisstore.NewReader(c, "", 0)
	for _, round := range []string{"0b10", "0b11"} {
		_, accounts, err := rd.RoundWork(ctx, round)
		if err != nil {
			t.Fatalf("RoundWork: %v", err)
		}
		var sum float64
		for _, v := range accounts {
			sum += v
		}
		if sum != 2*per {
			t.Errorf("round %s holds %v work, want %d", round, sum, 2*per)
		}
	}
	if st.RoundShares != 0 || st.Blocks != 2 {
		t.Errorf("open round has %d shares, %d blocks; want 0 and 2", st.RoundShares, st.Blocks)
	}
}

func TestHashrateAndLastShare(t *testing.T) {
	r := startRedis(t)
	s := newStore(t, r, redisstore.Options{})
	ctx := context.Background()
	now := time.Now()
	for i := range 60 {
		x := rec(uint64(i+1), "acct", "rig", 2)
		x.Time = now
		if err := s.AddShare(x); err != nil {
			t.Fatalf("AddShare: %v", err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	tests := []struct {
		name    string
		who     string
		account bool
		want    float64 // hashes/s over a 10-minute window
	}{
		{name: "worker", who: "acct.rig", want: 120.0 * (1 << 32) / 600},
		{name: "account", who: "acct", account: true, want: 120.0 * (1 << 32) / 600},
		{name: "unknown worker", who: "nobody.rig", want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Hashrate(ctx, tc.who, tc.account, 10*time.Minute)
			if err != nil {
				t.Fatalf("Hashrate: %v", err)
			}
			if got != tc.want {
				t.Errorf("Hashrate = %v, want %v", got, tc.want)
			}
			last, err := s.LastShare(ctx, tc.who, tc.account)
			if err != nil {
				t.Fatalf("LastShare: %v", err)
			}
			if tc.want > 0 && last.UnixMilli() != now.UnixMilli() {
				t.Errorf("LastShare = %v, want %v", last, now)
			}
			if tc.want == 0 && !last.IsZero() {
				t.Errorf("LastShare of an unknown worker = %v", last)
			}
		})
	}
}

// TestBatchAcrossBuckets: one batch whose shares fall into two hashrate
// buckets credits each bucket with its own shares' work, and the round and
// last-share times with all of them.
func TestBatchAcrossBuckets(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	// Workers' fine buckets of one minute, like the accounts' (the tiers
	// across their boundaries: TestTiers).
	s := newStore(t, r, redisstore.Options{BatchInterval: time.Hour, WorkerBucket: time.Minute})
	ctx := context.Background()
	now := time.Now().Truncate(time.Minute).Add(30 * time.Second)
	prev := now.Add(-time.Minute)
	shares := []struct {
		account, rig string
		d            float64
		at           time.Time
	}{
		{"a", "1", 2, prev}, {"a", "1", 3, now}, {"a", "2", 0.5, prev}, {"b", "1", 1e-12, now}, {"a", "1", 4, prev},
	}
	for i, x := range shares {
		rc := rec(uint64(i+1), x.account, x.rig, x.d)
		rc.Time = x.at
		if err := s.AddShare(rc); err != nil {
			t.Fatalf("AddShare: %v", err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := batches(t, c); got != 1 {
		t.Fatalf("%d batches, want the shares in one", got)
	}
	bucket := func(kind string, at time.Time) string {
		return "tarbela:{acct}:hr:" + kind + ":" + strconv.FormatInt(at.Unix()/60*60, 10)
	}
	for _, tc := range []struct {
		name, key, field string
		want             float64
	}{
		{"worker a.1, earlier bucket", bucket("w", prev), redisstore.WorkerField("a.1"), 6},
		{"worker a.1, later bucket", bucket("w", now), redisstore.WorkerField("a.1"), 3},
		{"worker a.2, earlier bucket", bucket("w", prev), redisstore.WorkerField("a.2"), 0.5},
		{"worker b.1, later bucket", bucket("w", now), redisstore.WorkerField("b.1"), 1e-12},
		{"account a, earlier bucket", bucket("a", prev), "a", 6.5},
		{"account a, later bucket", bucket("a", now), "a", 3},
		{"account b, later bucket", bucket("a", now), "b", 1e-12},
		{"round, worker a.1", "tarbela:{acct}:round:current:w", "a.1", 9},
		{"round, worker b.1", "tarbela:{acct}:round:current:w", "b.1", 1e-12},
		{"round, account a", "tarbela:{acct}:round:current:a", "a", 9.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.HGet(ctx, tc.key, tc.field).Float64()
			if err != nil {
				t.Fatalf("HGET %s %s: %v", tc.key, tc.field, err)
			}
			if got != tc.want {
				t.Errorf("%s %s = %v, want %v", tc.key, tc.field, got, tc.want)
			}
		})
	}
	for _, bad := range []struct{ key, field string }{{bucket("w", now), redisstore.WorkerField("a.2")}, {bucket("a", prev), "b"}} {
		if n, _ := c.HExists(ctx, bad.key, bad.field).Result(); n {
			t.Errorf("%s has %s, which had no share in that bucket", bad.key, bad.field)
		}
	}
	if last, err := s.LastShare(ctx, "a.1", false); err != nil || last.UnixMilli() != now.UnixMilli() {
		t.Errorf("LastShare(a.1) = %v, %v; want %v", last, err, now)
	}
}

// TestBlockRecordPayoutFields: the coinbase txid and network difficulty of
// a block are written into its record and read back by Blocks.
func TestBlockRecordPayoutFields(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	s := newStore(t, r, redisstore.Options{})
	ctx := context.Background()
	const txid = "965f023fa72e099e58f4b1250c2295b52283828959cd368318cfdcbe57df4bec"
	b := &share.BlockRecord{Height: 2442185, Hash: "000000000061d52983863e5c424c00d9e0981874fddf6a8493433e73928a3e4e",
		Worker: "a.1", Account: "a", Reward: 2441406, Status: share.BlockAccepted, CoinbaseTxID: txid, NetDifficulty: 91.37}
	if err := s.AddBlockWait(ctx, b); err != nil {
		t.Fatalf("AddBlockWait: %v", err)
	}
	raw, err := c.HMGet(ctx, "tarbela:{acct}:block:"+b.Hash, "coinbase_txid", "netdiff").Result()
	if err != nil || raw[0] != txid || raw[1] != "91.37" {
		t.Errorf("block hash holds coinbase_txid %v, netdiff %v (%v); want %s, 91.37", raw[0], raw[1], err, txid)
	}
	bs, err := s.Blocks(ctx, 10)
	if err != nil || len(bs) != 1 {
		t.Fatalf("Blocks = %v, %v", bs, err)
	}
	if got := bs[0]; got.CoinbaseTxID != txid || got.NetDifficulty != 91.37 || got.Reward != 2441406 {
		t.Errorf("Blocks()[0] = %+v, want coinbase txid %s, net difficulty 91.37", got.BlockRecord, txid)
	}
}

// TestNewRefusesBadOptions: New names every bad payout option.
func TestNewRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		o     redisstore.Options
		field string
	}{
		{"negative window", redisstore.Options{PPLNSWindow: -1}, "PPLNSWindow"},
		{"NaN window", redisstore.Options{PPLNSWindow: math.NaN()}, "PPLNSWindow"},
		{"slice below a second", redisstore.Options{PPLNSSlice: 500 * time.Millisecond}, "PPLNSSlice"},
		{"slice not whole milliseconds", redisstore.Options{PPLNSSlice: time.Second + time.Microsecond}, "PPLNSSlice"},
		{"unknown scheme", redisstore.Options{Scheme: "pplnss"}, "Scheme"},
		{"negative halving interval", redisstore.Options{SubsidyHalvingInterval: -150}, "SubsidyHalvingInterval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Addr = "127.0.0.1:1"
			_, err := redisstore.New(tc.o)
			var oe *redisstore.OptionsError
			if !errors.As(err, &oe) || len(oe.Fields) != 1 || !strings.HasPrefix(oe.Fields[0], tc.field) {
				t.Errorf("New = %v, want an OptionsError naming %s", err, tc.field)
			}
		})
	}
	for _, scheme := range []string{"", "pplns", "prop", "solo", "pps", "fpps"} {
		s, err := redisstore.New(redisstore.Options{Addr: "127.0.0.1:1", Scheme: scheme})
		if err != nil {
			t.Errorf("scheme %q: %v", scheme, err)
			continue
		}
		_ = s.Stop(context.Background())
	}
}
