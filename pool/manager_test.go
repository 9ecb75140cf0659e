package pool_test

import (
	"context"
	"encoding/hex"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"go.uber.org/zap/zaptest"

	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/localnet/localnettest"
	"github.com/tarbela-pool/tarbela/pool"
	"github.com/tarbela-pool/tarbela/share"
)

// newRegtestBuilder returns a pool-mode job builder for regtest.
func newRegtestBuilder(t testing.TB) *pool.JobBuilder {
	t.Helper()
	b, err := pool.NewJobBuilder(pool.BuilderOptions{
		Network: &chaincfg.RegressionNetParams, Mode: pool.ModePool,
		PoolAddress: localnet.RegtestAddress(2), Tag: "/tarbela-test/", Extranonce2Size: 8,
	})
	if err != nil {
		t.Fatalf("NewJobBuilder: %v", err)
	}
	return b
}

func btcdNode(name string, b *localnet.Btcd) pool.NodeOptions {
	return pool.NodeOptions{Name: name, URL: b.URL(), User: b.User, Password: b.Pass}
}

// startManager starts a manager whose published work goes to the returned
// channel; push mechanisms are off unless the options turn them on.
func startManager(t testing.TB, o pool.ManagerOptions) (*pool.Manager, chan *pool.Work) {
	t.Helper()
	works := make(chan *pool.Work, 256)
	if o.Builder == nil {
		o.Builder = newRegtestBuilder(t)
	}
	o.OnWork = func(w share.Work) {
		select {
		case works <- w.(*pool.Work):
		default:
			t.Errorf("work channel full: the manager publishes far too often")
		}
	}
	if o.Log == nil {
		o.Log = zaptest.NewLogger(t)
	}
	m, err := pool.NewManager(o)
	if err != nil {
		t.Fatalf("NewManager: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background()) })
	return m, works
}

// nextWork waits for the next published work.
func nextWork(t testing.TB, works <-chan *pool.Work, within time.Duration, what string) *pool.Work {
	t.Helper()
	select {
	case w := <-works:
		return w
	case <-time.After(within):
		t.Fatalf("no work published within %v: %s", within, what)
		return nil
	}
}

// noWork checks that nothing more is published for a while: duplicate
// triggers for one block must not cause duplicate broadcasts.
func noWork(t testing.TB, works <-chan *pool.Work, during time.Duration) {
	t.Helper()
	select {
	case w := <-works:
		t.Fatalf("unexpected work: height %d clean %v prev %s", w.Height(), w.Clean(), share.DisplayHex(&w.Template().PrevHash))
	case <-time.After(during):
	}
}

func prevHex(w *pool.Work) string { return share.DisplayHex(&w.Template().PrevHash) }

// TestManagerNewBlock generates a block on a real btcd and expects exactly
// one clean work on the new tip, with each new-block mechanism on its own.
func TestManagerNewBlock(t *testing.T) {
	tests := []struct {
		name string
		// node and opts turn on the mechanism under test.
		node func(*pool.NodeOptions)
		opts func(*pool.ManagerOptions)
		zmq  bool
	}{
		{name: "websocket notifyblocks", node: func(n *pool.NodeOptions) { n.WebsocketNotify = true }},
		{name: "long poll", node: func(n *pool.NodeOptions) { n.LongPoll = true }},
		{name: "best block poll", opts: func(o *pool.ManagerOptions) { o.PollInterval = 200 * time.Millisecond }},
		{name: "zmq hashblock", zmq: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := localnettest.StartBtcd(t, localnet.BtcdOptions{})
			n := btcdNode("btcd", b)
			if tc.node != nil {
				tc.node(&n)
			}
			zpub, ep := startZMQPub(t, "tcp://127.0.0.1:0")
			if tc.zmq {
				n.ZMQHashBlock = ep
			}
			o := pool.ManagerOptions{Nodes: []pool.NodeOptions{n}, RefreshInterval: -1, PollInterval: -1}
			if tc.opts != nil {
				tc.opts(&o)
			}
			m, works := startManager(t, o)

			first := nextWork(t, works, time.Second, "Start publishes the first work")
			if !first.Clean() || first.Height() != 1 || m.Height() != 1 || m.Current() != share.Work(first) {
				t.Fatalf("first work clean %v height %d (manager height %d); want clean work at height 1 as Current", first.Clean(), first.Height(), m.Height())
			}
			if tc.zmq {
				waitSubscribed(t, zpub, "hashblock")
			}
			// Let connection-time triggers (websocket connect, first
			// long poll) settle: they must not publish anything either.
			noWork(t, works, 500*time.Millisecond)

			ctx := testCtx(t, 30*time.Second)
			hashes, err := b.Generate(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if tc.zmq {
				// The publisher plays Bitcoin Core: hash in display order.
				h, _ := hex.DecodeString(hashes[0])
				if err := zpub.Send(hashblockMsg(h, 0)); err != nil {
					t.Fatal(err)
				}
			}
			w := nextWork(t, works, 15*time.Second, "a new block must publish clean work")
			if !w.Clean() || w.Height() != 2 || prevHex(w) != hashes[0] {
				t.Fatalf("work clean %v height %d prev %s; want clean work at height 2 on %s", w.Clean(), w.Height(), prevHex(w), hashes[0])
			}
			if m.Height() != 2 {
				t.Fatalf("Height() = %d after the new block, want 2", m.Height())
			}
			noWork(t, works, time.Second)
		})
	}
}

// TestManagerAllMechanismsDeduplicate turns every mechanism on: each block is
// reported by the websocket (twice), the long poll and the poll, and must
// still produce exactly one clean broadcast.
func TestManagerAllMechanismsDeduplicate(t *testing.T) {
	b := localnettest.StartBtcd(t, localnet.BtcdOptions{})
	n := btcdNode("btcd", b)
	n.WebsocketNotify, n.LongPoll = true, true
	_, works := startManager(t, pool.ManagerOptions{Nodes: []pool.NodeOptions{n},
		RefreshInterval: -1, PollInterval: 100 * time.Millisecond})
	nextWork(t, works, time.Second, "first work")
	noWork(t, works, 500*time.Millisecond)

	ctx := testCtx(t, 30*time.Second)
	for i := range 3 {
		hashes, err := b.Generate(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		w := nextWork(t, works, 15*time.Second, "clean work for the new block")
		if !w.Clean() || prevHex(w) != hashes[0] || w.Height() != int64(i+2) {
			t.Fatalf("block %d: work clean %v height %d prev %s; want clean at height %d on %s",
				i, w.Clean(), w.Height(), prevHex(w), i+2, hashes[0])
		}
		noWork(t, works, time.Second)
	}
}

// TestManagerRefresh checks that a refresh on an unchanged tip publishes work
// with clean=false.
func TestManagerRefresh(t *testing.T) {
	tests := []struct {
		name    string
		refresh time.Duration
		force   bool
	}{
		{name: "periodic", refresh: 300 * time.Millisecond},
		{name: "Refresh()", refresh: -1, force: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := localnettest.StartBtcd(t, localnet.BtcdOptions{})
			m, works := startManager(t, pool.ManagerOptions{Nodes: []pool.NodeOptions{btcdNode("btcd", b)},
				RefreshInterval: tc.refresh, PollInterval: -1})
			first := nextWork(t, works, time.Second, "first work")
			if tc.force {
				m.Refresh()
			}
			w := nextWork(t, works, 10*time.Second, "refreshed work")
			if w.Clean() || w.Height() != first.Height() || prevHex(w) != prevHex(first) || w.ID() == first.ID() {
				t.Fatalf("refreshed work clean %v height %d id %s; want clean=false at height %d with a new id (first %s)",
					w.Clean(), w.Height(), w.ID(), first.Height(), first.ID())
			}
		})
	}
}

// closedURL returns an http URL on which nothing listens.
func closedURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

func TestNewManagerValidation(t *testing.T) {
	builder := newRegtestBuilder(t)
	onWork := func(share.Work) {}
	good := pool.NodeOptions{Name: "a", URL: "http://127.0.0.1:18443"}
	tests := []struct {
		name string
		o    pool.ManagerOptions
		want []string
	}{
		{name: "empty", o: pool.ManagerOptions{},
			want: []string{"at least one node", "job builder", "OnWork"}},
		{name: "bad nodes", o: pool.ManagerOptions{Builder: builder, OnWork: onWork, Nodes: []pool.NodeOptions{
			good, good,
			{Name: "b", URL: "127.0.0.1:18443"},
			{Name: "c", URL: "http://127.0.0.1:18443", ZMQHashBlock: "127.0.0.1:28332"},
			{Name: "d", URL: "http://localhost", WebsocketNotify: true},
			{Name: "e", URL: "http://127.0.0.1:18443", User: "u", CookieFile: "/nonexistent/.cookie"},
		}}, want: []string{`nodes[1]: name "a" is used twice`, "nodes[2]", "nodes[3]", "nodes[4]: websocket",
			"nodes[5]: node e: set CookieFile or User and Password, not both"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pool.NewManager(tc.o)
			if err == nil {
				t.Fatal("NewManager accepted bad options")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestManagerStartFailsNamingEveryNode(t *testing.T) {
	m, err := pool.NewManager(pool.ManagerOptions{
		Builder: newRegtestBuilder(t), OnWork: func(share.Work) { t.Error("work published without a node") },
		Nodes: []pool.NodeOptions{{Name: "first", URL: closedURL(t)}, {Name: "second", URL: closedURL(t)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Start(context.Background())
	if err == nil {
		t.Fatal("Start succeeded with no node answering")
	}
	for _, name := range []string{"node first", "node second", "connection refused"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("Start error %q does not mention %q", err, name)
		}
	}
	if m.Current() != nil || m.Height() != 0 {
		t.Fatalf("Current %v, Height %d after a failed Start", m.Current(), m.Height())
	}
	for range 2 {
		if err := m.Stop(context.Background()); err != nil {
			t.Fatalf("Stop after a failed Start: %v", err)
		}
	}
}

// TestManagerFailover covers a node that is down from the start and a node
// that stops while it is the active one.
func TestManagerFailover(t *testing.T) {
	t.Run("first node down at start", func(t *testing.T) {
		b := localnettest.StartBtcd(t, localnet.BtcdOptions{})
		m, works := startManager(t, pool.ManagerOptions{
			Nodes:           []pool.NodeOptions{{Name: "down", URL: closedURL(t)}, btcdNode("good", b)},
			RefreshInterval: -1, PollInterval: 200 * time.Millisecond, RetryInterval: 200 * time.Millisecond,
		})
		if w := nextWork(t, works, time.Second, "first work"); w.Height() != 1 {
			t.Fatalf("first work height %d", w.Height())
		}
		if got := m.Client().Name(); got != "good" {
			t.Fatalf("active node %q, want good", got)
		}
		if cs := m.Clients(); len(cs) != 2 || cs[0].Name() != "good" || cs[1].Name() != "down" {
			t.Fatalf("Clients() not active-first: %v", cs)
		}
		hashes, err := b.Generate(testCtx(t, 30*time.Second), 1)
		if err != nil {
			t.Fatal(err)
		}
		if w := nextWork(t, works, 15*time.Second, "new block on the good node"); !w.Clean() || prevHex(w) != hashes[0] {
			t.Fatalf("work clean %v prev %s, want clean on %s", w.Clean(), prevHex(w), hashes[0])
		}
	})

	t.Run("active node stops", func(t *testing.T) {
		a := localnettest.StartBtcd(t, localnet.BtcdOptions{})
		b := localnettest.StartBtcd(t, localnet.BtcdOptions{})
		na := btcdNode("a", a)
		na.WebsocketNotify, na.LongPoll = true, true
		m, works := startManager(t, pool.ManagerOptions{
			Nodes:           []pool.NodeOptions{na, btcdNode("b", b)},
			RefreshInterval: -1, PollInterval: 200 * time.Millisecond, RetryInterval: 200 * time.Millisecond,
		})
		nextWork(t, works, time.Second, "first work")
		if got := m.Client().Name(); got != "a" {
			t.Fatalf("active node %q, want a", got)
		}
		// b's chain moves on while a is active: nothing is published
		// for it, a is the node in use.
		ctx := testCtx(t, 30*time.Second)
		hashes, err := b.Generate(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		noWork(t, works, 500*time.Millisecond)

		a.Stop()
		w := nextWork(t, works, 15*time.Second, "work from node b after a stopped")
		if !w.Clean() || w.Height() != 2 || prevHex(w) != hashes[0] {
			t.Fatalf("work clean %v height %d prev %s; want clean at height 2 on b's block %s", w.Clean(), w.Height(), prevHex(w), hashes[0])
		}
		if got := m.Client().Name(); got != "b" {
			t.Fatalf("active node %q after failover, want b", got)
		}
		// The manager keeps working on b.
		hashes, err = b.Generate(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if w := nextWork(t, works, 15*time.Second, "next block on b"); !w.Clean() || prevHex(w) != hashes[0] {
			t.Fatalf("work clean %v prev %s, want clean on %s", w.Clean(), prevHex(w), hashes[0])
		}
	})
}

// TestManagerLongPollFollowsFailover has only long polling to see blocks:
// after the active node stops, the long poll must move to the other node
// even though both are on the same tip, and see its next block.
func TestManagerLongPollFollowsFailover(t *testing.T) {
	a := localnettest.StartBtcd(t, localnet.BtcdOptions{})
	b := localnettest.StartBtcd(t, localnet.BtcdOptions{})
	na, nb := btcdNode("a", a), btcdNode("b", b)
	na.LongPoll, nb.LongPoll = true, true
	m, works := startManager(t, pool.ManagerOptions{
		Nodes:           []pool.NodeOptions{na, nb},
		RefreshInterval: -1, PollInterval: -1, RetryInterval: 200 * time.Millisecond,
	})
	first := nextWork(t, works, time.Second, "first work")
	a.Stop()
	// Same genesis tip on b: the work is re-published from b, not clean.
	w := nextWork(t, works, 15*time.Second, "work from b after a stopped")
	if w.Clean() || prevHex(w) != prevHex(first) || m.Client().Name() != "b" {
		t.Fatalf("work clean %v prev %s from active node %s; want clean=false on %s from b",
			w.Clean(), prevHex(w), m.Client().Name(), prevHex(first))
	}
	hashes, err := b.Generate(testCtx(t, 30*time.Second), 1)
	if err != nil {
		t.Fatal(err)
	}
	w = nextWork(t, works, 15*time.Second, "block on b seen by the long poll")
	if !w.Clean() || prevHex(w) != hashes[0] {
		t.Fatalf("work clean %v prev %s, want clean on %s", w.Clean(), prevHex(w), hashes[0])
	}
	noWork(t, works, 500*time.Millisecond)
}

// TestManagerFailback starts with the preferred node down; when a node comes
// up at its address the manager must switch back to it.
func TestManagerFailback(t *testing.T) {
	backup := localnettest.StartBtcd(t, localnet.BtcdOptions{})
	preferredAddr := strings.TrimPrefix(closedURL(t), "http://")
	preferred := pool.NodeOptions{Name: "preferred", URL: "http://" + preferredAddr, User: "u", Password: "p"}
	m, works := startManager(t, pool.ManagerOptions{
		Nodes:           []pool.NodeOptions{preferred, btcdNode("backup", backup)},
		RefreshInterval: -1, PollInterval: 200 * time.Millisecond, RetryInterval: 200 * time.Millisecond,
	})
	nextWork(t, works, time.Second, "first work")
	if got := m.Client().Name(); got != "backup" {
		t.Fatalf("active node %q, want backup", got)
	}

	b := localnettest.StartBtcd(t, localnet.BtcdOptions{RPCAddr: preferredAddr, User: "u", Pass: "p"})
	deadline := time.Now().Add(15 * time.Second)
	for m.Client().Name() != "preferred" {
		if time.Now().After(deadline) {
			t.Fatal("the manager did not switch back to the preferred node")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Both chains are at genesis: the switch alone publishes nothing, and
	// the next block on the preferred node is seen there.
	hashes, err := b.Generate(testCtx(t, 30*time.Second), 1)
	if err != nil {
		t.Fatal(err)
	}
	w := nextWork(t, works, 15*time.Second, "new block on the preferred node")
	if !w.Clean() || prevHex(w) != hashes[0] {
		t.Fatalf("work clean %v prev %s, want clean on %s", w.Clean(), prevHex(w), hashes[0])
	}
}
