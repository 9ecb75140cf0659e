package cpuminer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// startMiner runs a miner against pool until the test ends, and returns
// it with a function that stops it and reports Run's error.
func startMiner(t *testing.T, o Options) (*Miner, func() error) {
	t.Helper()
	if o.Log == nil {
		o.Log = zaptest.NewLogger(t)
	}
	if o.RetryMin == 0 {
		o.RetryMin = 10 * time.Millisecond
	}
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var stopped bool
	var runErr error
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("miner did not stop")
			}
		}
		return runErr
	}
	t.Cleanup(func() { stop() })
	return m, stop
}

// checkShares fails the test for any share the pool found invalid.
func checkShares(t *testing.T, shares []poolShare) {
	t.Helper()
	for i, s := range shares {
		if s.err != "" {
			t.Errorf("share %d: protocol error: %s", i, s.err)
		} else if s.reject != nil {
			t.Errorf("share %d (job %s): rejected by the pool's check: %s", i, s.jobID, s.reject.Message)
		}
	}
}

func TestMineAgainstPool(t *testing.T) {
	const want = 20
	tests := []struct {
		name        string
		poolMask    uint32
		rolling     bool
		wantMask    uint32
		wantParams  int
		rejectEvery int
	}{
		{name: "version rolling negotiated", poolMask: 0x1fffe000, rolling: true, wantMask: 0x1fffe000, wantParams: 6},
		{name: "version rolling off in the miner", poolMask: 0x1fffe000, rolling: false, wantParams: 5},
		{name: "pool declines version rolling", poolMask: 0, rolling: true, wantParams: 5},
		{name: "pool rejects some shares", poolMask: 0x1fffe000, rolling: true, wantMask: 0x1fffe000, wantParams: 6, rejectEvery: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool := newTestPool(t)
			pool.mask = tc.poolMask
			pool.rejectEvery = tc.rejectEvery
			pool.start()
			m, stop := startMiner(t, Options{URL: pool.url(), User: "tb1qminer.rig1", Threads: 2, VersionRolling: tc.rolling})
			if !pool.waitValid(want) {
				checkShares(t, pool.snapshot())
				t.Fatalf("pool received %d shares, want %d valid", len(pool.snapshot()), want)
			}
			deadline := time.Now().Add(20 * time.Second)
			for s := m.Stats(); s.Accepted+s.Rejected < want; s = m.Stats() {
				if time.Now().After(deadline) {
					t.Fatalf("miner counted %d accepted + %d rejected, want %d replies", s.Accepted, s.Rejected, want)
				}
				time.Sleep(5 * time.Millisecond)
			}
			st := m.Stats()
			if st.VersionMask != tc.wantMask {
				t.Errorf("negotiated mask %08x, want %08x", st.VersionMask, tc.wantMask)
			}
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			shares := pool.snapshot()
			checkShares(t, shares)
			versions := map[uint32]bool{}
			for _, s := range shares {
				if s.nparams != tc.wantParams {
					t.Errorf("submit with %d params, want %d", s.nparams, tc.wantParams)
				}
				versions[s.version] = true
			}
			if tc.wantMask != 0 && len(versions) < 2 {
				t.Errorf("version rolling negotiated but all %d shares used one version", len(shares))
			}
			if tc.wantMask == 0 && len(versions) != 1 {
				t.Errorf("no version rolling but shares used %d versions", len(versions))
			}
			st = m.Stats()
			if st.Accepted+st.Rejected > uint64(len(shares)) {
				t.Errorf("miner counted %d verdicts for %d shares sent", st.Accepted+st.Rejected, len(shares))
			}
			if tc.rejectEvery > 0 && st.Rejected == 0 {
				t.Error("pool rejected shares but the miner counted none")
			}
			if tc.rejectEvery == 0 && st.Rejected != 0 {
				t.Errorf("miner counted %d rejects, pool sent none", st.Rejected)
			}
			if st.Hashes == 0 || st.Jobs != 1 || st.Connects != 1 || st.Difficulty != 1e-5 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

func TestCleanJobsDropOldWork(t *testing.T) {
	pool := newTestPool(t)
	pool.mask = 0x1fffe000
	pool.script = func(c *poolConn) {
		c.setDifficulty(pool.difficulty)
		c.notify("1", 0x64b3f3ec, true)
		if !c.waitShares(5) {
			return
		}
		c.notify("2", 0x64b3f3ed, true)
	}
	pool.start()
	startMiner(t, Options{URL: pool.url(), User: "w", Threads: 2, VersionRolling: true})
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := 0
		for _, s := range pool.snapshot() {
			if s.jobID == "2" {
				n++
			}
		}
		if n >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no shares for the second job")
		}
		time.Sleep(5 * time.Millisecond)
	}
	shares := pool.snapshot()
	checkShares(t, shares)
	sawNew := false
	for _, s := range shares {
		switch {
		case s.jobID == "2":
			sawNew = true
		case sawNew:
			t.Errorf("share for job %q after the clean job 2 was mined", s.jobID)
		}
	}
}

func TestSetExtranonceAndDifficulty(t *testing.T) {
	pool := newTestPool(t)
	pool.mask = 0x1fffe000
	pool.script = func(c *poolConn) {
		c.setDifficulty(pool.difficulty)
		c.notify("1", 0x64b3f3ec, false)
		if !c.waitShares(3) {
			return
		}
		// A new extranonce1 applies to the next job; the pool checks job 2
		// with it and job 1 with the old one.
		c.send(`{"id":null,"method":"mining.set_extranonce","params":["0badf00d",4]}`)
		c.mu.Lock()
		c.en1 = []byte{0x0b, 0xad, 0xf0, 0x0d}
		c.mu.Unlock()
		c.setDifficulty(pool.difficulty * 2) // harder: applies to job 1 at once, still valid at the pool
		c.notify("2", 0x64b3f3ed, false)
	}
	pool.start()
	m, _ := startMiner(t, Options{URL: pool.url(), User: "w", Threads: 2, VersionRolling: true})
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := 0
		for _, s := range pool.snapshot() {
			if s.jobID == "2" {
				n++
			}
		}
		if n >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no shares for job 2")
		}
		time.Sleep(5 * time.Millisecond)
	}
	checkShares(t, pool.snapshot())
	if d := m.Stats().Difficulty; d != pool.difficulty*2 {
		t.Errorf("difficulty %g, want %g", d, pool.difficulty*2)
	}
}

