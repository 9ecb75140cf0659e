package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
)

// countingPool is a Pool that counts its reads per question, answers with
// the read's number (so a test sees which read an answer came from), can
// hold every read until released, and records how many reads ran at once.
type countingPool struct {
	mu      sync.Mutex
	reads   map[string]int
	err     error
	hold    chan struct{} // when set, reads wait for it to close
	running atomic.Int64
	maxRun  atomic.Int64
}

func newCountingPool() *countingPool { return &countingPool{reads: map[string]int{}} }

// read counts a read of key and returns its number, after the hold.
func (p *countingPool) read(ctx context.Context, key string) (int, error) {
	n := p.running.Add(1)
	defer p.running.Add(-1)
	for {
		m := p.maxRun.Load()
		if n <= m || p.maxRun.CompareAndSwap(m, n) {
			break
		}
	}
	p.mu.Lock()
	p.reads[key]++
	num, err, hold := p.reads[key], p.err, p.hold
	p.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return num, err
}

func (p *countingPool) count(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reads[key]
}

func (p *countingPool) Summary(ctx context.Context) (Summary, error) {
	n, err := p.read(ctx, "summary")
	var s Summary
	s.Shares.Accepted = int64(n)
	return s, err
}

func (p *countingPool) Hashrate(ctx context.Context, account string, window, step time.Duration) ([]Point, error) {
	n, err := p.read(ctx, fmt.Sprintf("hashrate %s %s %s", account, window, step))
	return []Point{{T: at, Hashrate: float64(n)}}, err
}

func (p *countingPool) WorkerHashrate(ctx context.Context, worker string, window, step time.Duration) (Series, error) {
	n, err := p.read(ctx, fmt.Sprintf("worker %q %s %s", worker, window, step))
	return Series{Window: window, Step: step, Points: []Point{{T: at, Hashrate: float64(n)}}}, err
}

func (p *countingPool) Blocks(ctx context.Context, limit int) ([]Block, error) {
	n, err := p.read(ctx, fmt.Sprintf("blocks %d", limit))
	bs := make([]Block, limit)
	for i := range bs {
		bs[i] = testBlock(int64(n*1000 + i))
	}
	return bs, err
}

