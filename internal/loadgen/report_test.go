package loadgen

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// twoReports are what two processes loading the same pool might report.
func twoReports() (*Report, *Report) {
	var h1, h2 Histogram
	for i := range uint64(100) {
		h1.RecordMicros(100 + i) // 100..199 µs
		h2.RecordMicros(1000)
	}
	a := &Report{Version: ReportVersion, Pool: "127.0.0.1:3333", Processes: 1, Started: 1000, Seconds: 20, Miners: 100, Rate: 1,
		Connections: Connections{Attempted: 100, Connected: 100, Subscribed: 100, Authorized: 100, WithWork: 100, LiveAtEnd: 100,
			DialErrors: map[string]uint64{"timeout": 1}, Sources: map[string]int{"127.0.0.2": 50, "127.0.0.3": 50}},
		Shares: Shares{Submitted: 2000, Accepted: 1990, Rejected: 10, RejectsByCode: map[string]uint64{"21": 10},
			Window: 19, Steady: true, AcceptedPS: 100, RejectedPS: 0.5, SubmittedPS: 100.5},
		Latency: h1.Snapshot(),
		Fanout: Fanout{Rounds: []Round{{PrevHash: "aa", First: 5000, Last: 9000, Miners: 100, Block: 4000},
			{PrevHash: "bb", First: 20000, Last: 21000, Miners: 100}}},
		PoolRSS: []RSSSample{{PID: 42, BaselineBytes: 10 << 20, EndBytes: 20 << 20, Miners: 100}},
	}
	b := &Report{Version: ReportVersion, Pool: "127.0.0.1:3333", Processes: 1, Started: 900, Seconds: 21, Miners: 300, Rate: 1,
		Connections: Connections{Attempted: 300, Connected: 299, Subscribed: 299, Authorized: 299, WithWork: 299, LiveAtEnd: 299,
			DialErrors: map[string]uint64{"timeout": 1}, Sources: map[string]int{"127.0.0.3": 149, "127.0.0.4": 150}},
		Shares:  Shares{Submitted: 6000, Accepted: 6000, Window: 20, Steady: true, AcceptedPS: 300, SubmittedPS: 300},
		Latency: h2.Snapshot(),
		Fanout:  Fanout{Rounds: []Round{{PrevHash: "aa", First: 4500, Last: 12000, Miners: 299}}},
		PoolRSS: []RSSSample{{PID: 42, BaselineBytes: 11 << 20, EndBytes: 22 << 20, Miners: 299}},
	}
	return a, b
}

// TestMerge checks how the reports of concurrent processes combine.
func TestMerge(t *testing.T) {
	a, b := twoReports()
	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"processes", m.Processes, 2},
		{"pool", m.Pool, "127.0.0.1:3333"},
		{"started", m.Started, int64(900)},
		{"seconds", m.Seconds, 21.0},
		{"miners", m.Miners, 400},
		{"connected", m.Connections.Connected, uint64(399)},
		{"live", m.Connections.LiveAtEnd, 399},
		{"dial timeouts", m.Connections.DialErrors["timeout"], uint64(2)},
		{"sources", len(m.Connections.Sources), 3},
		{"shared source", m.Connections.Sources["127.0.0.3"], 199},
		{"accepted", m.Shares.Accepted, uint64(7990)},
		{"rejects 21", m.Shares.RejectsByCode["21"], uint64(10)},
		{"accepted/s add", m.Shares.AcceptedPS, 400.0},
		{"steady", m.Shares.Steady, true},
		{"latency count", m.Latency.Count, uint64(200)},
		{"latency p99", m.Latency.Quantile(0.99), uint64(1000)},
		{"latency max", m.Latency.MaxMicros, uint64(1000)},
		{"rounds", len(m.Fanout.Rounds), 2},
		{"round aa first", m.Fanout.Rounds[0].First, int64(4500)},
		{"round aa last", m.Fanout.Rounds[0].Last, int64(12000)},
		{"round aa miners", m.Fanout.Rounds[0].Miners, 399},
		{"round aa block", m.Fanout.Rounds[0].Block, int64(4000)},
		{"rss samples", len(m.PoolRSS), 1},
		{"rss end", m.PoolRSS[0].EndBytes, uint64(22 << 20)},
		{"rss baseline", m.PoolRSS[0].BaselineBytes, uint64(10 << 20)},
		{"rss miners", m.PoolRSS[0].Miners, 399},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if a.Shares.RejectsByCode["21"] != 10 || len(a.Fanout.Rounds) != 2 || a.Fanout.Rounds[0].Miners != 100 {
		t.Error("Merge modified its input")
	}
}

