package energy_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"math"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/internal/energy"
	"github.com/tarbela-pool/tarbela/payout"
	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// earnEnv is a store of the given payout scheme, a closer and a reporter on
// one Redis.
type earnEnv struct {
	c      redis.UniversalClient
	st     *redisstore.Store
	l      *redisstore.EnergyLedger
	closer *energy.Closer
	rep    energy.Reporter
	pub    ed25519.PublicKey
	seq    uint64
}

func newEarnEnv(t *testing.T, scheme string) *earnEnv {
	t.Helper()
	c := startRedis(t)
	ctx := context.Background()
	o := c.(*redis.Client).Options()
	st, err := redisstore.New(redisstore.Options{Addr: o.Addr, Password: o.Password, Scheme: scheme, PPLNSWindow: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Stop(context.Background()) })
	key := filepath.Join(t.TempDir(), "energy.key")
	if err := energy.GenerateKey(key, key+".pub"); err != nil {
		t.Fatal(err)
	}
	priv, err := energy.LoadKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := energy.LoadPublicKey(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	l := redisstore.NewEnergyLedger(c, "")
	sites := testSites()
	return &earnEnv{c: c, st: st, l: l, pub: pub,
		closer: &energy.Closer{Ledger: l, Sites: sites, Key: priv, Now: time.Now},
		rep:    energy.Reporter{Ledger: l, Reader: redisstore.NewReader(c, "", 0), Sites: sites, Scheme: scheme}}
}

// mine records n shares of difficulty d of the account's worker at site
// (resolved by the test sites) one second apart from at.
func (e *earnEnv) mine(t *testing.T, account, worker string, d float64, n int, at time.Time) {
	t.Helper()
	unit := e.closer.Sites.Resolve(account, worker, netip.Addr{})
	for i := range n {
		e.seq++
		r := share.Record{Node: 1, Seq: e.seq, Worker: worker, Account: account, Difficulty: d, ShareDifficulty: d,
			Time: at.Add(time.Duration(i) * time.Second), Height: 100, JobID: "1", Site: unit,
			NetDifficulty: 1e6, CoinbaseValue: 5_000_000_000}
		if err := e.st.AddShare(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (e *earnEnv) report(t *testing.T, from time.Time) map[string]energy.Row {
	t.Helper()
	rows, err := e.rep.Report(context.Background(), from, from.Add(time.Hour), "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]energy.Row{}
	for _, r := range rows {
		out[r.Site] = r
	}
	return out
}

// TestReportBlockEarnings (PPLNS): a block found in an hour is pending in
// the report until the payout run credits it; then each site's btc_earned
// is its part of the credit, the parts sum to what the accounts got, and
// the closed hour's records (signed before the credit) still verify.
func TestReportBlockEarnings(t *testing.T) {
	e := newEarnEnv(t, "pplns")
	ctx := context.Background()
	hour := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	e.mine(t, "accn", "accn.rig1", 1024, 300, hour.Add(5*time.Minute))   // north
	e.mine(t, "accs", "accs.big-1", 512, 200, hour.Add(10*time.Minute))  // south
	e.mine(t, "accn", "accn.s21-1", 2048, 100, hour.Add(15*time.Minute)) // north, fleet s21
	if err := e.st.AddBlockWait(ctx, &share.BlockRecord{Height: 100, Hash: "00aa", Worker: "accn.rig1", Account: "accn",
		Reward: 5_000_000_000, Status: share.BlockAccepted, Time: hour.Add(30 * time.Minute), NetDifficulty: 1e6,
		Site: "north"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.closer.CloseDue(ctx); err != nil {
		t.Fatal(err)
	}
	rows := e.report(t, hour)
	for _, s := range []string{"north", "south"} {
		if r := rows[s]; r.BTCEarned != 0 || !contains(r.Flags, energy.FlagEarnPend) {
			t.Errorf("%s before the credit: earned %v, flags %v; want 0 and %s", s, r.BTCEarned, r.Flags, energy.FlagEarnPend)
		}
	}
	// The payout run's credit: accounts and sites split alike.
	rd := redisstore.NewReader(e.c, "", 0)
	win, err := rd.PPLNSWindow(ctx, "00aa")
	if err != nil {
		t.Fatal(err)
	}
	siteWork, err := rd.BlockSiteWork(ctx, "00aa", true)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"north": 1024*300 + 2048*100, "south": 512 * 200}
	for s, w := range want {
		if math.Abs(siteWork[s]-w) > 1e-12*w {
			t.Errorf("site %s worked %v in the window, want %v", s, siteWork[s], w)
		}
	}
	const reward, fee = 5_000_000_000, 50_000_000
	credits, err := payout.Split(reward-fee, win)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := payout.Split(reward-fee, siteWork)
	if err != nil {
		t.Fatal(err)
	}
	l := redisstore.NewLedger(e.c, "")
	lease, err := l.Lock(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreditBlock(ctx, lease, redisstore.BlockCredit{Hash: "00aa", Credits: credits, Fee: fee, Reward: reward,
		Sites: parts}); err != nil {
		t.Fatal(err)
	}
	rows = e.report(t, hour)
	var sum int64
	for _, s := range []string{"north", "south"} {
		r := rows[s]
		if math.Abs(r.BTCEarned-float64(parts[s])/1e8) > 1e-9 || contains(r.Flags, energy.FlagEarnPend) {
			t.Errorf("%s after the credit: earned %v BTC, flags %v; want %v", s, r.BTCEarned, r.Flags, float64(parts[s])/1e8)
		}
		sum += parts[s]
	}
	if sum != reward-fee {
		t.Errorf("sites' parts sum to %d, the accounts got %d", sum, reward-fee)
	}
	var export bytes.Buffer
	if err := energy.WriteRows(&export, []energy.Row{rows["north"], rows["south"]}, "json"); err != nil {
		t.Fatal(err)
	}
	if _, err := energy.VerifyPartial(&export, e.pub); err != nil {
		t.Errorf("the report's rows with btc_earned do not verify: %v", err)
	}
}

// TestReportPPSEarnings: under FPPS each site-hour's worth (d/D × the
// coinbase value) is sealed in its record and is the row's btc_earned;
// blocks never make an FPPS row pending.
func TestReportPPSEarnings(t *testing.T) {
	e := newEarnEnv(t, "fpps")
	ctx := context.Background()
	hour := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	e.mine(t, "accn", "accn.rig1", 1024, 30, hour.Add(5*time.Minute))
	e.mine(t, "accs", "accs.big-1", 512, 20, hour.Add(10*time.Minute))
	if err := e.st.AddBlockWait(ctx, &share.BlockRecord{Height: 100, Hash: "00bb", Worker: "accn.rig1", Account: "accn",
		Reward: 5_000_000_000, Status: share.BlockAccepted, Time: hour.Add(30 * time.Minute), NetDifficulty: 1e6,
		Site: "north"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.closer.CloseDue(ctx); err != nil {
		t.Fatal(err)
	}
	rows := e.report(t, hour)
	want := map[string]float64{"north": 30 * 1024 / 1e6 * 5e9, "south": 20 * 512 / 1e6 * 5e9} // satoshis
	for s, w := range want {
		r := rows[s]
		var rec energy.Record
		if err := jsonUnmarshal(r.Record, &rec); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if math.Abs(rec.PPSWorth-w) > 1e-9*w || math.Abs(r.BTCEarned-w/1e8) > 1e-9*w/1e8 || contains(r.Flags, energy.FlagEarnPend) {
			t.Errorf("%s: record worth %v sat, row earned %v BTC, flags %v; want %v sat", s, rec.PPSWorth, r.BTCEarned, r.Flags, w)
		}
		if !strings.Contains(string(r.Record), `"pps_sat":`) {
			t.Errorf("%s: the sealed record holds no pps_sat: %s", s, r.Record)
		}
	}
}
