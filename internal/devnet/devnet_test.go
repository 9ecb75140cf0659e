package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/cpuminer"
	"github.com/tarbela-pool/tarbela/internal/daemon"
	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/payoutjob"
	"github.com/tarbela-pool/tarbela/pool"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// syncBuffer is a bytes.Buffer safe for the devnet's writer and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	// dir is the devnet's directory, when the buffer holds a devnet's
	// output.
	dir string
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var blocksRe = regexp.MustCompile(`blocks=(\d+)/(\d+)`)

// TestDevnet runs the whole devnet as `tarbela devnet` does: real btcd,
// real redis-server, the pool and two CPU miners (one per energy site); it
// waits for a status line reporting an accepted block, then stops it and
// checks that everything it started is gone.
func TestDevnet(t *testing.T) {
	info, out, stop := startDevnet(t, Options{Miners: 2})
	b, err := os.ReadFile(filepath.Join(out.dir, "devnet.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file Info
	if err := json.Unmarshal(b, &file); err != nil || file != info {
		t.Fatalf("devnet.json %s (%v), want %+v", b, err, info)
	}
	for _, a := range []string{info.Stratum, info.NodeRPC, info.Redis} {
		c, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatalf("%s from devnet.json does not answer: %v", a, err)
		}
		c.Close()
	}
	waitUntil(t, "an accepted block in the status lines", out, func() bool {
		m := blocksRe.FindAllStringSubmatch(out.String(), -1)
		if len(m) == 0 {
			return false
		}
		n, _ := strconv.Atoi(m[len(m)-1][1])
		return n >= 1
	})
	checkDevnetAPI(t, out, info)
	// Before the TLS miner, whose account is no site's.
	checkDevnetEnergy(t, out, info)
	checkDevnetTLS(t, out, info)
	checkDevnetPays(t, out.dir, info)
	stop()
}

// checkDevnetAPI: the devnet says where its dashboard and token are, the
// token file is its owner's only, the public API shows the miners' shares
// and the admin API, with the token, their two connections.
func checkDevnetAPI(t *testing.T, out *syncBuffer, info Info) {
	t.Helper()
	line := "devnet: dashboard " + info.API + " , admin token in " + filepath.Join(out.dir, "api.token")
	if !strings.HasPrefix(info.API, "http://127.0.0.1:") || !strings.Contains(out.String(), line) {
		t.Errorf("no line %q in:\n%s", line, out.String())
	}
	fi, err := os.Stat(info.APITokenFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("api token file %s: %v, %v", info.APITokenFile, fi, err)
	}
	tok, err := os.ReadFile(info.APITokenFile)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string, token string, out any) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, info.API+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		if out != nil && resp.StatusCode == 200 {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
		}
		return resp.StatusCode
	}
	var pool struct {
		Shares struct{ Accepted int64 } `json:"shares"`
	}
	waitUntil(t, "the API to count the miner's shares", out, func() bool {
		return get("api/v1/pool", "", &pool) == 200 && pool.Shares.Accepted > 0
	})
	var conns struct {
		Connections []struct{ Agent string } `json:"connections"`
	}
	waitUntil(t, "the admin API to list the two miners' connections", out, func() bool {
		conns.Connections = nil
		return get("api/v1/admin/connections", strings.TrimSpace(string(tok)), &conns) == 200 && len(conns.Connections) == 2
	})
	if code := get("api/v1/admin/connections", "wrong-token-wrong-token", nil); code != 401 {
		t.Errorf("admin connections with a wrong token: HTTP %d", code)
	}
}