func (p *countingPool) Account(ctx context.Context, address string) (Account, error) {
	n, err := p.read(ctx, "account "+address)
	if address == bob {
		return Account{}, fmt.Errorf("account %s: %w", address, ErrNotFound)
	}
	last := at
	return Account{Account: address, WorkersTotal: int64(n),
		Workers:  []Worker{{Name: address + ".rig1", LastShare: &last}},
		Payments: []Payment{{Batch: "b", Time: at}}}, err
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// newTestCache is a cache on a countingPool with a fake clock.
func newTestCache(o CacheOptions) (*Cache, *countingPool, *fakeClock) {
	p := newCountingPool()
	c := NewCache(p, o)
	clk := &fakeClock{t: at}
	c.now = clk.now
	return c, p, clk
}

// TestCacheSingleFlight sends 50 concurrent requests for each question
// while the reads are held: each question is read once, and every request
// gets that read's answer. The clock does not move, so however the
// requests interleave with the read, none may start a second one.
func TestCacheSingleFlight(t *testing.T) {
	c, p, _ := newTestCache(CacheOptions{})
	p.hold = make(chan struct{})
	const n = 50
	var started sync.WaitGroup
	var wg sync.WaitGroup
	answers := make(chan int64, 4*n)
	for range n {
		started.Add(4)
		wg.Go(func() {
			started.Done()
			s, err := c.Summary(context.Background())
			if err != nil {
				t.Error(err)
			}
			answers <- s.Shares.Accepted
		})
		wg.Go(func() {
			started.Done()
			a, err := c.Account(context.Background(), alice)
			if err != nil {
				t.Error(err)
			}
			answers <- a.WorkersTotal
		})
		wg.Go(func() {
			started.Done()
			ps, err := c.Hashrate(context.Background(), "", 24*time.Hour, 10*time.Minute)
			if err != nil || len(ps) != 1 {
				t.Error(err, ps)
				return
			}
			answers <- int64(ps[0].Hashrate)
		})
		wg.Go(func() {
			started.Done()
			bs, err := c.Blocks(context.Background(), 3)
			if err != nil || len(bs) != 3 {
				t.Error(err, bs)
				return
			}
			answers <- bs[0].Height / 1000
		})
	}
	started.Wait()
	close(p.hold)
	wg.Wait()
	close(answers)
	for a := range answers {
		if a != 1 {
			t.Errorf("an answer from read %d, want every one from the first", a)
		}
	}
	for _, key := range []string{"summary", "account " + alice, "hashrate  24h0m0s 10m0s", "blocks 3"} {
		if got := p.count(key); got != 1 {
			t.Errorf("%s read %d times, want 1", key, got)
		}
	}
}

// TestCacheExpiry checks that an answer is served until TTL has passed
// and read again at TTL, per question.
func TestCacheExpiry(t *testing.T) {
	const ttl = 3 * time.Second
	c, p, clk := newTestCache(CacheOptions{TTL: ttl})
	ctx := context.Background()
	summary := func() int64 {
		s, err := c.Summary(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return s.Shares.Accepted
	}
	if got := summary(); got != 1 {
		t.Fatalf("first answer from read %d", got)
	}
	clk.add(ttl - time.Nanosecond)
	if got := summary(); got != 1 || p.count("summary") != 1 {
		t.Errorf("just before the TTL: answer from read %d, %d reads; want the first answer, one read", got, p.count("summary"))
	}
	// Another question has its own entry and its own clock.
	if a, err := c.Account(ctx, alice); err != nil || a.WorkersTotal != 1 {
		t.Fatalf("account: %v, %+v", err, a)
	}
	clk.add(time.Nanosecond)
	if got := summary(); got != 2 || p.count("summary") != 2 {
		t.Errorf("at the TTL: answer from read %d, %d reads; want a second read", got, p.count("summary"))
	}
	if a, _ := c.Account(ctx, alice); a.WorkersTotal != 1 {
		t.Errorf("the account, read 1 ns ago, was read again (read %d)", a.WorkersTotal)
	}
	// Distinct arguments are distinct questions.
	for _, limit := range []int{1, 2, 1} {
		if _, err := c.Blocks(ctx, limit); err != nil {
			t.Fatal(err)
		}
	}
	for _, acct := range []string{"", alice, ""} {
		if _, err := c.Hashrate(ctx, acct, time.Hour, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Hashrate(ctx, "", time.Hour, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]int{"blocks 1": 1, "blocks 2": 1, "hashrate  1h0m0s 1m0s": 1,
		"hashrate " + alice + " 1h0m0s 1m0s": 1, "hashrate  1h0m0s 2m0s": 1} {
		if got := p.count(key); got != want {
			t.Errorf("%s read %d times, want %d", key, got, want)
		}
	}
}

// TestCacheErrors checks that a failed read is not kept (the next request
// reads again) while an unknown account is, like an answer.
func TestCacheErrors(t *testing.T) {
	c, p, _ := newTestCache(CacheOptions{})
	ctx := context.Background()
	p.err = fmt.Errorf("%w: redis down", ErrUnavailable)
	for i := 1; i <= 2; i++ {
		if _, err := c.Summary(ctx); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("summary %d: %v, want the pool's error", i, err)
		}
		if p.count("summary") != i {
			t.Errorf("after %d failed requests, %d reads: a failure must not be kept", i, p.count("summary"))
		}
	}
	p.err = nil
	if s, err := c.Summary(ctx); err != nil || s.Shares.Accepted != 3 {
		t.Errorf("after the pool came back: %v, read %d", err, s.Shares.Accepted)
	}
	for range 3 {
		if _, err := c.Account(ctx, bob); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown account: %v, want ErrNotFound", err)
		}
	}
	if p.count("account "+bob) != 1 {
		t.Errorf("unknown account read %d times, want 1 (kept like an answer)", p.count("account "+bob))
	}
}

// TestCacheCopies checks that what one request does to its answer's lists
// does not reach the next request's answer.
func TestCacheCopies(t *testing.T) {
	c, _, _ := newTestCache(CacheOptions{})
	ctx := context.Background()
	bs, _ := c.Blocks(ctx, 2)
	bs[0].Hash = "changed"
	a, _ := c.Account(ctx, alice)
	a.Workers[0].Name, a.Payments[0].Batch = "changed", "changed"
	ps, _ := c.Hashrate(ctx, alice, time.Hour, time.Minute)
	ps[0].Hashrate = -1
	bs, _ = c.Blocks(ctx, 2)
	a, _ = c.Account(ctx, alice)
	ps, _ = c.Hashrate(ctx, alice, time.Hour, time.Minute)
	if bs[0].Hash == "changed" || a.Workers[0].Name == "changed" || a.Payments[0].Batch == "changed" || ps[0].Hashrate == -1 {
		t.Errorf("a change to one answer reached the next: %q %q %q %v", bs[0].Hash, a.Workers[0].Name, a.Payments[0].Batch, ps[0].Hashrate)
	}
}

// TestCacheWorkerKeys checks that a worker's series is read once per TTL
// and that no two workers share an answer, whatever their names hold
// (names are the miners' own: spaces, digits that look like a window).
func TestCacheWorkerKeys(t *testing.T) {
	c, p, _ := newTestCache(CacheOptions{})
	ctx := context.Background()
	names := []string{alice + ".a", alice + ".a 1", alice + ".a 1 3600000000000", alice + ".a\x00"}
	for round := 0; round < 2; round++ {
		for _, w := range names {
			se, err := c.WorkerHashrate(ctx, w, time.Hour, 5*time.Minute)
			if err != nil || len(se.Points) != 1 || se.Points[0].Hashrate != 1 {
				t.Fatalf("round %d, worker %q: %+v %v", round, w, se, err)
			}
			se.Points[0].Hashrate = -1
		}
	}
	for _, w := range names {
		if n := p.count(fmt.Sprintf("worker %q %s %s", w, time.Hour, 5*time.Minute)); n != 1 {
			t.Errorf("worker %q read %d times, want 1", w, n)
		}
	}
	if _, err := c.WorkerHashrate(ctx, names[0], 24*time.Hour, time.Hour); err != nil {
		t.Fatal(err)
	}
	if n := p.count(fmt.Sprintf("worker %q %s %s", names[0], 24*time.Hour, time.Hour)); n != 1 {
		t.Errorf("another window of the same worker read %d times, want 1", n)
	}
}

// TestCacheBounds checks MaxConcurrent (reads of distinct questions under
// way at once) and MaxEntries (answers kept).
func TestCacheBounds(t *testing.T) {
	c, p, clk := newTestCache(CacheOptions{MaxConcurrent: 2, MaxEntries: 3})
	p.hold = make(chan struct{})
	accounts := make([]string, 8)
	for i := range accounts {
		accounts[i] = testAddress(byte(10+i), &chaincfg.RegressionNetParams)
	}
	var wg sync.WaitGroup
	for _, a := range accounts {
		wg.Go(func() {
			if _, err := c.Account(context.Background(), a); err != nil {
				t.Error(err)
			}
		})
	}
	// Two reads start; the others wait for a slot however long this takes.
	for p.running.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	close(p.hold)
	wg.Wait()
	if m := p.maxRun.Load(); m != 2 {
		t.Errorf("%d reads ran at once, want 2 (MaxConcurrent)", m)
	}
	c.mu.Lock()
	kept := len(c.entries)
	c.mu.Unlock()
	if kept != 3 {
		t.Errorf("%d answers kept, want 3 (MaxEntries)", kept)
	}
	// Once the kept answers expire, room is made for new ones.
	clk.add(DefaultCacheTTL)
	if _, err := c.Summary(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	_, ok := c.entries["summary"]
	kept = len(c.entries)
	c.mu.Unlock()
	if !ok || kept != 1 {
		t.Errorf("after expiry: summary kept %v, %d kept; want the expired answers dropped for it", ok, kept)
	}
}

// TestCacheWaiterGivesUp checks that a request whose context ends while
// it waits for another's read gets a 503 error at once, and that the read
// goes on for the request that started it, whose own context ending does
// not cut it short either.
func TestCacheWaiterGivesUp(t *testing.T) {
	c, p, _ := newTestCache(CacheOptions{})
	p.hold = make(chan struct{})
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() {
		_, err := c.Summary(leaderCtx)
		leader <- err
	}()
	for p.running.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Summary(ctx); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("a waiter whose context ended: %v, want ErrUnavailable and context.Canceled", err)
	}
	cancelLeader()
	close(p.hold)
	if err := <-leader; err != nil {
		t.Errorf("the leader's read, its context ended: %v; want the read finished", err)
	}
	if s, err := c.Summary(context.Background()); err != nil || s.Shares.Accepted != 1 || p.count("summary") != 1 {
		t.Errorf("after the read: %v, read %d of %d; want the first read kept", err, s.Shares.Accepted, p.count("summary"))
	}
}

// TestCacheBehindServer serves concurrent requests of every public route
// through a Server on a Cache (the handlers rewrite the answers' times in
// place; under -race a shared answer would show). Each answer is the
// same JSON.
func TestCacheBehindServer(t *testing.T) {
	c := NewCache(&lockedPool{p: &fakePool{}}, CacheOptions{})
	s, err := New(Options{Pool: c, Admin: &fakeAdmin{}, Network: &chaincfg.RegressionNetParams})
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"/api/v1/pool", "/api/v1/blocks", "/api/v1/pool/hashrate?window=1h&step=10m",
		"/api/v1/accounts/" + alice, "/api/v1/accounts/" + alice + "/hashrate"}
	var mu sync.Mutex
	first := map[string]string{}
	var wg sync.WaitGroup
	for range 20 {
		for _, path := range paths {
			wg.Go(func() {
				rec := httptest.NewRecorder()
				s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				body := rec.Body.String()
				if rec.Code != http.StatusOK || !json.Valid([]byte(body)) {
					t.Errorf("GET %s: HTTP %d %s", path, rec.Code, body)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if f, ok := first[path]; ok && f != body {
					t.Errorf("GET %s: two answers from one cached read:\n%s\n%s", path, f, body)
				}
				first[path] = body
			})
		}
	}
	wg.Wait()
}

// lockedPool serializes the calls to a fakePool, whose recorder is not
// safe for concurrent use; the cache reads distinct questions at once.
type lockedPool struct {
	mu sync.Mutex
	p  *fakePool
}

func (l *lockedPool) Summary(ctx context.Context) (Summary, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p.Summary(ctx)
}

func (l *lockedPool) Hashrate(ctx context.Context, account string, window, step time.Duration) ([]Point, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p.Hashrate(ctx, account, window, step)
}

func (l *lockedPool) WorkerHashrate(ctx context.Context, worker string, window, step time.Duration) (Series, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p.WorkerHashrate(ctx, worker, window, step)
}

func (l *lockedPool) Blocks(ctx context.Context, limit int) ([]Block, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p.Blocks(ctx, limit)
}

func (l *lockedPool) Account(ctx context.Context, address string) (Account, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p.Account(ctx, address)
}

// panickyPool panics on its first Summary.
type panickyPool struct {
	*countingPool
	panicked atomic.Bool
}

func (p *panickyPool) Summary(ctx context.Context) (Summary, error) {
	if p.panicked.CompareAndSwap(false, true) {
		panic("a broken read")
	}
	return p.countingPool.Summary(ctx)
}

// TestCacheReadPanics checks that a read that panics frees its slot (with
// one slot in all) and keeps nothing: the panic reaches the request that
// started it, and the next request reads again.
func TestCacheReadPanics(t *testing.T) {
	p := &panickyPool{countingPool: newCountingPool()}
	c := NewCache(p, CacheOptions{MaxConcurrent: 1})
	func() {
		defer func() {
			if r := recover(); r == nil {
				t.Error("the read's panic did not reach the request that started it")
			}
		}()
		_, _ = c.Summary(context.Background())
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.Summary(ctx)
	if err != nil || s.Shares.Accepted != 1 {
		t.Errorf("after the panic: %v, read %d; want a new read in the freed slot", err, s.Shares.Accepted)
	}
}
