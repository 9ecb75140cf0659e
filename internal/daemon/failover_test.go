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
// all real processes), a real CPU miner flooding it at difficulty 1e-12
// against btcd regtest, and the Redis primary killed with SIGKILL mid-run.
// Once the Sentinels have promoted the replica, the pool has flushed its
// journal and the miner's last replies are in, the new primary's ledger
// holds exactly the shares the miner saw accepted: none lost (each was on
// the replica, or in the journal, before its "accepted"), none twice (a
// batch replayed from the journal that the replica already had is refused
// by its (stream, seq)).
//
// "replica in sync" runs the default wait_replicas (-1). In "replica cut
// off" the replica is frozen and the primary drops its link first, so the
// shares of the run's last part never reach the replica that is then
// promoted: with wait_replicas = 1 they are acknowledged from the journal
// and replayed into the new primary once it has a replica again (the old
// primary, restarted, which the Sentinels turn into one); with wait_replicas = 0 this case
// loses them (the primary acknowledged them alone), and with -1 too (the
// primary had no replica left when it took them; docs/redis.md).
func TestRedisFailoverKeepsAcceptedShares(t *testing.T) {
	if testing.Short() {
		t.Skip("runs btcd, five redis-server processes, the pool and a miner")
	}
	for _, c := range []struct {
		name string
		wait int
		cut  bool
	}{
		{"replica in sync", config.WaitAuto, false},
		{"replica cut off", 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			set := localnettest.StartSentinelSet(t, localnet.SentinelSetOptions{})
			node := localnettest.StartBtcd(t, localnet.BtcdOptions{MiningAddr: nodeAddr})
			cfg := devnet.Config(devnet.Options{Mode: config.ModePool, Difficulty: 1e-12, Stratum: "127.0.0.1:0"}, node, "", poolAddr)
			cfg.Stratum.Difficulty.Min, cfg.Stratum.Difficulty.Max = 1e-12, 1e-12
			cfg.Redis.SentinelAddrs, cfg.Redis.MasterName = set.SentinelAddrs(), set.Master
			cfg.Redis.WaitReplicas, cfg.Redis.WaitTimeout = c.wait, 300*time.Millisecond
			cfg.Redis.JournalPath = filepath.Join(t.TempDir(), "journal.log")
			cfg.Metrics.Listen = "127.0.0.1:0"
			if err := cfg.Validate(); err != nil {
				t.Fatalf("config: %v", err)
			}
			d := runDaemon(t, cfg, &logBuffer{})

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
			primary, replica := set.Data[0], set.Data[1]
			if c.cut {
				// The replica stops (SIGSTOP) and the primary drops its
				// link: what the primary takes from now on, the replica
				// never gets (a stopped process would still find what the
				// kernel buffered for it on a live link).
				if err := replica.Freeze(); err != nil {
					t.Fatal(err)
				}
				defer replica.Thaw()
				pc := redis.NewClient(&redis.Options{Addr: primary.Addr})
				err := pc.Do(testContext(t), "client", "kill", "type", "replica").Err()
				pc.Close()
				if err != nil {
					t.Fatalf("cut the replica's link: %v", err)
				}
				before := m.Stats().Accepted
				waitFor(t, "shares accepted after the cut", func() bool { return m.Stats().Accepted >= before+200 })
			}
			if err := primary.Kill(); err != nil {
				t.Fatal(err)
			}
			atKill := m.Stats()
			if c.cut {
				if err := replica.Thaw(); err != nil {
					t.Fatal(err)
				}
			}
			promoted, err := set.WaitFailover(testContext(t), primary.Addr, testTimeout)
			if err != nil {
				t.Fatal(err)
			}
			// The miner keeps being answered through the outage (from
			// the journal) and after it.
			waitFor(t, "accepted shares after the promotion", func() bool { return m.Stats().Accepted >= atKill.Accepted+200 })
			if c.wait > 0 {
				// wait_replicas = 1 journals every batch until the new
				// primary has a replica: the operator restarts the dead
				// machine's Redis, which the Sentinels make a replica.
				back, err := primary.Restart(testContext(t))
				if err != nil {
					t.Fatalf("restart the old primary: %v", err)
				}
				t.Cleanup(back.Stop)
			}

			// Stop sending, and let the replies to what was sent come in:
			// the miner's counts are then final.
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
			journaled := (&testPool{d: d}).metricValue(t, "tarbela_shares_journaled_total")
			t.Logf("miner: %d accepted (%d at the kill), %d rejected, %d unanswered; %v shares went through the journal; new primary %s holds %d shares",
				st.Accepted, atKill.Accepted, st.Rejected, st.Unanswered, journaled, promoted, stats.TotalShares)
			if st.Unanswered != 0 {
				t.Fatalf("%d submits went unanswered on a pool that stayed up", st.Unanswered)
			}
			if journaled == 0 {
				t.Error("no share went through the journal: the test did not exercise the outage")
			}
			if stats.TotalShares != int64(st.Accepted) {
				t.Errorf("the new primary holds %d shares, want exactly the %d the miner saw accepted", stats.TotalShares, st.Accepted)
			}
		})
	}
}