func TestClientReconnect(t *testing.T) {
	pool := newTestPool(t)
	pool.mask = 0x1fffe000
	pool.script = func(c *poolConn) {
		c.setDifficulty(pool.difficulty)
		c.notify("1", 0x64b3f3ec, true)
		if c.n == 1 && c.waitShares(3) {
			host, port, _ := strings.Cut(pool.ln.Addr().String(), ":")
			c.send(`{"id":null,"method":"client.reconnect","params":["` + host + `",` + port + `,0]}`)
		}
	}
	pool.start()
	m, _ := startMiner(t, Options{URL: pool.url(), User: "w", Threads: 1, VersionRolling: true})
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := 0
		for _, s := range pool.snapshot() {
			if s.conn == 2 {
				n++
			}
		}
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no shares on the second connection")
		}
		time.Sleep(5 * time.Millisecond)
	}
	checkShares(t, pool.snapshot())
	if c := m.Stats().Connects; c < 2 {
		t.Errorf("connects = %d, want >= 2", c)
	}
}

func TestSuggestDifficultySent(t *testing.T) {
	pool := newTestPool(t)
	pool.start()
	_, stop := startMiner(t, Options{URL: pool.url(), User: "w", Threads: 1, SuggestDifficulty: 0.25})
	if !pool.waitValid(1) {
		checkShares(t, pool.snapshot())
		t.Fatal("no valid share")
	}
	stop()
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if len(pool.suggested) == 0 || pool.suggested[0] != 0.25 {
		t.Errorf("suggested = %v, want [0.25]", pool.suggested)
	}
}

func TestAuthorizationRejected(t *testing.T) {
	pool := newTestPool(t)
	pool.start()
	// Run must end by itself on the rejection; the timeout only keeps a
	// broken miner from hanging the test (it would then return nil).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := Run(ctx, Options{URL: pool.url(), User: "bad", Threads: 1, Log: zaptest.NewLogger(t)})
	ae, ok := errors.AsType[*AuthError](err)
	if !ok {
		t.Fatalf("Run = %v, want *AuthError", err)
	}
	if ae.User != "bad" || !strings.Contains(ae.Message, "Unauthorized") {
		t.Errorf("AuthError = %+v", ae)
	}
}

