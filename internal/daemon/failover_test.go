package daemon_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/cpuminer"
	"github.com/tarbela-pool/tarbela/internal/devnet"
	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/localnet/localnettest"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// TestRedisFailoverKeepsAcceptedShares is issue 14's failover test: a pool
// on a Sentinel-managed Redis (a primary, one replica, three Sentinels,
// all real processes) with the default wait_replicas, a real CPU miner
// flooding it at difficulty 1e-12 against btcd regtest; the Redis primary
// is killed with SIGKILL mid-run. Once the Sentinels have promoted the
// replica, the pool has flushed its journal and the miner's last replies
// are in, the new primary's ledger holds exactly the shares the miner saw
// accepted: none lost (each was on the replica, or in the journal, before
// its "accepted"), none twice (a batch replayed from the journal that the
// replica already had is refused by its (stream, seq)).
func TestRedisFailoverKeepsAcceptedShares(t *testing.T) {
	if testing.Short() {
		t.Skip("runs btcd, five redis-server processes, the pool and a miner")
	}
	set := localnettest.StartSentinelSet(t, localnet.SentinelSetOptions{})
	node := localnettest.StartBtcd(t, localnet.BtcdOptions{MiningAddr: nodeAddr})
	cfg := devnet.Config(devnet.Options{Mode: config.ModePool, Difficulty: 1e-12, Stratum: "127.0.0.1:0"}, node, "", poolAddr)
	cfg.Stratum.Difficulty.Min, cfg.Stratum.Difficulty.Max = 1e-12, 1e-12
	cfg.Redis.SentinelAddrs, cfg.Redis.MasterName = set.SentinelAddrs(), set.Master
	cfg.Redis.JournalPath = filepath.Join(t.TempDir(), "journal.log")
	cfg.Metrics.Listen = ""
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &logBuffer{}
	d := runDaemon(t, cfg, logs)

	m, err := cpuminer.New(cpuminer.Options{URL: d.StratumAddr(), User: minerAddr + ".failover", Threads: 1,
		VersionRolling: true, RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("cpuminer.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- m.Run(ctx) }()

	waitFor(t, "the miner's first accepted shares", func() bool { return m.Stats().Accepted >= 200 })
	old := set.Data[0].Addr
	if err := set.Data[0].Kill(); err != nil {
		t.Fatal(err)
	}
	atKill := m.Stats()
	promoted, err := set.WaitFailover(testContext(t), old, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	// The miner keeps being answered through the outage (from the
	// journal) and after it.
	waitFor(t, "accepted shares after the promotion", func() bool { return m.Stats().Accepted >= atKill.Accepted+200 })

	// Stop sending, and let the replies to what was sent come in: the
	// miner's counts are then final.
	m.Hold(true)
	waitFor(t, "the miner's last replies", func() bool { return m.Stats().InFlight == 0 })
	st := m.Stats()
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("miner: %v", err)
	}
	fctx, fcancel := context.WithTimeout(context.Background(), testTimeout)
	defer fcancel()
	if err := d.Store().Flush(fctx); err != nil {
		t.Fatalf("flush the pool's shares: %v", err)
	}

	rc := redis.NewClient(&redis.Options{Addr: promoted})
	defer rc.Close()
	stats, err := redisstore.NewReader(rc, cfg.Redis.Prefix, 0).Stats(fctx)
	if err != nil {
		t.Fatalf("read the new primary: %v", err)
	}
	t.Logf("miner: %d accepted (%d at the kill), %d rejected, %d unanswered; new primary %s holds %d shares; journal replayed %d",
		st.Accepted, atKill.Accepted, st.Rejected, st.Unanswered, promoted, stats.TotalShares, d.Status().Journaled)
	if st.Unanswered != 0 {
		t.Fatalf("%d submits went unanswered on a pool that stayed up", st.Unanswered)
	}
	if stats.TotalShares != int64(st.Accepted) {
		t.Errorf("the new primary holds %d shares, want exactly the %d the miner saw accepted", stats.TotalShares, st.Accepted)
	}
}
