package energy_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/internal/energy"
	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

func startRedis(t testing.TB) redis.UniversalClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := localnet.StartRedis(ctx, localnet.RedisOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(r.Stop)
	c := redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.Password})
	t.Cleanup(func() { c.Close() })
	return c
}

func testSites() *energy.Sites {
	return energy.NewSites([]energy.Site{
		{Name: "north", Accounts: []string{"accn"}, JPerTH: 30, Overhead: 1.1, MeterTolerance: 0.05,
			Fleets: []energy.Fleet{{Name: "s21", RigPrefix: "s21-", JPerTH: 17.5}}},
		{Name: "south", Addresses: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")}, WorkerPrefixes: []string{"accs.big-"}, JPerTH: 21, Overhead: 1},
	})
}

func TestResolve(t *testing.T) {
	s := testSites()
	for _, c := range []struct {
		account, worker, addr, want string
	}{
		{"accn", "accn.rig1", "192.0.2.1", "north"},
		{"accn", "accn.s21-7", "192.0.2.1", "north/s21"},
		{"accx", "accx.r", "10.2.3.4", "south"},
		{"accn", "accn.r", "10.2.3.4", "north"}, // account before address
		{"accs", "accs.big-1", "192.0.2.1", "south"},
		{"accx", "accx.r", "192.0.2.1", ""},
	} {
		if got := s.Resolve(c.account, c.worker, netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("Resolve(%s, %s, %s) = %q, want %q", c.account, c.worker, c.addr, got, c.want)
		}
	}
}

// TestEstimateInterval: the 95 % interval of n shares of one difficulty
// is ±1.96/sqrt(n): one ASIC-hour at a share per 10 s (360 shares) is
// about ±10 %, a thousand of them about ±0.33 %.
func TestEstimateInterval(t *testing.T) {
	for _, n := range []float64{360, 360000} {
		d := 65536.0
		got := energy.RelativeError95(n*d, n*d*d)
		if want := 1.959963984540054 / math.Sqrt(n); math.Abs(got-want) > 1e-12 {
			t.Errorf("n=%v: %v, want %v", n, got, want)
		}
	}
	// 1 TH at 30 J/TH is 30 J; at overhead 1.2, 36 J = 1e-5 kWh.
	work := 1e12 / energy.HashesPerDifficulty
	if got := energy.KWh(work, 30, 1.2); math.Abs(got-1e-5) > 1e-18 {
		t.Errorf("KWh = %v, want 1e-5", got)
	}
}

// TestCloseVerifyMeterCurtail drives the whole audit through a real Redis
// and the share store on a controlled clock: two sites' shares over two
// hours, a reject, closing (reconciled with the pool's work), the sealed
// chain verified and each kind of tampering named, an inflated meter
// flagged, and a site that stopped inside a curtailment window reported
// as complying.
func TestCloseVerifyMeterCurtail(t *testing.T) {
	c := startRedis(t)
	ctx := context.Background()
	addr := c.(*redis.Client).Options().Addr
	st, err := redisstore.New(redisstore.Options{Addr: addr, Password: c.(*redis.Client).Options().Password, EnergyBucket: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer st.Stop(ctx)
	sites := testSites()
	base := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	// Hour 1: north mines at difficulty 1024 (two fleets), south at 512;
	// a curtailment window from minute 70 to 80 asks south to shed; south
	// stops at minute 71.
	type w struct{ account, worker string }
	north, north21, south := w{"accn", "accn.rig1"}, w{"accn", "accn.s21-1"}, w{"accs", "accs.big-1"}
	var seq uint64
	want := map[string]float64{}
	add := func(x w, d float64, at time.Time) {
		seq++
		unit := sites.Resolve(x.account, x.worker, netip.Addr{})
		r := share.Record{Node: 1, Seq: seq, Worker: x.worker, Account: x.account, Difficulty: d, ShareDifficulty: d,
			Time: at, Height: 1, JobID: "1", Site: unit}
		if err := st.AddShare(r); err != nil {
			t.Fatal(err)
		}
		want[at.Truncate(time.Hour).Format(time.RFC3339)+"|"+energy.SiteOf(unit)] += d
	}
	for s := 0; s < 2*3600; s += 5 {
		at := base.Add(time.Duration(s) * time.Second)
		add(north, 1024, at)
		if s%10 == 0 {
			add(north21, 2048, at)
		}
		if s < 71*60 {
			add(south, 512, at)
		}
	}
	st.AddReject("south", base.Add(time.Minute))
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	l := redisstore.NewEnergyLedger(c, "")
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
	// Record the request before closing: closing keeps its buckets.
	cur, err := energy.AddCurtailment(ctx, l, energy.Curtailment{Site: "south", From: base.Add(70 * time.Minute),
		To: base.Add(80 * time.Minute), ShedMW: 1e-9, Recorded: time.Now()}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	now := base.Add(69 * time.Minute) // hour 1 is due at 60 + 10 min of grace
	closer := energy.Closer{Ledger: l, Sites: sites, Key: priv, Grace: 10 * time.Minute, Bucket: time.Second,
		Now: func() time.Time { return now }}
	if hours, err := closer.CloseDue(ctx); err != nil || len(hours) != 0 {
		t.Fatalf("CloseDue before the grace: %v, %v", hours, err)
	}
	now = base.Add(2*time.Hour + 11*time.Minute)
	hours, err := closer.CloseDue(ctx)
	if err != nil || len(hours) != 2 {
		t.Fatalf("CloseDue: %v, %v; want two hours", hours, err)
	}
	// A share for a closed hour goes to a late record, never the closed one.
	add(north, 1, base.Add(time.Minute))
	want[base.Format(time.RFC3339)+"|north"]-- // late: not in the closed figures
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := closer.CloseDue(ctx); err != nil {
		t.Fatal(err)
	}
	lines, err := l.Chain(ctx, base.UnixMilli(), base.Add(2*time.Hour).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	export := []byte(strings.Join(lines, "\n") + "\n")
	// Memory per sealed site-hour (docs/energy.md): Redis's own MEMORY
	// USAGE of the chain and its hour index, over the records.
	var mem int64
	for _, k := range []string{"tarbela:{acct}:en:chain", "tarbela:{acct}:en:chain:hour"} {
		n, err := c.MemoryUsage(ctx, k, 0).Result()
		if err != nil {
			t.Fatal(err)
		}
		mem += n
	}
	t.Logf("chain: %d records, %d bytes in Redis, %d bytes per record", len(lines), mem, mem/int64(len(lines)))
	if _, err := energy.Verify(bytes.NewReader(export), pub); err != nil {
		t.Fatalf("Verify of the untouched export: %v", err)
	}
	p := energy.Reporter{Ledger: l, Sites: sites}
	rows, err := p.Report(ctx, base, base.Add(2*time.Hour), "")
	if err != nil {
		t.Fatal(err)
	}
	pool := map[string]float64{}
	sum := map[string]float64{}
	for _, r := range rows {
		h := r.Hour.Format(time.RFC3339)
		var rec energy.Record
		if err := jsonUnmarshal(r.Record, &rec); err != nil {
			t.Fatalf("row %s %s: record %v", h, r.Site, err)
		}
		pool[h] = rec.PoolWork
		sum[h] += r.Work
		if w := want[h+"|"+r.Site]; math.Abs(r.Work-w) > 1e-9*w {
			t.Errorf("%s %s: work %v, want %v (the shares sent)", h, r.Site, r.Work, w)
		}
		// kWh follows the formula, unit by unit.
		var kwh float64
		for _, u := range rec.Units {
			j, o, _ := sites.Efficiency(u.Unit)
			kwh += energy.KWh(u.Work, j, o)
		}
		if math.Abs(r.Estimate.KWh-kwh) > 1e-12*kwh || !(r.Estimate.Low < kwh && kwh < r.Estimate.High) {
			t.Errorf("%s %s: estimate %+v, want %v inside its interval", h, r.Site, r.Estimate, kwh)
		}
		if h == base.Format(time.RFC3339) && r.Site == "north" && (r.LateWork != 1 || !contains(r.Flags, energy.FlagLate)) {
			t.Errorf("late share: %+v", r)
		}
		if h == base.Format(time.RFC3339) && r.Site == "south" && (r.Rejected != 1 || r.Workers != 1) {
			t.Errorf("south hour 1: rejected %d workers %d, want 1 and 1", r.Rejected, r.Workers)
		}
	}
	for h, pw := range pool {
		if math.Abs(sum[h]-pw) > 1e-9*pw {
			t.Errorf("hour %s: sites sum to %v, the pool recorded %v", h, sum[h], pw)
		}
	}
	// Tampering: one edited byte, a removed record, two swapped.
	i := bytes.Index(export, []byte(`"work":`)) + len(`"work":`)
	edited := bytes.Clone(export)
	edited[i] = '9'
	if edited[i] == export[i] {
		edited[i] = '8'
	}
	var ve *energy.VerifyError
	if _, err := energy.Verify(bytes.NewReader(edited), pub); !errors.As(err, &ve) || ve.Line != 1 || ve.Problem != "altered" {
		t.Errorf("edited byte: %v", err)
	}
	removed := strings.Join(append(append([]string{}, lines[:1]...), lines[2:]...), "\n")
	if _, err := energy.Verify(strings.NewReader(removed), pub); !errors.As(err, &ve) || ve.Line != 2 || ve.Problem != "removed" {
		t.Errorf("removed record: %v", err)
	}
	// An export of one site's records has gaps: VerifyPartial takes it,
	// Verify calls the gap a removal; a swap is caught by both.
	if _, err := energy.VerifyPartial(strings.NewReader(removed), pub); err != nil {
		t.Errorf("VerifyPartial of an export with a gap: %v", err)
	}
	if _, err := energy.VerifyPartial(strings.NewReader(strings.Join([]string{lines[2], lines[0]}, "\n")), pub); !errors.As(err, &ve) || ve.Problem != "reordered" {
		t.Errorf("VerifyPartial of swapped records: %v", err)
	}
	swapped := strings.Join([]string{lines[0], lines[2], lines[1]}, "\n")
	if _, err := energy.Verify(strings.NewReader(swapped), pub); !errors.As(err, &ve) || ve.Line != 2 {
		t.Errorf("swapped records: %v", err)
	}
	// An inflated meter is flagged; a faithful one is not.
	var southKWh, northKWh float64
	for _, r := range rows {
		if r.Hour.Equal(base) && r.Site == "south" {
			southKWh = r.Estimate.KWh
		}
		if r.Hour.Equal(base) && r.Site == "north" {
			northKWh = r.Estimate.KWh
		}
	}
	meter := func(site string, kwh float64) {
		csv := "start,end,kwh\n" + base.Format(time.RFC3339) + "," + base.Add(time.Hour).Format(time.RFC3339) + "," +
			strings.TrimRight(strings.TrimRight(fmtG(kwh), "0"), ".") + "\n"
		hours, err := energy.ParseMeter(strings.NewReader(csv))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.SetMeter(ctx, site, hours); err != nil {
			t.Fatal(err)
		}
	}
	meter("south", southKWh*1.5)
	meter("north", northKWh)
	rows, err = p.Report(ctx, base, base.Add(time.Hour), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		switch r.Site {
		case "south":
			if !contains(r.Flags, energy.FlagMeterOver) {
				t.Errorf("inflated meter not flagged: %+v", r)
			}
		case "north":
			if contains(r.Flags, energy.FlagMeterOver) || contains(r.Flags, energy.FlagMeterUnder) {
				t.Errorf("faithful meter flagged: %+v", r)
			}
		}
	}
	rep, err := cur.Report(ctx, l, sites, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Met || rep.Complied == nil || rep.TimeToComply != 56*time.Second || rep.BaselineMW <= 0 {
		t.Errorf("curtailment: met %v complied %v after %v baseline %v", rep.Met, rep.Complied, rep.TimeToComply, rep.BaselineMW)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func fmtG(v float64) string { return strconv.FormatFloat(v, 'f', 12, 64) }

// TestCloserRun: the loop closes what is due and returns when its context
// ends.
func TestCloserRun(t *testing.T) {
	c := startRedis(t)
	ctx := context.Background()
	opt := c.(*redis.Client).Options()
	st, err := redisstore.New(redisstore.Options{Addr: opt.Addr, Password: opt.Password})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer st.Stop(ctx)
	at := time.Date(2026, 12, 1, 10, 5, 0, 0, time.UTC)
	if err := st.AddShareWait(ctx, share.Record{Node: 1, Seq: 1, Worker: "accn.r", Account: "accn", Difficulty: 3, Time: at, Site: "north"}); err != nil {
		t.Fatal(err)
	}
	l := redisstore.NewEnergyLedger(c, "")
	_, priv, _ := ed25519.GenerateKey(nil)
	closer := energy.Closer{Ledger: l, Sites: testSites(), Key: priv, Now: func() time.Time { return at.Add(2 * time.Hour) }}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		closer.Run(rctx, 10*time.Millisecond)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		h, err := l.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h.Seq > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the closer sealed nothing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}