// TestBadPoolInput sends malformed and hostile lines; the miner must
// neither panic nor stop, and still mine valid shares afterwards.
func TestBadPoolInput(t *testing.T) {
	tests := []struct {
		name         string
		greet        []string
		badSubscribe string
	}{
		{name: "not json", greet: []string{"hello pool", "{", `"just a string"`, "[1,2,3]", "null"}},
		{name: "notify with bad params", greet: []string{
			`{"id":null,"method":"mining.notify","params":null}`,
			`{"id":null,"method":"mining.notify","params":["x"]}`,
			`{"id":null,"method":"mining.notify","params":[1,2,3,4,5,6,7,8,9]}`,
			`{"id":null,"method":"mining.notify","params":"nope"}`,
		}},
		{name: "bad difficulty", greet: []string{
			`{"id":null,"method":"mining.set_difficulty","params":[-1]}`,
			`{"id":null,"method":"mining.set_difficulty","params":[0]}`,
			`{"id":null,"method":"mining.set_difficulty","params":["x"]}`,
			`{"id":null,"method":"mining.set_difficulty","params":[1e400]}`,
			`{"id":null,"method":"mining.set_difficulty","params":[]}`,
		}},
		{name: "bad extranonce and mask", greet: []string{
			`{"id":null,"method":"mining.set_extranonce","params":["zz",4]}`,
			`{"id":null,"method":"mining.set_extranonce","params":["00",1000]}`,
			`{"id":null,"method":"mining.set_extranonce","params":[]}`,
			`{"id":null,"method":"mining.set_version_mask","params":["xyz"]}`,
			`{"id":null,"method":"mining.set_version_mask","params":[5]}`,
		}},
		{name: "replies to nothing", greet: []string{
			`{"id":999,"result":true,"error":null}`,
			`{"id":"abc","result":true,"error":null}`,
			`{"id":{"a":1},"result":true,"error":null}`,
			`{"id":-1,"result":null,"error":"boom"}`,
		}},
		{name: "unknown requests and messages", greet: []string{
			`{"id":7,"method":"mining.something","params":[]}`,
			`{"id":8,"method":"client.get_version","params":[]}`,
			`{"id":null,"method":"client.show_message","params":[42]}`,
			`{"id":null,"method":"client.show_message","params":["hello"]}`,
		}},
		{name: "reconnect with garbage params", greet: []string{`{"id":null,"method":"client.reconnect","params":[{},[],"x"]}`}},
		{name: "line too long", greet: []string{strings.Repeat("a", MaxLineSize+10)}},
		{name: "subscribe reply malformed", badSubscribe: `[1]`},
		{name: "subscribe reply with huge extranonce2", badSubscribe: `[[],"00",99999]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pool := newTestPool(t)
			pool.mask = 0x1fffe000
			pool.greet = tc.greet
			pool.badSubscribe = tc.badSubscribe
			pool.start()
			startMiner(t, Options{URL: pool.url(), User: "w", Threads: 1, VersionRolling: true})
			if !pool.waitValid(3) {
				checkShares(t, pool.snapshot())
				t.Fatalf("no valid shares after bad input; pool saw %d", len(pool.snapshot()))
			}
			checkShares(t, pool.snapshot())
		})
	}
}

// TestBenchmarkReportsRate: each thread's rate is its hashes over the
// elapsed time, and the total their sum. A thread that a loaded machine
// did not schedule before the duration ran out hashes nothing, so a run in
// which one hashed nothing is tried again, up to three runs.
func TestBenchmarkReportsRate(t *testing.T) {
	const d = 300 * time.Millisecond
	var res BenchResult
	for try := 1; try <= 3; try++ {
		var err error
		if res, err = Benchmark(context.Background(), 2, d); err != nil {
			t.Fatal(err)
		}
		if len(res.PerThread) != 2 || len(res.Hashes) != 2 || res.Elapsed <= 0 {
			t.Fatalf("result = %+v", res)
		}
		var sum float64
		for i, r := range res.PerThread {
			if want := float64(res.Hashes[i]) / res.Elapsed.Seconds(); r != want {
				t.Errorf("thread %d rate %v, want %d hashes in %v = %v", i, r, res.Hashes[i], res.Elapsed, want)
			}
			sum += r
		}
		if res.Total != sum {
			t.Errorf("total %v, want the threads' sum %v", res.Total, sum)
		}
		if min(res.Hashes[0], res.Hashes[1]) > 0 {
			break
		}
		t.Logf("run %d: a thread hashed nothing in %v (%+v)", try, res.Elapsed, res)
	}
	for i, r := range res.PerThread {
		if r <= 0 {
			t.Errorf("thread %d rate %v in each of three runs", i, r)
		}
	}
	if _, err := Benchmark(context.Background(), 1, 0); err == nil {
		t.Error("zero duration accepted")
	}
}

func TestRunTwice(t *testing.T) {
	m, err := New(Options{URL: "127.0.0.1:1", User: "w", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatalf("first Run on a cancelled context = %v", err)
	}
	if err := m.Run(ctx); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}
}
