package loadgen

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/stratum"
)

// vectorFile is the shared vectors file; entry 0 is the recorded session.
const vectorFile = "../../testdata/stratum-vectors.json"

// vectorEntry0 reads entry 0's notify params and extranonce2 size.
func vectorEntry0(t testing.TB) (json.RawMessage, int) {
	t.Helper()
	b, err := os.ReadFile(vectorFile)
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct {
		Source string `json:"source"`
		Inputs struct {
			NotifyParams    json.RawMessage `json:"notify_params"`
			Extranonce2Size int             `json:"extranonce2_size"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(b, &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 || entries[0].Source == "" || entries[0].Inputs.NotifyParams == nil {
		t.Fatal("entry 0 of the vectors has no source or notify params")
	}
	return entries[0].Inputs.NotifyParams, entries[0].Inputs.Extranonce2Size
}

// TestVectorNotifyMatchesFile checks StartPool's embedded job against the
// shared vectors file it was copied from.
func TestVectorNotifyMatchesFile(t *testing.T) {
	params, en2 := vectorEntry0(t)
	var a, b any
	if err := json.Unmarshal(params, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(VectorNotify), &b); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Errorf("VectorNotify differs from entry 0:\n got %s\nwant %s", jb, ja)
	}
	if en2 != VectorExtranonce2Size {
		t.Errorf("VectorExtranonce2Size = %d, file says %d", VectorExtranonce2Size, en2)
	}
}

// memStore is an in-memory share.Store.
type memStore struct {
	mu     sync.Mutex
	shares []share.Record
}

func (m *memStore) AddShare(r share.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.shares = append(m.shares, r)
	if r.Ack != nil {
		r.Ack.ShareRecorded(r.Token, nil) // memory is as durable as it gets here
	}
	return nil
}

func (m *memStore) AddBlock(*share.BlockRecord) error { return nil }

func (m *memStore) records() []share.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]share.Record(nil), m.shares...)
}

// fakeWork hands every account the same job.
type fakeWork struct{ job *share.Job }

func (w fakeWork) JobFor(string) (*share.Job, error) { return w.job, nil }
func (w fakeWork) Clean() bool                       { return w.job.Clean }
func (w fakeWork) Height() int64                     { return w.job.Height }

// recordedNTime is the recorded job's ntime (2023-07-16).
const recordedNTime = 0x64b3f3ec

// testPool is a real Tarbela Stratum server on 127.0.0.1:0 serving the
// recorded job (the tiny network target of a real testnet block, which no
// share of this test reaches) with a validator whose clock is now.
type testPool struct {
	srv   *stratum.Server
	store *memStore
	job   func(clean bool, prev byte) *share.Job
}

func startTestPool(t *testing.T, now func() time.Time, difficulty float64) *testPool {
	t.Helper()
	params, en2 := vectorEntry0(t)
	p := &testPool{store: &memStore{}}
	p.job = func(clean bool, prev byte) *share.Job {
		j, err := share.JobFromNotify(params, en2)
		if err != nil {
			t.Fatal(err)
		}
		j.Clean = clean
		j.PrevHash[0] ^= prev
		j.ID = string('a' + rune(prev))
		return j
	}
	v := share.NewValidator(share.ValidatorOptions{Store: p.store, Blocks: noBlocks{}, Now: now})
	srv, err := stratum.NewServer(stratum.Options{
		Listen:          "127.0.0.1:0",
		Extranonce2Size: en2,
		Validator:       v,
		Auth:            anyUser{},
		Difficulty:      stratum.DifficultyOptions{Initial: difficulty, Min: difficulty, Max: difficulty},
		Log:             zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).Named("pool"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	p.srv = srv
	srv.Publish(fakeWork{p.job(true, 0)})
	return p
}

// mustRun runs the tool with o and fails the test if Run fails.
func mustRun(t *testing.T, o Options) *Report {
	t.Helper()
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// runUntil calls run with a duration d and returns its report once enough
// holds for it. How much a run of fixed length gets done (miners through
// their handshake, shares answered, blocks seen by every miner) depends on
// the machine's speed: a run that falls short is repeated with twice the
// duration, up to three runs, and the caller checks those amounts on the
// last report. What must hold of any run, however short, run checks on
// each.
func runUntil(t *testing.T, d time.Duration, run func(d time.Duration) *Report, enough func(*Report) bool) *Report {
	t.Helper()
	for try := 1; ; try++ {
		rep := run(d)
		if enough(rep) || try == 3 {
			return rep
		}
		t.Logf("run %d of %v fell short (connections %+v, shares %+v, %d fan-out rounds); running for twice as long",
			try, d, rep.Connections, rep.Shares, len(rep.Fanout.Rounds))
		d *= 2
	}
}

// TestRunAgainstTarbela loads a real Tarbela server with 50 miners over 5
// source addresses for 2 s (longer if that was too short to connect them
// all): every share must be accepted, latencies measured, and the miners
// spread evenly over the sources.
func TestRunAgainstTarbela(t *testing.T) {
	const miners, sources = 50, 5
	p := startTestPool(t, func() time.Time { return time.Unix(recordedNTime+60, 0) }, 1e-6)
	rep := runUntil(t, 2*time.Second, func(d time.Duration) *Report {
		rep := mustRun(t, Options{
			Pool: p.srv.Addr().String(), Miners: miners, Sources: sources, Duration: d,
			Rate: 5, User: "tb1qbench.rig{i}", VersionRolling: true, Log: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)),
		})
		s := rep.Shares
		if s.Rejected != 0 || len(s.RejectsByCode) != 0 {
			t.Errorf("rejected %d %v: want no rejects", s.Rejected, s.RejectsByCode)
		}
		if s.Accepted+s.Lost != s.Submitted || s.Skipped != 0 {
			t.Errorf("submitted %d != accepted %d + lost %d (skipped %d)", s.Submitted, s.Accepted, s.Lost, s.Skipped)
		}
		if n := uint64(len(p.store.records())); n < s.Accepted {
			t.Errorf("pool recorded %d shares, tool saw %d accepted", n, s.Accepted)
		}
		if rep.Latency.Count != s.Accepted {
			t.Errorf("latency count %d, accepted %d: want one sample per reply", rep.Latency.Count, s.Accepted)
		}
		return rep
	}, func(rep *Report) bool {
		return rep.Connections.WithWork == miners && rep.Shares.Steady && rep.Shares.AcceptedPS > 0
	})
	c, s := rep.Connections, rep.Shares
	if c.Connected != miners || c.Subscribed != miners || c.Authorized != miners || c.WithWork != miners {
		t.Errorf("connected/subscribed/authorized/with work = %d/%d/%d/%d, want %d each",
			c.Connected, c.Subscribed, c.Authorized, c.WithWork, miners)
	}
	if s.Accepted == 0 || !s.Steady || s.AcceptedPS <= 0 {
		t.Errorf("accepted %d, steady %v, accepted/s %g: want accepted shares in a steady window with a positive rate",
			s.Accepted, s.Steady, s.AcceptedPS)
	}
	if rep.Latency.Quantile(0.5) == 0 {
		t.Errorf("latency p50 %d µs: want positive samples", rep.Latency.Quantile(0.5))
	}
	if len(c.Sources) != sources {
		t.Errorf("miners came from %d source addresses, want %d: %v", len(c.Sources), sources, c.Sources)
	}
	for ip, n := range c.Sources {
		a, err := netip.ParseAddr(ip)
		if err != nil || !a.IsLoopback() || a == netip.MustParseAddr("127.0.0.1") || n != miners/sources {
			t.Errorf("source %s has %d miners, want a 127.0.0.x (x>1) address with %d", ip, n, miners/sources)
		}
	}
	if f := rep.Fanout.Summary(0); f.Rounds != 0 {
		t.Errorf("%d fan-out rounds without a new block: %+v", f.Rounds, rep.Fanout.Rounds)
	}
	// Shares carry rolled version bits (a sixth parameter); the pool
	// rejects bits outside the negotiated mask, so acceptance checks them.
	// The records carry the workers' names from the template.
	for _, r := range p.store.records() {
		if !strings.HasPrefix(r.Worker, "tb1qbench.rig") {
			t.Fatalf("share credited to %q, want tb1qbench.rig{i}", r.Worker)
		}
	}
}

// TestRunFanout publishes two new blocks to 40 connected miners (sending
// no shares, so that none can go stale) and checks that each block is one
// fan-out round that reached every miner. The blocks come a third and two
// thirds into the run, which is run again for longer when the miners were
// not all connected by the first or had not all read the second by the end.
func TestRunFanout(t *testing.T) {
	const miners = 40
	p := startTestPool(t, func() time.Time { return time.Unix(recordedNTime+60, 0) }, 1e-6)
	var block byte // the last block published; each run's are new
	rep := runUntil(t, 1500*time.Millisecond, func(d time.Duration) *Report {
		published := make(chan struct{})
		go func() {
			defer close(published)
			for range 2 {
				time.Sleep(d / 3)
				block++
				p.srv.Publish(fakeWork{p.job(true, block)})
			}
			time.Sleep(d / 15)
			p.srv.Publish(fakeWork{p.job(false, block)}) // a refresh: not a new block
		}()
		rep := mustRun(t, Options{Pool: p.srv.Addr().String(), Miners: miners, Sources: 4, Duration: d, Rate: -1})
		<-published
		if rep.Shares.Submitted != 0 {
			t.Errorf("submitted %d shares at a negative rate", rep.Shares.Submitted)
		}
		if f := rep.Fanout.Summary(0); f.Rounds > 2 || f.MaxMiners > miners || rep.Fanout.Arrivals.Count > 2*miners {
			t.Errorf("fan-out: %d rounds reaching %d..%d miners, %d arrivals; want at most 2 rounds of %d: %+v",
				f.Rounds, f.MinMiners, f.MaxMiners, rep.Fanout.Arrivals.Count, miners, rep.Fanout.Rounds)
		}
		for _, r := range rep.Fanout.Rounds {
			if r.Spread() < 0 || r.First == 0 {
				t.Errorf("round %+v: want a first arrival and a non-negative spread", r)
			}
		}
		return rep
	}, func(rep *Report) bool {
		f := rep.Fanout.Summary(0)
		return f.Rounds == 2 && f.MinMiners == miners
	})
	f := rep.Fanout.Summary(0)
	if f.Rounds != 2 || f.MinMiners != miners || f.MaxMiners != miners {
		t.Errorf("fan-out: %d rounds reaching %d..%d miners, want 2 reaching %d: %+v",
			f.Rounds, f.MinMiners, f.MaxMiners, miners, rep.Fanout.Rounds)
	}
	if rep.Fanout.Arrivals.Count != 2*miners {
		t.Errorf("fan-out arrivals %d, want %d", rep.Fanout.Arrivals.Count, 2*miners)
	}
}

// TestRunCountsRejects checks that rejections are counted by Stratum code:
// a pool whose clock is years before the job's ntime rejects every share as
// out of range (code 20).
func TestRunCountsRejects(t *testing.T) {
	p := startTestPool(t, func() time.Time { return time.Unix(recordedNTime-365*24*3600, 0) }, 1e-6)
	rep := runUntil(t, time.Second, func(d time.Duration) *Report {
		rep := mustRun(t, Options{
			Pool: p.srv.Addr().String(), Miners: 5, Sources: 2, Duration: d, Rate: 4,
			Log: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)),
		})
		if s := rep.Shares; s.Accepted != 0 || s.RejectsByCode["20"] != s.Rejected {
			t.Errorf("accepted %d, rejected %d by code %v: want only code-20 rejects", s.Accepted, s.Rejected, s.RejectsByCode)
		}
		return rep
	}, func(rep *Report) bool { return rep.Shares.Rejected > 0 })
	if rep.Shares.Rejected == 0 {
		t.Errorf("no share rejected (submitted %d)", rep.Shares.Submitted)
	}
}

// TestRunSkipsHardShares checks the search cap: at difficulty 1 a share
// needs about 2^32 hashes, far past a cap of 1,000, so every share is
// skipped and none is sent.
func TestRunSkipsHardShares(t *testing.T) {
	p := startTestPool(t, func() time.Time { return time.Unix(recordedNTime+60, 0) }, 1)
	rep := runUntil(t, time.Second, func(d time.Duration) *Report {
		rep := mustRun(t, Options{
			Pool: p.srv.Addr().String(), Miners: 3, Sources: 1, Duration: d, Rate: 4, MaxHashes: 1000,
		})
		if s := rep.Shares; s.Submitted != 0 || s.Hashes != 1000*s.Skipped {
			t.Errorf("submitted %d, hashed %d for %d skipped shares: want nothing sent, 1000 hashes each", s.Submitted, s.Hashes, s.Skipped)
		}
		return rep
	}, func(rep *Report) bool { return rep.Shares.Skipped > 0 })
	if rep.Shares.Skipped == 0 {
		t.Errorf("no share skipped (hashed %d)", rep.Shares.Hashes)
	}
}

// TestStartPool runs the tool against the in-process pool with a new block
// every 300 ms.
func TestStartPool(t *testing.T) {
	p, err := StartPool(PoolOptions{NewBlockEvery: 300 * time.Millisecond, Log: zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	rep := runUntil(t, 1500*time.Millisecond, func(d time.Duration) *Report {
		rep := mustRun(t, Options{Pool: p.Addr(), Miners: 20, Sources: 4, Duration: d, Rate: 4})
		// A share built on the old job can cross the new one on the
		// wire: a stale (21) is what a real miner gets then, and the only
		// reject allowed here.
		if s := rep.Shares; s.Rejected != s.RejectsByCode["21"] {
			t.Errorf("rejected %d %v: want no rejects but stale ones", s.Rejected, s.RejectsByCode)
		}
		if got := p.Counter.Shares(); got < rep.Shares.Accepted {
			t.Errorf("pool counted %d shares, tool saw %d accepted", got, rep.Shares.Accepted)
		}
		return rep
	}, func(rep *Report) bool { return rep.Shares.Accepted > 0 && rep.Fanout.Summary(20).Rounds >= 2 })
	if s := rep.Shares; s.Accepted == 0 {
		t.Errorf("accepted %d, rejected %d %v: want accepted shares", s.Accepted, s.Rejected, s.RejectsByCode)
	}
	if f := rep.Fanout.Summary(20); f.Rounds < 2 {
		t.Errorf("%d fan-out rounds reached all 20 miners, want at least 2 at one block per 300 ms", f.Rounds)
	}
}

// TestStartBare runs the tool against the fan-out floor: every miner gets
// through the handshake, every block reaches every miner, and the shares
// are answered (unchecked) without a reject.
func TestStartBare(t *testing.T) {
	b, err := StartBare(PoolOptions{NewBlockEvery: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop(context.Background()) })
	rep := runUntil(t, 1500*time.Millisecond, func(d time.Duration) *Report {
		rep := mustRun(t, Options{Pool: b.Addr(), Miners: 20, Sources: 4, Duration: d, Rate: 4})
		if s := rep.Shares; s.Rejected != 0 || b.Shares() < s.Accepted {
			t.Errorf("accepted %d, rejected %d, server answered %d: want every share answered true", s.Accepted, s.Rejected, b.Shares())
		}
		if d := b.Dropped(); d != 0 {
			t.Errorf("%d miners dropped for a notify that did not fit", d)
		}
		return rep
	}, func(rep *Report) bool {
		return rep.Connections.WithWork == 20 && rep.Shares.Accepted > 0 && rep.Fanout.Summary(20).Rounds >= 2
	})
	if c := rep.Connections; c.WithWork != 20 || c.HandshakeFailed != 0 {
		t.Errorf("%d of 20 miners got work, %d handshakes failed", c.WithWork, c.HandshakeFailed)
	}
	if s := rep.Shares; s.Accepted == 0 {
		t.Errorf("accepted %d: want shares answered true", s.Accepted)
	}
	if f := rep.Fanout.Summary(20); f.Rounds < 2 {
		t.Errorf("%d fan-out rounds reached all 20 miners, want at least 2 at one block per 300 ms", f.Rounds)
	}
}

// TestBareRefusesJunk checks the floor server closes a connection that
// sends a line that is not a JSON request, rather than hanging on it.
func TestBareRefusesJunk(t *testing.T) {
	b, err := StartBare(PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop(context.Background()) })
	c, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("\x00\x01 not json\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 64)); err == nil {
		t.Fatalf("read %d bytes, want the connection closed", n)
	}
}
