package daemon_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/internal/cpuminer"
	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/localnet/localnettest"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// writeSentinelNodeConfig writes the config of pool node id: regtest pool
// mode at share difficulty 1e-12, Stratum on listen, the Sentinel set's
// Redis with the default wait_replicas, its own journal, a 3 s node lease.
func writeSentinelNodeConfig(t *testing.T, path string, node *localnet.Btcd, set *localnet.SentinelSet, id int, listen, journal string) {
	t.Helper()
	addrs := make([]string, len(set.SentinelAddrs()))
	for i, a := range set.SentinelAddrs() {
		addrs[i] = strconv.Quote(a)
	}
	cfg := fmt.Sprintf(`[pool]
node_id = %d
node_lease_ttl = "3s"
network = "regtest"
mode = "pool"
payout_address = %q

[stratum]
listen = %q

[stratum.difficulty]
initial = 1e-12
min = 1e-12
max = 1e-12

[[nodes]]
name = "btcd"
rpc_url = %q
rpc_user = %q
websocket_notify = true
longpoll = true

[template]
poll_interval = "1s"

[redis]
sentinel_addrs = [%s]
master_name = %q
journal_path = %q

[log]
level = "info"
format = "json"

[metrics]
listen = ""
`, id, poolAddr, listen, node.URL(), node.User, strings.Join(addrs, ", "), set.Master, journal)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestThreeNodesOneLedger is issue 14's several-nodes test: three `tarbela
// run` processes (node ids 1, 2, 3, each its own Stratum port and journal)
// on one btcd regtest and one Sentinel-managed Redis (a primary, a replica,
// three Sentinels), a CPU miner on each. A copy of node 1's config refuses
// to start and names node 1's host and pid. Then the Redis primary is
// killed with SIGKILL under load, and node 1 too once it has acknowledged
// shares from its journal (so its journal holds shares Redis does not
// have); after the promotion node 1
// is started again with its config, on the same host (it takes over its
// own lease at once, the killed process being gone) and replays its
// journal, and its miner, retrying, is served again. At the end every
// miner stops sending and gets its last replies, every journal is drained,
// and the ledger holds, per node (totals node:<id>), exactly what the
// miners of nodes 2 and 3 saw accepted, and for node 1 at least what its
// miner saw accepted and at most that plus the submits its SIGKILL left
// unanswered (the pool may have recorded those: the miner never heard).
// Last, node 2's lease is overwritten by another holder: node 2 stops and
// exits with status 1, saying so.
func TestThreeNodesOneLedger(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemon and runs btcd, five redis-server processes, three pools and three miners")
	}
	bin := buildTarbela(t)
	set := localnettest.StartSentinelSet(t, localnet.SentinelSetOptions{})
	node := localnettest.StartBtcd(t, localnet.BtcdOptions{MiningAddr: nodeAddr})
	dir := t.TempDir()
	noRedis := &localnet.Redis{} // no password: startTarbela passes it on

	type poolNode struct {
		id      int
		cfg     string
		journal string
		proc    *tarbelaProcess
		miner   *cpuminer.Miner
		stop    context.CancelFunc
		runErr  chan error
	}
	nodes := make([]*poolNode, 3)
	for i := range nodes {
		id := i + 1
		port, err := localnet.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		n := &poolNode{id: id, cfg: filepath.Join(dir, fmt.Sprintf("node%d.toml", id)),
			journal: filepath.Join(dir, fmt.Sprintf("journal%d.log", id))}
		// A fixed port, so that node 1's miner finds it again after the
		// restart.
		writeSentinelNodeConfig(t, n.cfg, node, set, id, "127.0.0.1:"+strconv.Itoa(port), n.journal)
		n.proc = startTarbela(t, bin, n.cfg, dir, fmt.Sprintf("node%d", id), node, noRedis)
		nodes[i] = n
	}

	// A copied config: the second node 1 refuses to start, naming the
	// first.
	dup := exec.Command(bin, "run", "-config", nodes[0].cfg)
	dup.Env = append(os.Environ(), "TARBELA_NODE_RPC_PASSWORD="+node.Pass)
	out, err := dup.CombinedOutput()
	if err == nil {
		t.Fatalf("a second node with node_id 1 started:\n%s", out)
	}
	host, _ := os.Hostname()
	if s := string(out); !strings.Contains(s, "pool.node_id 1 is in use") || !strings.Contains(s, host) ||
		!strings.Contains(s, "pid "+strconv.Itoa(nodes[0].proc.cmd.Process.Pid)) {
		t.Fatalf("the refusal does not name node 1 (host %s, pid %d):\n%s", host, nodes[0].proc.cmd.Process.Pid, s)
	}

	for _, n := range nodes {
		m, err := cpuminer.New(cpuminer.Options{URL: n.proc.stratum, User: fmt.Sprintf("%s.node%d", minerAddr, n.id), Threads: 1,
			VersionRolling: true, RetryMin: 50 * time.Millisecond, RetryMax: 250 * time.Millisecond})
		if err != nil {
			t.Fatalf("cpuminer.New: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		n.miner, n.stop, n.runErr = m, cancel, make(chan error, 1)
		go func() { n.runErr <- m.Run(ctx) }()
		defer cancel()
	}
	waitFor(t, "every miner's first accepted shares", func() bool {
		for _, n := range nodes {
			if n.miner.Stats().Accepted < 100 {
				return false
			}
		}
		return true
	})

	// SIGKILL the Redis primary, then, once node 1 has acknowledged
	// shares from its journal, node 1, under load.
	primary := set.Data[0]
	if err := primary.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "node 1 to acknowledge shares from its journal", func() bool {
		r, err := redisstore.ScanJournal(nodes[0].journal)
		return err == nil && r.Shares > 0
	})
	nodes[0].proc.kill(t)
	at := make([]cpuminer.Stats, 3)
	for i, n := range nodes {
		at[i] = n.miner.Stats()
	}
	if _, err := set.WaitFailover(testContext(t), primary.Addr, testTimeout); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the survivors' miners served after the promotion", func() bool {
		return nodes[1].miner.Stats().Accepted >= at[1].Accepted+200 && nodes[2].miner.Stats().Accepted >= at[2].Accepted+200
	})
	journaled, err := redisstore.ScanJournal(nodes[0].journal)
	if err != nil {
		t.Logf("node 1's journal at restart: %v (a torn tail is set aside, never replayed)", err)
	}
	if journaled.Shares == 0 {
		t.Fatal("node 1's journal is empty at its restart: the test did not exercise its replay")
	}
	// What the operator does: start the crashed node again with its config
	// on its host; it replays its journal.
	nodes[0].proc = startTarbela(t, bin, nodes[0].cfg, dir, "node1-restarted", node, noRedis)
	waitFor(t, "node 1's miner served again", func() bool { return nodes[0].miner.Stats().Accepted >= at[0].Accepted+100 })

	// Final counts: no more sending, every reply in, every journal drained.
	for _, n := range nodes {
		n.miner.Hold(true)
	}
	waitFor(t, "the miners' last replies", func() bool {
		for _, n := range nodes {
			if n.miner.Stats().InFlight != 0 {
				return false
			}
		}
		return true
	})
	st := make([]cpuminer.Stats, 3)
	for i, n := range nodes {
		st[i] = n.miner.Stats()
		n.stop()
		if err := <-n.runErr; err != nil {
			t.Errorf("miner %d: %v", n.id, err)
		}
	}
	waitFor(t, "every journal drained", func() bool {
		for _, n := range nodes {
			if fi, err := os.Stat(n.journal); err != nil || fi.Size() != 0 {
				return false
			}
		}
		return true
	})
	promoted, err := set.PrimaryAddr(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(&redis.Options{Addr: promoted})
	defer rc.Close()
	stats, err := redisstore.NewReader(rc, "tarbela", 0).Stats(testContext(t))
	if err != nil {
		t.Fatalf("read the ledger: %v", err)
	}
	var accepted uint64
	for i, n := range nodes {
		accepted += st[i].Accepted
		t.Logf("node %d: miner accepted %d (%d at the kills), rejected %d, unanswered %d; ledger node:%d = %d",
			n.id, st[i].Accepted, at[i].Accepted, st[i].Rejected, st[i].Unanswered, n.id, stats.NodeShares[uint8(n.id)])
	}
	t.Logf("node 1's journal at its restart: %d shares in %d batches; ledger total %d, miners' accepted %d",
		journaled.Shares, journaled.Batches, stats.TotalShares, accepted)
	for i, n := range nodes[1:] {
		if got, want := stats.NodeShares[uint8(n.id)], int64(st[i+1].Accepted); got != want {
			t.Errorf("node %d: the ledger holds %d shares, its miner saw %d accepted", n.id, got, want)
		}
	}
	got1, acc1 := stats.NodeShares[1], int64(st[0].Accepted)
	if got1 < acc1 || got1 > acc1+int64(st[0].Unanswered) {
		t.Errorf("node 1: the ledger holds %d shares, want %d (accepted) to %d (plus the submits its SIGKILL left unanswered)",
			got1, acc1, acc1+int64(st[0].Unanswered))
	}
	var sum int64
	for _, v := range stats.NodeShares {
		sum += v
	}
	if sum != stats.TotalShares {
		t.Errorf("per-node counts sum to %d, total %d", sum, stats.TotalShares)
	}

	// Node 2's lease taken by another node (as after an outage longer
	// than its TTL): node 2 stops as on SIGTERM and exits with status 1.
	if err := rc.Set(testContext(t), "tarbela:{acct}:node:2:lease", `0123 {"host":"elsewhere","pid":1}`, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-nodes[1].proc.exited:
		nodes[1].proc.exited <- err
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("node 2 ended with %v after losing its lease, want exit status 1", err)
		}
		b, _ := os.ReadFile(nodes[1].proc.log)
		if !strings.Contains(string(b), "another node took this node's pool.node_id") || !strings.Contains(string(b), "elsewhere") {
			t.Errorf("node 2's log does not say it lost its id to host elsewhere:\n%s", b)
		}
	case <-time.After(testTimeout):
		t.Fatal("node 2 still runs after another node took its lease")
	}
	for _, n := range []*poolNode{nodes[0], nodes[2]} {
		n.proc.stop(t)
	}
}