// checkDevnetTLS: the devnet serves Stratum over TLS on the address it
// printed and wrote to devnet.json, with its self-signed pair in the
// devnet's directory (key 0600), and a miner that trusts devnet/tls.crt has
// a share accepted over it.
func checkDevnetTLS(t *testing.T, out *syncBuffer, info Info) {
	t.Helper()
	if info.StratumTLS == "" || info.TLSCert != filepath.Join(out.dir, "tls.crt") {
		t.Fatalf("devnet.json: stratum_tls %q, tls_cert %q", info.StratumTLS, info.TLSCert)
	}
	if want := "devnet: TLS stratum+ssl://" + info.StratumTLS; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q", want)
	}
	if st, err := os.Stat(filepath.Join(out.dir, "tls.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("tls.key: %v, %v; want mode 0600", st, err)
	}
	m, err := cpuminer.New(cpuminer.Options{URL: "stratum+ssl://" + info.StratumTLS, TLSCAFile: info.TLSCert,
		User: localnet.RegtestAddress(40) + ".tls", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	deadline := time.Now().Add(time.Minute)
	for m.Stats().Accepted == 0 && time.Now().Before(deadline) && len(done) == 0 {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("TLS miner: %v", err)
	}
	if st := m.Stats(); st.Accepted == 0 || st.Rejected != 0 {
		t.Fatalf("TLS miner on the devnet: %+v; want shares accepted, none rejected", st)
	}
}

// checkDevnetPays runs the payout job on the devnet's own tarbela.toml, as
// the README shows: mature the blocks, run (credit and pay), confirm, run
// (settle): the miner's account is paid, and the ledger adds up.
func checkDevnetPays(t *testing.T, dir string, info Info) {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.Load(filepath.Join(dir, "tarbela.toml"))
	if err != nil {
		t.Fatalf("devnet's tarbela.toml: %v", err)
	}
	if _, err := payoutjob.Key(cfg, func(string) string { return "" }); err != nil {
		t.Fatalf("devnet's payout key: %v", err)
	}
	rpc, err := pool.NewRPCClient("btcd", "http://"+info.NodeRPC, info.NodeRPCUser, info.NodeRPCPass, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer rpc.Close()
	job, err := payoutjob.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer job.Close()
	var settled int
	for _, mine := range []int{config.CoinbaseMaturity, 1} {
		if _, err := rpc.Generate(ctx, mine); err != nil {
			t.Fatal(err)
		}
		rep, err := job.Run(ctx, false, io.Discard, zap.NewNop())
		if err != nil {
			t.Fatalf("payout run on the devnet: %v", err)
		}
		settled += len(rep.Settled)
	}
	bal, err := job.Ledger.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var paid int64
	for _, v := range bal.Paid {
		paid += v
	}
	if settled == 0 || paid == 0 {
		t.Fatalf("the devnet's payout job settled %d batches, paid %d sat", settled, paid)
	}
	if err := job.Ledger.CheckInvariant(ctx); err != nil {
		t.Fatal(err)
	}
}

// observed is what the devnet's status hook saw last, for tests.
type observed struct {
	mu             sync.Mutex
	minersAccepted uint64
	st             daemon.Status
	n              int
}

func (o *observed) set(accepted uint64, st daemon.Status) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.minersAccepted, o.st = accepted, st
	o.n++
}

func (o *observed) get() (uint64, daemon.Status, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.minersAccepted, o.st, o.n
}

// startDevnet runs the devnet in-process in a fresh directory (out.dir) for a
// test and returns its address details; the test ends it with stop (also
// run at cleanup), which checks it stopped cleanly and left nothing
// listening.
func startDevnet(t *testing.T, o Options) (info Info, out *syncBuffer, stop func()) {
	t.Helper()
	out = &syncBuffer{dir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	o.Dir, o.Stratum, o.StatusEvery, o.Out = out.dir, "127.0.0.1:0", 200*time.Millisecond, out
	o.Ready = func(i Info) { ready <- i }
	go func() { done <- Run(ctx, o) }()
	select {
	case info = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("devnet stopped before it was ready: %v\n%s", err, out.String())
	case <-time.After(3 * time.Minute):
		cancel()
		<-done
		t.Fatalf("devnet not ready\n%s", out.String())
	}
	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("devnet did not stop\n%s", out.String())
		}
		for _, a := range []string{info.Stratum, info.NodeRPC, info.Redis, strings.TrimSuffix(strings.TrimPrefix(info.API, "http://"), "/")} {
			if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
				c.Close()
				t.Errorf("%s still answers after the devnet stopped", a)
			}
		}
	}
	t.Cleanup(stop)
	return info, out, stop
}

