package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/cpuminer"
	"github.com/tarbela-pool/tarbela/internal/energy"
	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/payoutjob"
	"github.com/tarbela-pool/tarbela/payout"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// runningMiner is a CPU miner mining until stop.
type runningMiner struct {
	m      *cpuminer.Miner
	cancel context.CancelFunc
	done   chan error
}

func startEnergyMiner(t *testing.T, tp *testPool, user string) *runningMiner {
	t.Helper()
	m, err := cpuminer.New(cpuminer.Options{URL: tp.d.StratumAddr(), User: user, Threads: 1})
	if err != nil {
		t.Fatalf("cpuminer.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rm := &runningMiner{m: m, cancel: cancel, done: make(chan error, 1)}
	go func() { rm.done <- m.Run(ctx) }()
	t.Cleanup(func() { rm.stop(t) })
	return rm
}

// stop ends the miner (once) and returns its statistics: every share it
// saw accepted has had its reply, which the pool sends only once the share
// is recorded (journal or Redis).
func (rm *runningMiner) stop(t *testing.T) cpuminer.Stats {
	t.Helper()
	if rm.cancel != nil {
		rm.cancel()
		if err := <-rm.done; err != nil {
			t.Errorf("miner: %v", err)
		}
		rm.cancel = nil
	}
	return rm.m.Stats()
}

// TestEnergyAuditTwoSites is the energy audit end to end: a pool on btcd
// regtest and Redis, two sites (by account), a CPU miner each. The report's
// work per site is what the miners saw accepted (a fixed difficulty, so
// work = accepted × d), and its rejects what they saw rejected; the sites'
// work sums to the pool's; kWh follows the formula; an inflated meter is
// flagged; one edited byte in the exported records is found by verify;
// and the site whose miner stopped inside a curtailment window is reported
// as complying. Hours close on a controlled clock.
func TestEnergyAuditTwoSites(t *testing.T) {
	const d = 0.002
	alpha, beta := localnet.RegtestAddress(21), localnet.RegtestAddress(22)
	tp := startPool(t, poolOptions{difficulty: d, configure: func(c *config.Config) {
		c.Sites = []config.Site{
			{Name: "alpha", Accounts: []string{alpha}, JPerTH: 30, Overhead: 1.2, MeterTolerance: 0.05},
			{Name: "beta", Accounts: []string{beta}, JPerTH: 21},
		}
		c.Energy.Bucket = time.Second
	}}, nil)
	ctx := testContext(t)
	// Rejected shares count for the worker's site: three submits for a job
	// that does not exist, from a worker of alpha.
	sc := dial(t, tp.d.StratumAddr())
	sc.handshake(alpha+".probe", "x", 0)
	const badSubmits = 3
	for range badSubmits {
		if m := sc.call("mining.submit", alpha+".probe", "no-such-job", "00000000", "00000000", "00000000"); m.errorCode() != 21 {
			t.Fatalf("submit for an unknown job: %s %s", m.Result, m.Error)
		}
	}
	ma := startEnergyMiner(t, tp, alpha+".a1")
	mb := startEnergyMiner(t, tp, beta+".b1")
	waitFor(t, "both miners to have shares accepted", func() bool {
		return ma.m.Stats().Accepted >= 5 && mb.m.Stats().Accepted >= 5
	})
	// The window opens on the next whole second; beta stops inside it;
	// alpha mines on to the window's end.
	from := time.Now().Truncate(time.Second).Add(time.Second)
	to := from.Add(4 * time.Second)
	l := redisstore.NewEnergyLedger(tp.d.Store().Client(), "")
	sites := energy.FromConfig(tp.cfg.Sites)
	const shed = 1e-18 // MW: any shed counts; the point is the fall to zero
	cur, err := energy.AddCurtailment(ctx, l, energy.Curtailment{Site: "beta", From: from, To: to, ShedMW: shed, Recorded: time.Now()}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(from.Add(time.Second)))
	sb := mb.stop(t)
	time.Sleep(time.Until(to.Add(time.Second)))
	sa := ma.stop(t)
	if err := tp.d.Store().Flush(ctx); err != nil {
		t.Fatal(err)
	}

	key := filepath.Join(t.TempDir(), "energy.key")
	if err := energy.GenerateKey(key, key+".pub"); err != nil {
		t.Fatal(err)
	}
	priv, _ := energy.LoadKey(key)
	pub, _ := energy.LoadPublicKey(key + ".pub")
	late := time.Now().Add(2 * time.Hour)
	closer := energy.Closer{Ledger: l, Sites: sites, Key: priv, Grace: time.Minute, Bucket: time.Second,
		Now: func() time.Time { return late }, Ready: func() bool { q, j := tp.d.Store().Backlog(); return q == 0 && j == 0 }}
	if hours, err := closer.CloseDue(ctx); err != nil || len(hours) == 0 {
		t.Fatalf("CloseDue: %v, %v", hours, err)
	}
	start := from.Add(-2 * time.Hour)
	p := energy.Reporter{Ledger: l, Reader: tp.d.Store().Reader, Sites: sites}
	rows, err := p.Report(ctx, start, late, "")
	if err != nil {
		t.Fatal(err)
	}
	work := map[string]float64{}
	rejected := map[string]int64{}
	pool := map[time.Time]float64{}
	sum := map[time.Time]float64{}
	for _, r := range rows {
		if contains(r.Flags, energy.FlagOpen) {
			t.Errorf("row %s %s still open after close", r.Hour, r.Site)
		}
		work[r.Site] += r.Work
		rejected[r.Site] += r.Rejected
		sum[r.Hour] += r.Work
		var rec energy.Record
		if err := jsonUnmarshal(r.Record, &rec); err != nil {
			t.Fatal(err)
		}
		pool[r.Hour] = rec.PoolWork
		j, o, _ := sites.Efficiency(r.Site)
		if want := energy.KWh(r.Work, j, o); math.Abs(r.Estimate.KWh-want) > 1e-12*want {
			t.Errorf("%s %s: %v kWh, want %v", r.Hour, r.Site, r.Estimate.KWh, want)
		}
		if want := r.Work * 4294967296 / 1e12; math.Abs(r.TH-want) > 1e-12*want {
			t.Errorf("%s %s: %v TH, want %v", r.Hour, r.Site, r.TH, want)
		}
	}
	for s, st := range map[string]cpuminer.Stats{"alpha": sa, "beta": sb} {
		// A submit whose reply was still on the way when the miner
		// stopped was judged by the pool but not seen by the miner: the
		// pool's count may exceed the miner's by those, never more.
		unanswered := st.Submitted - st.Accepted - st.Rejected
		if s == "alpha" {
			st.Rejected += badSubmits // the probe's, on its own connection
		}
		lo, hi := float64(st.Accepted)*d, float64(st.Accepted+unanswered)*d
		if work[s] < lo*(1-1e-9) || work[s] > hi*(1+1e-9) || (unanswered == 0 && math.Abs(work[s]-lo) > 1e-9*lo) {
			t.Errorf("site %s: work %v, want %v (%d shares the miner saw accepted × %v; %d unanswered)", s, work[s], lo, st.Accepted, d, unanswered)
		}
		if rejected[s] < int64(st.Rejected) || rejected[s] > int64(st.Rejected+unanswered) {
			t.Errorf("site %s: %d rejected, the miner saw %d (%d unanswered)", s, rejected[s], st.Rejected, unanswered)
		}
	}
	// Blocks per site: on regtest nearly every share is a block; each
	// block record carries its finder's site.
	blocks := tp.settle(t)
	found := map[string]int{}
	for _, b := range blocks {
		found[b.Site]++
	}
	rows, err = p.Report(ctx, start, late, "")
	if err != nil {
		t.Fatal(err)
	}
	reported := map[string]int{}
	for _, r := range rows {
		reported[r.Site] += r.Blocks
	}
	if found["alpha"] == 0 || found["beta"] == 0 || reported["alpha"] != found["alpha"] || reported["beta"] != found["beta"] {
		t.Errorf("blocks per site: reported %v, recorded %v", reported, found)
	}
	checkEarnings(t, tp, p, rows, start, late)
	for h, pw := range pool {
		if math.Abs(sum[h]-pw) > 1e-9*pw {
			t.Errorf("hour %s: sites sum to %v, the pool recorded %v", h, sum[h], pw)
		}
	}
	// An inflated meter: alpha's estimate for each hour, doubled.
	var csv strings.Builder
	csv.WriteString("start,end,kwh\n")
	for _, r := range rows {
		if r.Site == "alpha" {
			csv.WriteString(r.Hour.Format(time.RFC3339) + "," + r.Hour.Add(time.Hour).Format(time.RFC3339) + "," +
				strconv.FormatFloat(2*r.Estimate.High, 'g', -1, 64) + "\n")
		}
	}
	hours, err := energy.ParseMeter(strings.NewReader(csv.String()))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetMeter(ctx, "alpha", hours); err != nil {
		t.Fatal(err)
	}
	rows, err = p.Report(ctx, start, late, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	var export bytes.Buffer
	if err := energy.WriteRows(&export, rows, "json"); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Work > 0 && !contains(r.Flags, energy.FlagMeterOver) {
			t.Errorf("inflated meter not flagged: %+v", r)
		}
	}
	// The export verifies; one edited byte in it does not.
	lines, err := l.Chain(ctx, start.UnixMilli(), late.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	chain := []byte(strings.Join(lines, "\n") + "\n")
	if _, err := energy.Verify(bytes.NewReader(chain), pub); err != nil {
		t.Fatalf("verify: %v", err)
	}
	at := bytes.Index(chain, []byte(`"accepted":`)) + len(`"accepted":`)
	chain[at] ^= 1 // a digit becomes another digit
	var ve *energy.VerifyError
	if _, err := energy.Verify(bytes.NewReader(chain), pub); !errors.As(err, &ve) || ve.Line != 1 || ve.Problem != "altered" {
		t.Errorf("edited byte: %v", err)
	}
	// Curtailment: beta went to zero inside the window and stayed there.
	rep, err := cur.Report(ctx, l, sites, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Met || rep.Complied == nil || rep.Complied.Before(from) || !rep.Complied.Before(to) || rep.BaselineMW <= 0 {
		t.Errorf("curtailment: met %v complied %v (window %s) baseline %v MW", rep.Met, rep.Complied, from, rep.BaselineMW)
	}
	t.Logf("alpha %d accepted, beta %d; beta complied %v after the window opened", sa.Accepted, sb.Accepted, rep.TimeToComply)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func contains(list []string, s string) bool { return slices.Contains(list, s) }

// checkEarnings is the BTC earned part of TestEnergyAuditTwoSites: while
// the found blocks are immature their hours are pending; the payout job
// (run on the pool's config against the same btcd, cold: no key) credits
// them, each credited block's split over the sites sums to what its
// accounts got, and the report's btc_earned per site adds up the parts.
func checkEarnings(t *testing.T, tp *testPool, p energy.Reporter, rows []energy.Row, start, end time.Time) {
	t.Helper()
	ctx := testContext(t)
	pending := 0
	for _, r := range rows {
		if r.Blocks > 0 && !contains(r.Flags, energy.FlagEarnPend) {
			t.Errorf("%s %s: %d blocks found, not yet credited, but not flagged %s", r.Hour, r.Site, r.Blocks, energy.FlagEarnPend)
		}
		if contains(r.Flags, energy.FlagEarnPend) {
			pending++
		}
	}
	if pending == 0 {
		t.Fatal("no row waits for a block's credit")
	}
	if _, err := tp.node.Generate(ctx, config.CoinbaseMaturity); err != nil {
		t.Fatal(err)
	}
	j, err := payoutjob.Open(tp.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	o, err := j.Options(true, io.Discard, zap.NewNop()) // the options without a key
	if err != nil {
		t.Fatal(err)
	}
	o.DryRun, o.Cold, o.PSBTDir = false, true, t.TempDir() // cold: batches go to PSBT files
	rep, err := payout.Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Credited) == 0 {
		t.Fatalf("the payout run credited no block: %+v", rep)
	}
	l := redisstore.NewEnergyLedger(tp.d.Store().Client(), tp.cfg.Redis.Prefix)
	earned, err := l.BlockEarnings(ctx, rep.Credited)
	if err != nil {
		t.Fatal(err)
	}
	perSite := map[string]int64{}
	for _, h := range rep.Credited {
		s, err := tp.d.Store().Client().HGet(ctx, tp.cfg.Redis.Prefix+":{acct}:block:"+h, "credited_sum").Result()
		if err != nil {
			t.Fatal(err)
		}
		credited, _ := strconv.ParseInt(s, 10, 64)
		var sum int64
		for site, v := range earned[h] {
			sum += v
			perSite[site] += v
		}
		if sum != credited {
			t.Errorf("block %s: sites earned %v (sum %d), its accounts were credited %d", h, earned[h], sum, credited)
		}
	}
	rows, err = p.Report(ctx, start, end, "")
	if err != nil {
		t.Fatal(err)
	}
	reported := map[string]float64{}
	for _, r := range rows {
		reported[r.Site] += r.BTCEarned
		if contains(r.Flags, energy.FlagEarnPend) && rep.Waiting == 0 {
			t.Errorf("%s %s: still %s after every block was credited or orphaned", r.Hour, r.Site, energy.FlagEarnPend)
		}
	}
	for _, s := range []string{"alpha", "beta"} {
		if perSite[s] == 0 || math.Abs(reported[s]-float64(perSite[s])/1e8) > 1e-8 {
			t.Errorf("site %s: report says %v BTC earned, the credited blocks' parts sum to %d sat", s, reported[s], perSite[s])
		}
	}
	t.Logf("%d blocks credited; earned: alpha %d sat, beta %d sat", len(rep.Credited), perSite["alpha"], perSite["beta"])
}
