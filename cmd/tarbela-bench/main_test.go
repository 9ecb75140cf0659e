package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/api"
	"github.com/tarbela-pool/tarbela/internal/loadgen"
	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/share"
)

// writeReport writes r as --json would.
func writeReport(t *testing.T, dir, name string, r *loadgen.Report) string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCombine merges two reports through the command line.
func TestCombine(t *testing.T) {
	dir := t.TempDir()
	mk := func(miners int, accepted uint64, ps float64) *loadgen.Report {
		return &loadgen.Report{Version: loadgen.ReportVersion, Pool: "127.0.0.1:3333", Processes: 1, Miners: miners,
			Connections: loadgen.Connections{Connected: uint64(miners), LiveAtEnd: miners},
			Shares:      loadgen.Shares{Submitted: accepted, Accepted: accepted, AcceptedPS: ps, Steady: true, Window: 10},
			PoolRSS:     []loadgen.RSSSample{{PID: 7, BaselineBytes: 1 << 20, EndBytes: 3 << 20, Miners: miners}}}
	}
	f1 := writeReport(t, dir, "a.json", mk(1000, 10000, 1000))
	f2 := writeReport(t, dir, "b.json", mk(3000, 30000, 3000))

	var out, errOut strings.Builder
	if code := run(context.Background(), []string{"--combine", "--json", f1, f2}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var m loadgen.Report
	if err := json.Unmarshal([]byte(out.String()), &m); err != nil {
		t.Fatalf("combined output is not a report: %v\n%s", err, out.String())
	}
	if m.Processes != 2 || m.Miners != 4000 || m.Shares.Accepted != 40000 || m.Shares.AcceptedPS != 4000 ||
		len(m.PoolRSS) != 1 || m.PoolRSS[0].Miners != 4000 {
		t.Errorf("combined: processes %d miners %d accepted %d (%g/s) rss %+v; want 2, 4000, 40000 (4000/s), one pid with 4000 miners",
			m.Processes, m.Miners, m.Shares.Accepted, m.Shares.AcceptedPS, m.PoolRSS)
	}

	out.Reset()
	if code := run(context.Background(), []string{"--combine", f1, f2}, &out, &errOut); code != 0 {
		t.Fatalf("text combine: exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "4000 miner(s) over 2 process(es)") || !strings.Contains(out.String(), "accepted 4000.0/s") {
		t.Errorf("text report:\n%s", out.String())
	}
}

// TestUsageErrors checks that bad invocations exit 2 or 1 with a message
// and never run a load.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.json")
	if err := os.WriteFile(garbage, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"remote pool", []string{"--pool", "192.0.2.1:3333", "--duration", "1s"}, 2, "not a loopback"},
		{"no pool", []string{"--duration", "1s"}, 2, "host:port"},
		{"combine without files", []string{"--combine"}, 2, "needs report files"},
		{"combine garbage", []string{"--combine", garbage}, 1, "garbage.json"},
		{"combine missing", []string{"--combine", filepath.Join(dir, "none.json")}, 1, "none.json"},
		{"stray argument", []string{"--pool", "127.0.0.1:1", "extra"}, 2, "unexpected arguments"},
		{"bad source base", []string{"--pool", "127.0.0.1:1", "--source-base", "nope"}, 2, "--source-base"},
		{"addr without devnet", []string{"--pool", "127.0.0.1:1", "--user", "{addr}.w"}, 2, "{addr}"},
		{"missing devnet", []string{"--devnet", dir}, 2, "devnet.json"},
		{"bad flag", []string{"--no-such-flag"}, 2, "no-such-flag"},
		{"api without redis", []string{"pool", "--api", "127.0.0.1:0"}, 2, "--api reads what the pool records: add --redis"},
		{"negative api cache", []string{"pool", "--api-cache", "-1s"}, 2, "--api-cache -1s is negative"},
		{"apipoll without url", []string{"apipoll"}, 2, "--url is required"},
		{"apipoll remote", []string{"apipoll", "--url", "http://192.0.2.1:8080/"}, 2, "not a loopback"},
		{"apipoll bad url", []string{"apipoll", "--url", "ftp://127.0.0.1/"}, 2, "not an http:// or https:// URL"},
		{"apipoll bad rate", []string{"apipoll", "--url", "http://127.0.0.1:1/", "--rate", "-5"}, 2, "rate: -5"},
		{"apipoll stray argument", []string{"apipoll", "--url", "http://127.0.0.1:1/", "extra"}, 2, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			code := run(context.Background(), tc.args, &out, &errOut)
			if code != tc.code || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut.String(), tc.code, tc.want)
			}
		})
	}
}