// waitUntil polls cond until it holds; the deadline is generous, for a
// loaded machine, and only a hang reaches it.
func waitUntil(t *testing.T, what string, out *syncBuffer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; devnet output:\n%s", what, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDevnetRidesOutRedis kills the devnet's redis-server (SIGKILL) under a
// mining CPU miner and keeps it down for at least 10 s, and until the pool
// has journaled shares and the miner has seen shares accepted meanwhile.
// Then, with Redis back and the backlog 0, every share the miner saw
// accepted must be in Redis, and Redis may hold no share the pool did not
// accept. That needs both halves of the devnet: the journal for the shares
// of the outage, and Redis' fsynced append-only file for those recorded
// before the kill (with persistence off they would be gone).
func TestDevnetRidesOutRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("runs btcd, redis-server and a CPU miner")
	}
	obs := &observed{}
	var killedAt time.Time
	var acceptedAtKill uint64
	var mu sync.Mutex
	// holdRedis keeps redis-server down for 10 s and until the pool has
	// journaled shares and the miner has seen shares accepted meanwhile.
	holdRedis := func(ctx context.Context) error {
		mu.Lock()
		since, before := killedAt, acceptedAtKill
		mu.Unlock()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			acc, st, _ := obs.get()
			if time.Since(since) >= 10*time.Second && st.Journaled > 0 && acc > before {
				return nil
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return fmt.Errorf("during the outage: miner accepted %d (at kill %d), pool journaled %d", acc, before, st.Journaled)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	held := make(chan error, 1)
	var holdOnce sync.Once
	o := Options{Miners: 1, Difficulty: 1e-4, onStatus: obs.set}
	// The first restart attempt of redis-server waits; a later one (after a
	// failed attempt) goes ahead.
	o.holdRestart = func(ctx context.Context, service string) {
		if service == "redis-server" {
			holdOnce.Do(func() { held <- holdRedis(ctx) })
		}
	}
	info, out, stop := startDevnet(t, o)
	rdb := redis.NewClient(&redis.Options{Addr: info.Redis, MaxRetries: -1})
	defer rdb.Close()
	reader := redisstore.NewReader(rdb, config.Default().Redis.Prefix, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	waitUntil(t, "shares recorded in Redis before the outage", out, func() bool {
		acc, st, _ := obs.get()
		return acc >= 2 && st.Recorded >= 2
	})
	srv, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`process_id:(\d+)`).FindStringSubmatch(srv)
	if m == nil {
		t.Fatalf("no process_id in INFO server:\n%s", srv)
	}
	pid, _ := strconv.Atoi(m[1])
	acc, _, _ := obs.get()
	mu.Lock()
	killedAt, acceptedAtKill = time.Now(), acc
	mu.Unlock()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	select {
	case err := <-held:
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
	case <-time.After(4 * time.Minute):
		t.Fatalf("the devnet did not try to restart redis-server\n%s", out.String())
	}
	waitUntil(t, "redis-server back", out, func() bool {
		return strings.Contains(out.String(), "devnet: redis-server is back on "+info.Redis)
	})
	// A snapshot taken after the restart with nothing waiting for Redis:
	// the miner's count in it was read before the backlog.
	_, _, n0 := obs.get()
	var minerAccepted uint64
	waitUntil(t, "backlog 0 after the restart", out, func() bool {
		acc, st, n := obs.get()
		minerAccepted = acc
		return n > n0 && st.Queued+st.Journaled == 0
	})
	rs, err := reader.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The pool's count from a status taken after Redis was read bounds it
	// from above: a share replayed twice would exceed it.
	_, _, n1 := obs.get()
	var poolAccepted uint64
	waitUntil(t, "a status after reading Redis", out, func() bool {
		_, st, n := obs.get()
		poolAccepted = st.Accepted
		return n > n1
	})
	if rs.TotalShares < int64(minerAccepted) {
		t.Errorf("Redis holds %d shares; the miner saw %d accepted", rs.TotalShares, minerAccepted)
	}
	if rs.TotalShares > int64(poolAccepted) {
		t.Errorf("Redis holds %d shares; the pool accepted only %d (a share counted twice?)", rs.TotalShares, poolAccepted)
	}
	t.Logf("miner accepted %d (%d before the kill), Redis holds %d, pool accepted %d", minerAccepted, acceptedAtKill, rs.TotalShares, poolAccepted)

	text := out.String()
	exitLine := "devnet: redis-server exited (signal: killed; output in "
	if !strings.Contains(text, exitLine) || !strings.Contains(text, "restarting on "+info.Redis+" in 1s\n") {
		t.Errorf("no exit line %q … %q in:\n%s", exitLine, "restarting on "+info.Redis+" in 1s", text)
	}
	if !regexp.MustCompile(`backlog=[1-9]\d* blocks=\d+/\d+ redis-server=down\n`).MatchString(text) {
		t.Errorf("no status line shows the backlog while redis-server was down:\n%s", text)
	}
	stop()
}

// TestDevnetRidesOutBtcd stops the devnet's btcd behind its back (the RPC
// `stop`): the devnet says so, restarts it on the same RPC address, and the
// pool goes on to get blocks accepted by the new node (whose chain starts
// again: btcd --regtest removes its database at every start).
func TestDevnetRidesOutBtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs btcd, redis-server and a CPU miner")
	}
	obs := &observed{}
	info, out, stop := startDevnet(t, Options{Miners: 1, Difficulty: 1e-4, onStatus: obs.set})
	waitUntil(t, "a block accepted", out, func() bool {
		_, st, _ := obs.get()
		return st.BlocksAccepted >= 1
	})
	body := strings.NewReader(`{"jsonrpc":"1.0","id":1,"method":"stop","params":[]}`)
	req, err := http.NewRequest(http.MethodPost, "http://"+info.NodeRPC, body)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(info.NodeRPCUser, info.NodeRPCPass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitUntil(t, "btcd back", out, func() bool {
		return strings.Contains(out.String(), "devnet: btcd is back on "+info.NodeRPC)
	})
	_, st, _ := obs.get()
	before := st.BlocksAccepted
	waitUntil(t, "a block accepted by the restarted btcd", out, func() bool {
		_, st, _ := obs.get()
		return st.BlocksAccepted > before
	})
	if !strings.Contains(out.String(), "devnet: btcd exited (exit status 0; output in ") {
		t.Errorf("no exit line for btcd in:\n%s", out.String())
	}
	stop()
}

// TestEnsureRedisMissing: with no redis-server and no apt-get to install
// one, the devnet says in one line what to install.
func TestEnsureRedisMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("TARBELA_REDIS_SERVER", "")
	out := &syncBuffer{}
	err := ensureRedis(out)
	if err == nil {
		t.Fatal("ensureRedis found a redis-server on an empty PATH")
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "apt-get install -y redis-server") {
		t.Errorf("error %q: want one line naming the install command", msg)
	}
	if out.String() != "" {
		t.Errorf("ensureRedis printed %q", out.String())
	}
}
