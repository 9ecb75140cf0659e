package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/api"
	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/cpuminer"
	"github.com/tarbela-pool/tarbela/internal/devnet"
	"github.com/tarbela-pool/tarbela/internal/localnet"
)

// apiClient calls a pool's HTTP API.
type apiClient struct {
	t     *testing.T
	base  string
	token string
}

// call sends method path with body (JSON, "" for none) and the client's
// token (when admin), decodes a 200 answer into out and returns the
// status and the body.
func (c apiClient) call(method, path, body string, admin bool, out any) (int, string) {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(testContext(c.t), method, c.base+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if admin {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, string(bytes.TrimSpace(b))
}

// must is call that fails the test unless the answer is 200.
func (c apiClient) must(method, path, body string, admin bool, out any) {
	c.t.Helper()
	if code, b := c.call(method, path, body, admin, out); code != http.StatusOK {
		c.t.Fatalf("%s %s: HTTP %d: %s", method, path, code, b)
	}
}

// startMiner runs a CPU miner (one thread, quick reconnects) as user
// until the test ends.
func startMiner(t *testing.T, addr, user string) *cpuminer.Miner {
	t.Helper()
	m, err := cpuminer.New(cpuminer.Options{URL: addr, User: user, Threads: 1,
		RetryMin: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("cpuminer.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("miner: %v", err)
		}
	})
	return m
}

// TestAPI runs the pool with its HTTP API against a real btcd and Redis
// and a CPU miner: the public routes show the miner online with its
// shares, hashrate, blocks and worker; the admin routes list its
// connection (agent, difficulty), kick it (it reconnects), ban its
// address (its reconnects are refused) and unban it (it comes back), fix
// its difficulty (it gets mining.set_difficulty), and reload the config
// file; a wrong token is 401. A second node on the same Redis without a
// token answers 403 to admin routes and counts both nodes.
func TestAPI(t *testing.T) {
	const token = "integration-test-token-0123456789"
	tokenFile := filepath.Join(t.TempDir(), "api.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tp := startPool(t, poolOptions{difficulty: 0.002, maxDifficulty: 0.01, configure: func(c *config.Config) {
		c.API.Listen, c.API.TokenFile = "127.0.0.1:0", tokenFile
	}}, nil)
	cfgPath := filepath.Join(t.TempDir(), "tarbela.toml")
	if err := os.WriteFile(cfgPath, []byte(devnet.ConfigFile(tp.cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	tp.d.SetConfigFile(cfgPath, nil)
	c := apiClient{t: t, base: tp.d.APIURL(), token: token}
	if !strings.HasPrefix(c.base, "http://127.0.0.1:") {
		t.Fatalf("APIURL() = %q", c.base)
	}

	// A share for a job the pool never sent: rejected, and counted in
	// the node's stats in Redis.
	raw := dial(t, tp.d.StratumAddr())
	raw.handshake(minerAddr+".raw", "x", 0)
	if r := raw.call("mining.submit", minerAddr+".raw", "ffff", "0000000000000000", "00000000", "00000000"); r.errorCode() != 21 {
		t.Fatalf("a share for an unknown job: error %d, want 21", r.errorCode())
	}
	raw.conn.Close()

	user := minerAddr + ".cpu"
	m := startMiner(t, tp.d.StratumAddr(), user)
	waitFor(t, "the miner's shares to be accepted", func() bool { return m.Stats().Accepted >= 3 })

	// The public routes.
	var sum api.Summary
	waitFor(t, "the pool summary to show the miner", func() bool {
		c.must("GET", "/api/v1/pool", "", false, &sum)
		return sum.WorkersOnline >= 1 && sum.Shares.Accepted >= 3 && sum.LastBlock != nil && sum.Nodes == 1
	})
	if sum.MinersOnline != 1 || sum.WorkersOnline != 1 || !(sum.Hashrate.M10 > 0) || !(sum.Hashrate.H24 > 0) ||
		sum.Network.Height < tp.startHeight || !(sum.Network.Difficulty > 0) {
		t.Errorf("pool summary %+v", sum)
	}
	var blocks struct{ Blocks []api.Block }
	c.must("GET", "/api/v1/blocks?limit=1000", "", false, &blocks)
	recorded, err := tp.d.Store().Blocks(testContext(t), 10000)
	if err != nil {
		t.Fatal(err)
	}
	inRedis := map[string]bool{}
	for _, b := range recorded {
		inRedis[b.Hash] = true
	}
	if len(blocks.Blocks) == 0 {
		t.Fatal("no blocks listed")
	}
	for i, b := range blocks.Blocks {
		if !inRedis[b.Hash] || b.Finder != user || b.Account != minerAddr || (i > 0 && b.Height > blocks.Blocks[i-1].Height) {
			t.Errorf("block %d: %+v (recorded: %v)", i, b, inRedis[b.Hash])
		}
		if b.Status == "accepted" && b.Confirmations < 1 {
			t.Errorf("accepted block with %d confirmations: %+v", b.Confirmations, b)
		}
	}
	var acct api.Account
	c.must("GET", "/api/v1/accounts/"+minerAddr, "", false, &acct)
	if acct.Account != minerAddr || len(acct.Workers) != 1 || acct.WorkersTotal != 1 || !(acct.Hashrate.H1 > 0) {
		t.Fatalf("account page %+v", acct)
	}
	if w := acct.Workers[0]; w.Name != user || !w.Online || w.LastShare == nil || w.Difficulty == nil || !(w.Hashrate > 0) || w.RejectRate == nil {
		t.Errorf("worker %+v", w)
	}
	var series struct {
		Window, Step string
		Points       []api.Point
	}
	c.must("GET", "/api/v1/accounts/"+minerAddr+"/hashrate?window=1h&step=1m", "", false, &series)
	if len(series.Points) != 60 || !(series.Points[59].Hashrate > 0 || series.Points[58].Hashrate > 0) {
		t.Errorf("account series: %d points, last %+v", len(series.Points), series.Points[len(series.Points)-1:])
	}
	// A worker's day comes from its coarse tier, in the step that tier has.
	for _, tc := range []struct {
		query, window, step string
		points              int
	}{{"window=24h&step=10m", "24h", "1h", 24}, {"window=1h&step=5m", "1h", "5m", 12}} {
		c.must("GET", "/api/v1/accounts/"+minerAddr+"/workers/"+user+"/hashrate?"+tc.query, "", false, &series)
		// The step holding now may have just begun: one of the last two
		// points has the miner's work.
		if series.Window != tc.window || series.Step != tc.step || len(series.Points) != tc.points ||
			!(series.Points[tc.points-1].Hashrate > 0 || series.Points[tc.points-2].Hashrate > 0) {
			t.Errorf("worker series %s: window %s step %s, points %+v; want %s, %s, %d points, work in the last two", tc.query,
				series.Window, series.Step, series.Points, tc.window, tc.step, tc.points)
		}
	}
	if code, _ := c.call("GET", "/api/v1/accounts/"+localnet.RegtestAddress(99), "", false, nil); code != 404 {
		t.Errorf("an account without shares: HTTP %d", code)
	}
	if code, _ := c.call("GET", "/api/v1/accounts/not-an-address", "", false, nil); code != 400 {
		t.Errorf("a malformed account: HTTP %d", code)
	}

	// The admin routes. The connection, with its agent and difficulty.
	conns := func() []api.Connection {
		var out struct{ Connections []api.Connection }
		c.must("GET", "/api/v1/admin/connections?account="+minerAddr, "", true, &out)
		return out.Connections
	}
	cs := conns()
	if len(cs) != 1 || cs[0].Agent != cpuminer.UserAgent || strings.Join(cs[0].Workers, ",") != user ||
		!(cs[0].Difficulty >= 0.002 && cs[0].Difficulty <= 0.01) || len(cs[0].Extranonce1) != 8 ||
		!strings.HasPrefix(cs[0].Address, "127.0.0.1:") {
		t.Fatalf("connections %+v", cs)
	}
	first := cs[0].ID

	// Kick: the connection closes and the miner comes back on another.
	connects := m.Stats().Connects
	var kicked struct{ Kicked int }
	c.must("POST", "/api/v1/admin/kick", `{"worker":"`+user+`"}`, true, &kicked)
	if kicked.Kicked != 1 {
		t.Fatalf("kicked %d", kicked.Kicked)
	}
	waitFor(t, "the kicked miner to reconnect", func() bool {
		cs := conns()
		return m.Stats().Connects > connects && len(cs) == 1 && cs[0].ID != first
	})

	// Ban: the connection closes and reconnects are refused.
	var ban api.Ban
	c.must("POST", "/api/v1/admin/bans", `{"address":"127.0.0.1","duration":"10m"}`, true, &ban)
	if ban.Address != "127.0.0.1" || time.Until(ban.Until) < 9*time.Minute {
		t.Fatalf("ban %+v", ban)
	}
	waitFor(t, "the banned miner's reconnects to be refused", func() bool {
		return tp.d.Status().Connections == 0 && tp.metricValue(t, `tarbela_connections_refused_total{reason="banned"}`) >= 1
	})
	var bans struct{ Bans []api.Ban }
	c.must("GET", "/api/v1/admin/bans", "", true, &bans)
	if len(bans.Bans) != 1 || bans.Bans[0].Address != "127.0.0.1" {
		t.Fatalf("bans %+v", bans)
	}
	if m.Stats().Connected {
		t.Error("the banned miner is connected")
	}

	// Unban: the miner comes back.
	connects = m.Stats().Connects
	var unban struct{ Unbanned bool }
	c.must("DELETE", "/api/v1/admin/bans/127.0.0.1", "", true, &unban)
	if !unban.Unbanned {
		t.Fatal("unbanned: false")
	}
	waitFor(t, "the unbanned miner to reconnect", func() bool {
		return m.Stats().Connects > connects && m.Stats().Connected && len(conns()) == 1
	})

	// A fixed difficulty reaches the miner as mining.set_difficulty.
	var set struct{ Sessions int }
	c.must("POST", "/api/v1/admin/difficulty", `{"worker":"`+user+`","difficulty":0.005}`, true, &set)
	if set.Sessions != 1 {
		t.Fatalf("sessions %d", set.Sessions)
	}
	waitFor(t, "the miner to get the new difficulty", func() bool { return m.Stats().Difficulty == 0.005 })
	if cs := conns(); len(cs) != 1 || cs[0].Difficulty != 0.005 {
		t.Errorf("connections after the difficulty: %+v", cs)
	}
	if code, b := c.call("POST", "/api/v1/admin/difficulty", `{"worker":"`+minerAddr+`.nobody","difficulty":1}`, true, nil); code != 404 {
		t.Errorf("difficulty of an unknown worker: HTTP %d %s", code, b)
	}

	// Reload re-reads the config file.
	var reload api.Reload
	c.must("POST", "/api/v1/admin/reload", "", true, &reload)
	if reload.Applied == nil || reload.Restart == nil {
		t.Errorf("reload %+v", reload)
	}

	// The token.
	if code, _ := (apiClient{t: t, base: c.base, token: "wrong-token-wrong-token"}).call("GET", "/api/v1/admin/bans", "", true, nil); code != 401 {
		t.Errorf("wrong token: HTTP %d", code)
	}
	if code, _ := c.call("GET", "/api/v1/admin/bans", "", false, nil); code != 401 {
		t.Errorf("no token: HTTP %d", code)
	}

	// A second node on the same Redis and node, without a token.
	cfg2 := *tp.cfg
	cfg2.Pool.NodeID = 2
	cfg2.API.TokenFile = ""
	cfg2.Stratum.Listen, cfg2.Metrics.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg2.Redis.JournalPath = filepath.Join(t.TempDir(), "journal.log")
	t.Setenv(config.EnvAPIToken, "")
	d2 := runDaemon(t, &cfg2, &logBuffer{})
	c2 := apiClient{t: t, base: d2.APIURL(), token: token}
	if code, b := c2.call("GET", "/api/v1/admin/connections", "", true, nil); code != 403 || !strings.Contains(b, "admin routes are disabled") {
		t.Errorf("admin route without a token configured: HTTP %d %s", code, b)
	}
	waitFor(t, "the second node to count both nodes", func() bool {
		var s api.Summary
		c2.must("GET", "/api/v1/pool", "", false, &s)
		return s.Nodes == 2 && s.WorkersOnline == 1 && s.Shares.Accepted >= sum.Shares.Accepted
	})
	// The first node's rejected share reaches every node's answer with
	// its next stats (every 10 s).
	waitFor(t, "the rejected share in the second node's summary", func() bool {
		var s api.Summary
		c2.must("GET", "/api/v1/pool", "", false, &s)
		return s.Shares.Rejected >= 1
	})
	// A node that stops takes its stats with it.
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := d2.Stop(sctx); err != nil {
		t.Fatalf("stop the second node: %v", err)
	}
	// Within the API cache's TTL (api.DefaultCacheTTL).
	waitFor(t, "one node after the second stopped", func() bool {
		c.must("GET", "/api/v1/pool", "", false, &sum)
		return sum.Nodes == 1
	})
}
