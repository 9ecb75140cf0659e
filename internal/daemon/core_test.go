package daemon_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/localnet/localnettest"
	"github.com/tarbela-pool/tarbela/pool"
	"github.com/tarbela-pool/tarbela/share"
)

// TestBitcoinCoreCookie runs the pool against a real Bitcoin Core regtest
// node that uses its default cookie authentication (no rpcuser or
// rpcpassword): the pool starts with rpc_cookie_file and gets a template;
// then Core restarts, which writes a new cookie, and both a client of the
// pool package and the running pool carry on: the pool follows a block
// Core mines and submits one of its own that Core takes. It is skipped when
// the machine has no bitcoind (see localnet.FindBitcoind) and under -short.
func TestBitcoinCoreCookie(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the Bitcoin Core test in -short mode")
	}
	// New blocks reach the pool by ZMQ (and the best-block poll), not by
	// long polling: Core v29 holds its shutdown until an open long poll
	// returns, up to a minute, which would make each restart that long.
	zmq := "tcp://" + freeAddr(t)
	o := localnet.BitcoindOptions{DataDir: filepath.Join(t.TempDir(), "core"), RPCAddr: freeAddr(t),
		Args: []string{"-zmqpubhashblock=" + zmq}}
	began := time.Now()
	core := localnettest.StartBitcoind(t, o)
	t.Logf("Bitcoin Core %s answered on %s after %v", core.Binary, core.RPCAddr, time.Since(began).Round(time.Millisecond))
	firstCookie := readCookie(t, core)
	rds := startRedis(t)

	cfg := config.Default()
	cfg.Pool.Network, cfg.Pool.Mode, cfg.Pool.PayoutAddress = config.NetworkRegtest, config.ModePool, poolAddr
	cfg.Stratum.Listen, cfg.Metrics.Listen = "127.0.0.1:0", ""
	cfg.Stratum.Difficulty.Min, cfg.Stratum.Difficulty.Initial, cfg.Stratum.Difficulty.Max = 1e-12, 1e-12, 1
	n := config.DefaultNode()
	n.Name, n.RPCURL, n.RPCCookieFile = "core", core.URL(), core.CookieFile
	n.ZMQHashBlock, n.Longpoll = zmq, false
	cfg.Nodes = []config.Node{n}
	cfg.Redis.Addr, cfg.Redis.JournalPath = rds.Addr, filepath.Join(t.TempDir(), "journal.log")
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	d := runDaemon(t, cfg, &logBuffer{})
	if h := d.Manager().Height(); h != 1 {
		t.Fatalf("the pool's first template is for height %d; want 1 (Core's regtest starts at 0)", h)
	}
	c := dial(t, d.StratumAddr())
	worker := minerAddr + ".core"
	c.handshake(worker, fixedEasy, 0)

	client, err := pool.NewCookieRPCClient("core", core.URL(), core.CookieFile, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	ctx := testContext(t)
	if h, err := client.GetBlockCount(ctx); err != nil || h != 0 {
		t.Fatalf("GetBlockCount with the first cookie = %d, %v; want 0", h, err)
	}

	// A restart: Core deletes its cookie when it stops and writes a new one
	// when it starts.
	began = time.Now()
	core.Stop()
	if _, err := core.Cookie(); err == nil {
		t.Fatalf("Core left its cookie %s behind when it stopped", core.CookieFile)
	}
	core = localnettest.StartBitcoind(t, o)
	t.Logf("Bitcoin Core restarted on %s in %v", core.RPCAddr, time.Since(began).Round(time.Millisecond))
	if readCookie(t, core) == firstCookie {
		t.Fatal("Core wrote the same cookie again; the test needs a new one")
	}

	// The client still holds the first cookie: refused once, it reads the
	// new one and its call succeeds.
	if h, err := client.GetBlockCount(ctx); err != nil || h != 0 {
		t.Fatalf("GetBlockCount after Core's restart = %d, %v; want 0", h, err)
	}
	// The pool follows a block Core mines, which takes a template from
	// Core with the new cookie.
	began = time.Now()
	mined, err := client.GenerateToAddress(ctx, 1, nodeAddr)
	if err != nil || len(mined) != 1 {
		t.Fatalf("generatetoaddress = %v, %v", mined, err)
	}
	waitFor(t, "the pool's template for height 2", func() bool { return d.Manager().Height() == 2 })
	t.Logf("the pool had Core's new tip %v after generatetoaddress", time.Since(began).Round(time.Millisecond))

	// And submits a block of its own on that tip, which Core takes.
	job := c.expectNotify(false)
	for share.DisplayHex(&job.PrevHash) != mined[0] {
		job = c.expectNotify(true)
	}
	block := c.findShare(job, worker, 0, 0, 0, true)
	wantAccepted(t, "block share", c.call("mining.submit", block.params...))
	hash := share.DisplayHex(&block.res.Hash)
	waitFor(t, "Core to have the pool's block and the pool to count it", func() bool {
		best, err := client.GetBestBlockHash(ctx)
		return err == nil && best == hash && d.Status().BlocksAccepted == 1
	})
}

// readCookie returns the content of Core's cookie file.
func readCookie(t *testing.T, core *localnet.Bitcoind) string {
	t.Helper()
	c, err := core.Cookie()
	if err != nil {
		t.Fatal(err)
	}
	return c
}