// TestMergeErrors checks the refusals.
func TestMergeErrors(t *testing.T) {
	tests := []struct {
		name    string
		reports []*Report
	}{
		{"none", nil},
		{"old format", []*Report{{Version: ReportVersion}, {Version: ReportVersion + 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Merge(tc.reports...); err == nil {
				t.Error("Merge accepted them")
			}
		})
	}
}

// TestReportJSONRoundTrip checks that a report survives the JSON that
// --json writes and --combine reads.
func TestReportJSONRoundTrip(t *testing.T) {
	a, _ := twoReports()
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(&back)
	if string(b) != string(b2) {
		t.Errorf("round trip changed the report:\n%s\n%s", b, b2)
	}
}

// TestFanoutSummary checks the per-round figures.
func TestFanoutSummary(t *testing.T) {
	ms := int64(time.Millisecond)
	f := Fanout{Rounds: []Round{
		{PrevHash: "a", Block: 0, First: 2 * ms, Last: 12 * ms, Miners: 10},
		{PrevHash: "b", Block: 100 * ms, First: 103 * ms, Last: 133 * ms, Miners: 10},
		{PrevHash: "c", First: 200 * ms, Last: 900 * ms, Miners: 3},
	}}
	s := f.Summary(5)
	if s.Rounds != 2 || s.MinMiners != 10 || s.MaxMiners != 10 {
		t.Errorf("rounds %d (%d..%d miners), want 2 of 10", s.Rounds, s.MinMiners, s.MaxMiners)
	}
	if s.Spread.Max != 30 || s.BlockToFirst.Max != 3 || s.BlockToLast.Max != 33 || s.BlockToLast.Count != 1 {
		t.Errorf("spread max %g ms, block to first %g, to last %g (%d): want 30, 3, 33 (1)",
			s.Spread.Max, s.BlockToFirst.Max, s.BlockToLast.Max, s.BlockToLast.Count)
	}
	if all := f.Summary(0); all.Rounds != 3 || all.Spread.Max != 700 {
		t.Errorf("without a floor: %d rounds, spread max %g, want 3 and 700", all.Rounds, all.Spread.Max)
	}
}

// TestWriteText checks that the text report carries the headline figures.
func TestWriteText(t *testing.T) {
	a, b := twoReports()
	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	if err := m.WriteText(&sb); err != nil {
		t.Fatal(err)
	}
	out := sb.String()
	for _, want := range []string{"accepted 400.0/s", "rejected 10 {21 stale: 10}", "2 round(s)", "pool pid 42 RSS", "source addresses: 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// TestFanoutArrive checks round bookkeeping: the earliest arrival is the
// first even when it is recorded second, and rounds past the cap are
// counted as dropped.
func TestFanoutArrive(t *testing.T) {
	f := newFanout()
	t0 := time.Unix(1000, 0)
	f.block("p", t0.Add(-time.Millisecond))
	f.arrive("p", t0.Add(2*time.Millisecond))
	f.arrive("p", t0)
	f.arrive("p", t0.Add(5*time.Millisecond))
	rounds, arrivals := f.snapshot()
	if len(rounds) != 1 {
		t.Fatalf("%d rounds, want 1", len(rounds))
	}
	r := rounds[0]
	if r.First != t0.UnixNano() || r.Spread() != 5*time.Millisecond || r.Miners != 3 || r.Block != t0.Add(-time.Millisecond).UnixNano() {
		t.Errorf("round %+v: want first at t0, spread 5ms, 3 miners, block 1ms before", r)
	}
	if arrivals.Count != 3 {
		t.Errorf("%d arrivals, want 3", arrivals.Count)
	}
	for i := range maxRounds + 5 {
		f.arrive(fmt.Sprint("r", i), t0)
	}
	if f.dropped != 6 { // "p" took one slot
		t.Errorf("dropped %d rounds, want 6", f.dropped)
	}
}

// TestParseRSS checks VmRSS extraction.
func TestParseRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    uint64
		wantErr bool
	}{
		{"normal", "Name:\tx\nVmPeak:\t  999 kB\nVmRSS:\t    5120 kB\nThreads:\t3\n", 5120 * 1024, false},
		{"missing", "Name:\tkthreadd\nThreads:\t1\n", 0, true},
		{"bad unit", "VmRSS:\t5 MB\n", 0, true},
		{"not a number", "VmRSS:\tx kB\n", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRSS([]byte(tc.status))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseRSS = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
	rss, err := ReadRSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Errorf("ReadRSS(self) = %d, %v: want at least 1 MiB", rss, err)
	}
	if _, err := ReadRSS(1 << 30); err == nil {
		t.Error("ReadRSS of a pid that cannot exist succeeded")
	}
}

// TestStratumPrevHash converts the recorded job's previous block hash (as
// getblocktemplate gives it) to the notify's prevhash field.
func TestStratumPrevHash(t *testing.T) {
	got, err := stratumPrevHash("00000000000000022246451e9af7ac4f8bff2527d223f6e623740e92171592f2")
	if err != nil {
		t.Fatal(err)
	}
	if want := "171592f223740e92d223f6e68bff25279af7ac4f2246451e0000000200000000"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if _, err := stratumPrevHash("abcd"); err == nil {
		t.Error("a short hash was accepted")
	}
}

// TestOptionsValidate checks that every bad field is named.
func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Options)
		want []string // substrings of the error; none means valid
	}{
		{name: "valid", edit: func(*Options) {}},
		{name: "whole /16", edit: func(o *Options) { o.Sources = MaxSources }},
		{name: "localhost", edit: func(o *Options) { o.Pool = "localhost:3333" }},
		{name: "remote refused", edit: func(o *Options) { o.Pool = "192.0.2.1:3333" }, want: []string{"not a loopback"}},
		{name: "remote allowed", edit: func(o *Options) { o.Pool = "192.0.2.1:3333"; o.AllowRemote = true; o.Sources = 0 }},
		{name: "no port", edit: func(o *Options) { o.Pool = "127.0.0.1" }, want: []string{"host:port"}},
		{name: "several", edit: func(o *Options) { o.Miners = -1; o.Ramp = -2; o.Rate = 5000 },
			want: []string{"miners", "ramp", "rate"}},
		{name: "sources past /16", edit: func(o *Options) { o.Sources = MaxSources; o.SourceBase = netip.MustParseAddr("127.0.1.0") }, want: []string{"leave 127.0.0.0/16"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Pool: "127.0.0.1:3333", Sources: 4}
			tc.edit(&o)
			o = o.withDefaults()
			err := o.validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestSourceAddr checks the spread of miners over source addresses.
func TestSourceAddr(t *testing.T) {
	o := Options{Pool: "127.0.0.1:1", Sources: 300}.withDefaults()
	tests := []struct {
		n    int
		want string
	}{{0, "127.0.0.2"}, {1, "127.0.0.3"}, {253, "127.0.0.255"}, {254, "127.0.1.0"}, {299, "127.0.1.45"}, {300, "127.0.0.2"}}
	for _, tc := range tests {
		if got := o.sourceAddr(tc.n).IP.String(); got != tc.want {
			t.Errorf("miner %d: source %s, want %s", tc.n, got, tc.want)
		}
	}
	if o.Sources = 0; o.sourceAddr(5) != nil {
		t.Error("Sources 0 still picked an address")
	}
}

// TestMergeFiles merges reports written by WriteJSON, as --combine does,
// and checks that a missing or broken file is named in the error.
func TestMergeFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := twoReports()
	var files []string
	for i, r := range []*Report{a, b} {
		var sb strings.Builder
		if err := r.WriteJSON(&sb); err != nil {
			t.Fatal(err)
		}
		f := fmt.Sprintf("%s/r%d.json", dir, i)
		if err := os.WriteFile(f, []byte(sb.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	got, err := MergeFiles(files...)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("merged from files:\n%s\nmerged in memory:\n%s", gj, wj)
	}

	garbage := dir + "/garbage.json"
	if err := os.WriteFile(garbage, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{garbage, dir + "/none.json"} {
		if _, err := MergeFiles(files[0], f); err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("MergeFiles with %s = %v, want an error naming it", f, err)
		}
	}
	if _, err := MergeFiles(); err == nil {
		t.Error("MergeFiles of no file succeeded")
	}
}

// TestApplyDevnet checks that a devnet's devnet.json fills the pool, node
// RPC and payout address, and that a missing or broken file is an error.
func TestApplyDevnet(t *testing.T) {
	dir := t.TempDir()
	info := `{"stratum":"127.0.0.1:3333","node_rpc":"127.0.0.1:18443","node_rpc_user":"u","node_rpc_pass":"p","payout_address":"bcrt1qxyz"}`
	if err := os.WriteFile(dir+"/devnet.json", []byte(info), 0o600); err != nil {
		t.Fatal(err)
	}
	o := Options{User: "{addr}.bench{i}"}
	if err := o.ApplyDevnet(dir); err != nil {
		t.Fatal(err)
	}
	want := Options{Pool: "127.0.0.1:3333", User: "bcrt1qxyz.bench{i}",
		RPC: RPCOptions{URL: "http://127.0.0.1:18443", User: "u", Pass: "p"}}
	if o.Pool != want.Pool || o.User != want.User || o.RPC != want.RPC {
		t.Errorf("got pool %q user %q rpc %+v, want %q %q %+v", o.Pool, o.User, o.RPC, want.Pool, want.User, want.RPC)
	}
	kept := Options{Pool: "127.0.0.1:4444", RPC: RPCOptions{URL: "http://127.0.0.1:1"}}
	if err := kept.ApplyDevnet(dir); err != nil || kept.Pool != "127.0.0.1:4444" || kept.RPC.URL != "http://127.0.0.1:1" {
		t.Errorf("set pool and RPC were replaced: %+v, %v", kept, err)
	}
	if err := (&Options{}).ApplyDevnet(t.TempDir()); err == nil || !strings.Contains(err.Error(), "devnet.json") {
		t.Errorf("missing devnet.json: %v", err)
	}
	if err := os.WriteFile(dir+"/devnet.json", []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (&Options{}).ApplyDevnet(dir); err == nil || !strings.Contains(err.Error(), "devnet.json") {
		t.Errorf("broken devnet.json: %v", err)
	}
}