// runLoad runs the command with args and --duration d, --json, and returns
// its report. A run is repeated with twice the duration, up to three runs,
// while enough does not hold for its report: how much a run of fixed length
// gets done (miners through their handshake, shares answered) depends on
// the machine's speed. The caller checks those amounts on the last report;
// no share may be rejected in any run.
func runLoad(t *testing.T, args []string, d time.Duration, enough func(*loadgen.Report) bool) *loadgen.Report {
	t.Helper()
	for try := 1; ; try++ {
		var out, errOut strings.Builder
		if code := run(context.Background(), slices.Concat(args, []string{"--duration", d.String(), "--json"}), &out, &errOut); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		var r loadgen.Report
		if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		if r.Shares.Rejected != 0 {
			t.Errorf("%d shares rejected %v", r.Shares.Rejected, r.Shares.RejectsByCode)
		}
		if enough(&r) || try == 3 {
			return &r
		}
		t.Logf("run %d of %v fell short (connections %+v, shares %+v); running for twice as long", try, d, r.Connections, r.Shares)
		d *= 2
	}
}

// TestRunAgainstInProcessPool runs the whole command against the in-process
// pool and checks its JSON report.
func TestRunAgainstInProcessPool(t *testing.T) {
	p, err := loadgen.StartPool(loadgen.PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	args := []string{"--pool", "stratum+tcp://" + p.Addr(), "--miners", "10", "--sources", "2",
		"--rate", "5", "--progress", "0", "--pool-pid", "0"}
	r := runLoad(t, args, time.Second, func(r *loadgen.Report) bool { return r.Connections.WithWork == 10 && r.Shares.Accepted > 0 })
	if r.Connections.WithWork != 10 || r.Shares.Accepted == 0 || len(r.Connections.Sources) != 2 {
		t.Errorf("with work %d, accepted %d, sources %v", r.Connections.WithWork, r.Shares.Accepted, r.Connections.Sources)
	}
}

// syncBuilder is a strings.Builder that a command may write while the test
// reads it.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPoolWithRedis runs "tarbela-bench pool --redis" on a real
// redis-server with a CPU profile, loads it with the command itself, and
// checks that every share the miners saw accepted was recorded in Redis
// (a share is acknowledged only once its batch is there) and that the
// profile was written.
func TestPoolWithRedis(t *testing.T) {
	rds, err := localnet.StartRedis(context.Background(), localnet.RedisOptions{})
	if err != nil {
		t.Skipf("no redis-server: %v", err)
	}
	t.Cleanup(rds.Stop)
	prof := filepath.Join(t.TempDir(), "cpu.pprof")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var poolOut, poolErr syncBuilder
	poolDone := make(chan int, 1)
	go func() {
		poolDone <- runPool(ctx, []string{"--listen", "127.0.0.1:0", "--redis", rds.Addr, "--cpuprofile", prof, "--status", "0",
			"--duration", "60s"}, &poolOut, &poolErr)
	}()
	// The pool prints its address once it listens.
	var addr string
	deadline := time.Now().Add(30 * time.Second)
	for addr == "" {
		if _, rest, ok := strings.Cut(poolOut.String(), "pool: stratum+tcp://"); ok {
			addr, _, _ = strings.Cut(rest, " ")
			break
		}
		select {
		case c := <-poolDone:
			t.Fatalf("pool exit %d: %s", c, poolErr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool did not start: %s", poolErr.String())
		}
	}

	r := runLoad(t, []string{"--pool", addr, "--miners", "8", "--sources", "2", "--rate", "20", "--progress", "0"},
		1500*time.Millisecond, func(r *loadgen.Report) bool { return r.Shares.Accepted > 0 })
	cancel()
	select {
	case c := <-poolDone:
		if c != 0 {
			t.Fatalf("pool exit %d: %s", c, poolErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pool did not stop")
	}
	var accepted, recorded uint64
	line := poolOut.String()[strings.LastIndex(poolOut.String(), "pool: stopped"):]
	if _, err := fmt.Sscanf(line, "pool: stopped; %d shares accepted, %d recorded in Redis", &accepted, &recorded); err != nil {
		t.Fatalf("pool output %q: %v", poolOut.String(), err)
	}
	if r.Shares.Accepted == 0 {
		t.Errorf("miners saw no share accepted")
	}
	if recorded != accepted || recorded < r.Shares.Accepted {
		t.Errorf("pool accepted %d, Redis recorded %d, miners saw %d accepted: Redis must hold every acknowledged share",
			accepted, recorded, r.Shares.Accepted)
	}
	if st, err := os.Stat(prof); err != nil || st.Size() == 0 {
		t.Errorf("CPU profile: %v (size %v)", err, st)
	}
}

// workerStore acknowledges every share at once and keeps the names of the
// workers that sent one.
type workerStore struct {
	mu      sync.Mutex
	workers map[string]bool
}

func (s *workerStore) AddShare(r share.Record) error {
	s.mu.Lock()
	s.workers[r.Worker] = true
	s.mu.Unlock()
	if r.Ack != nil {
		r.Ack.ShareRecorded(r.Token, nil)
	}
	return nil
}

func (s *workerStore) AddBlock(*share.BlockRecord) error { return nil }

func (s *workerStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.workers)
}

// TestInterruptKeepsMinersForTheReport interrupts a run long before its
// --duration: the run stops at once, and the report still counts every
// miner as live and reads the pool's RSS with them connected (the scripts
// under scripts/load stop their tools this way once a figure is taken).
// The interrupt comes once every miner has had a share accepted, which it
// sends only once it has work, however long the machine takes to get there.
func TestInterruptKeepsMinersForTheReport(t *testing.T) {
	store := &workerStore{workers: make(map[string]bool)}
	p, err := loadgen.StartPool(loadgen.PoolOptions{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for store.count() < 10 && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	var out, errOut strings.Builder
	args := []string{"--pool", p.Addr(), "--miners", "10", "--sources", "2", "--duration", "60s",
		"--rate", "5", "--json", "--progress", "0", "--pool-pid", strconv.Itoa(os.Getpid())}
	if code := run(ctx, args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var r loadgen.Report
	if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if r.Seconds >= 30 || r.Connections.WithWork != 10 || r.Connections.LiveAtEnd != 10 ||
		len(r.PoolRSS) != 1 || r.PoolRSS[0].Miners != 10 {
		t.Errorf("interrupted run: %.1fs, with work %d, live at end %d, RSS samples %+v; want < 30s, 10, 10, one with 10 miners",
			r.Seconds, r.Connections.WithWork, r.Connections.LiveAtEnd, r.PoolRSS)
	}
}

// waitLine waits for the line of out that starts with prefix and returns
// the rest of it, failing the test if the command exits first.
func waitLine(t *testing.T, out, errOut *syncBuilder, done <-chan int, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, l := range strings.Split(out.String(), "\n") {
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				return rest
			}
		}
		select {
		case c := <-done:
			t.Fatalf("exit %d before %q: %s", c, prefix, errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line %q: %s", prefix, errOut.String())
		}
	}
}

// TestPoolWithAPI runs "tarbela-bench pool --redis --api" on a real
// redis-server, loads it with miners of one account, and polls the API
// with "tarbela-bench apipoll": every public route answers 200, the
// account page shows the load's workers from Redis, the admin routes are
// refused, an account with no shares is counted as an error (404) with
// exit 1, and the pool stops with its API.
func TestPoolWithAPI(t *testing.T) {
	rds, err := localnet.StartRedis(context.Background(), localnet.RedisOptions{})
	if err != nil {
		t.Skipf("no redis-server: %v", err)
	}
	t.Cleanup(rds.Stop)
	account, stranger := localnet.RegtestAddress(1), localnet.RegtestAddress(2)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var poolOut, poolErr syncBuilder
	poolDone := make(chan int, 1)
	go func() {
		poolDone <- runPool(ctx, []string{"--listen", "127.0.0.1:0", "--redis", rds.Addr, "--api", "127.0.0.1:0", "--status", "0",
			"--duration", "120s"}, &poolOut, &poolErr)
	}()
	addr, _, _ := strings.Cut(waitLine(t, &poolOut, &poolErr, poolDone, "pool: stratum+tcp://"), " ")
	apiURL := waitLine(t, &poolOut, &poolErr, poolDone, "api: ")
	if !strings.HasPrefix(apiURL, "http://127.0.0.1:") {
		t.Fatalf("API URL %q", apiURL)
	}

	r := runLoad(t, []string{"--pool", addr, "--miners", "4", "--sources", "2", "--rate", "20", "--progress", "0",
		"--user", account + ".rig{i}"}, 1500*time.Millisecond, func(r *loadgen.Report) bool { return r.Connections.WithWork == 4 })
	if r.Connections.WithWork != 4 || r.Shares.Accepted == 0 {
		t.Fatalf("load: with work %d, accepted %d", r.Connections.WithWork, r.Shares.Accepted)
	}

	// A share is acknowledged once it is in Redis: the account page
	// lists the four workers now.
	var acct api.Account
	getJSON(t, apiURL+"api/v1/accounts/"+account, http.StatusOK, &acct)
	if acct.WorkersTotal != 4 || len(acct.Workers) != 4 || !(acct.Hashrate.M10 > 0) {
		t.Errorf("account page: %d workers (total %d), hashrate %+v; want the load's 4 and a hashrate", len(acct.Workers), acct.WorkersTotal, acct.Hashrate)
	}
	var sum api.Summary
	getJSON(t, apiURL+"api/v1/pool", http.StatusOK, &sum)
	if sum.WorkersOnline != 4 || sum.MinersOnline != 1 || sum.Shares.Accepted < int64(r.Shares.Accepted) || sum.Network.Height != 0 {
		t.Errorf("summary %+v: want the load's 4 workers of 1 account, its shares, no node (height 0)", sum)
	}
	getJSON(t, apiURL+"api/v1/admin/connections", http.StatusForbidden, nil)

	// Every public route, twice a second each, for a second.
	var out, errOut strings.Builder
	if code := run(context.Background(), []string{"apipoll", "--url", apiURL, "--account", account, "--rig", "rig0", "--rate", "2", "--duration", "1s", "--json"},
		&out, &errOut); code != 0 {
		t.Fatalf("apipoll exit %d: %s\n%s", code, errOut.String(), out.String())
	}
	var rep loadgen.PollReport
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(rep.Routes) != len(loadgen.PollRoutes) {
		t.Errorf("%d routes polled, want %d", len(rep.Routes), len(loadgen.PollRoutes))
	}
	for _, rt := range rep.Routes {
		if rt.Sent == 0 || rt.OK != rt.Sent || rt.Errors != nil || rt.Latency.Count != rt.Sent {
			t.Errorf("route %s: sent %d, ok %d, errors %v, %d latencies", rt.Route, rt.Sent, rt.OK, rt.Errors, rt.Latency.Count)
		}
	}

	// An address with no shares: the account routes answer 404, which
	// the poller counts as errors.
	out.Reset()
	errOut.Reset()
	if code := run(context.Background(), []string{"apipoll", "--url", apiURL, "--account", stranger, "--rate", "2", "--duration", "1s", "--json"},
		&out, &errOut); code != 1 || !strings.Contains(errOut.String(), "failed or were skipped") {
		t.Fatalf("apipoll for an unknown account: exit %d, %s; want 1", code, errOut.String())
	}
	rep = loadgen.PollReport{}
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, rt := range rep.Routes {
		isAccount := strings.Contains(rt.Route, "{address}")
		if (isAccount && (rt.OK != 0 || rt.Errors["HTTP 404"] != rt.Sent)) || (!isAccount && rt.OK != rt.Sent) {
			t.Errorf("route %s: sent %d, ok %d, errors %v", rt.Route, rt.Sent, rt.OK, rt.Errors)
		}
	}

	cancel()
	select {
	case c := <-poolDone:
		if c != 0 {
			t.Fatalf("pool exit %d: %s", c, poolErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pool did not stop")
	}
	if !strings.Contains(poolOut.String(), "pool: stopped;") {
		t.Errorf("no stop line: %s", poolOut.String())
	}
	if c, err := net.DialTimeout("tcp", strings.TrimSuffix(strings.TrimPrefix(apiURL, "http://"), "/"), time.Second); err == nil {
		c.Close()
		t.Error("the API still accepts connections after the pool stopped")
	}
}

// getJSON gets url, checks the status and decodes the body into out (when
// not nil).
func getJSON(t *testing.T, url string, status int, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("GET %s: HTTP %d %s, want %d", url, resp.StatusCode, b, status)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("GET %s: %v: %s", url, err, b)
		}
	}
}
