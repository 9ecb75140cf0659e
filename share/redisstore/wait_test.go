package redisstore_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/localnet/localnettest"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// startReplica starts a redis-server replicating primary and waits until
// the primary counts it as connected.
func startReplica(t testing.TB, primary *localnet.Redis) *localnet.Redis {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	host, port, _ := strings.Cut(primary.Addr, ":")
	r, err := localnet.StartRedis(ctx, localnet.RedisOptions{Dir: t.TempDir(), Args: []string{"--replicaof", host, port}})
	if err != nil {
		t.Fatalf("start the replica: %v", err)
	}
	t.Cleanup(r.Stop)
	pc := client(t, primary)
	waitFor(t, "the replica to connect", func() bool {
		info, err := pc.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online")
	})
	return r
}

// TestWaitReplicas: a share acknowledged while the store waits for one
// replica is on that replica already; while the replica does not answer,
// batches go to the journal before their acknowledgement and reach Redis
// exactly once when it returns.
func TestWaitReplicas(t *testing.T) {
	primary := startRedis(t)
	replica := startReplica(t, primary)
	pc, rc := client(t, primary), client(t, replica)
	ctx := context.Background()

	t.Run("acknowledged is on the replica", func(t *testing.T) {
		pc.FlushAll(ctx)
		obs := &observer{}
		s := newStore(t, primary, redisstore.Options{WaitReplicas: 1, BatchInterval: time.Millisecond,
			JournalPath: filepath.Join(t.TempDir(), "journal.log"), Observer: obs})
		for i := range 30 {
			if err := s.AddShareWait(ctx, rec(uint64(i+1), "acct", "rig", 1)); err != nil {
				t.Fatalf("AddShareWait %d: %v", i, err)
			}
			// No wait here: WAIT returned before the acknowledgement.
			if got := stats(t, rc, "tarbela").TotalShares; got < int64(i+1) {
				t.Fatalf("share %d acknowledged, the replica holds %d shares", i+1, got)
			}
		}
		if n := obs.journaled.Load(); n != 0 {
			t.Errorf("%d shares journaled with a healthy replica", n)
		}
	})

	t.Run("a silent replica sends batches through the journal", func(t *testing.T) {
		pc.FlushAll(ctx)
		obs := &observer{}
		journal := filepath.Join(t.TempDir(), "journal.log")
		s := newStore(t, primary, redisstore.Options{WaitReplicas: 1, WaitTimeout: 100 * time.Millisecond,
			BatchInterval: time.Millisecond, RetryInterval: 20 * time.Millisecond, JournalPath: journal, Observer: obs})
		if err := replica.Freeze(); err != nil {
			t.Fatal(err)
		}
		thawed := false
		defer func() {
			if !thawed {
				_ = replica.Thaw()
			}
		}()
		const n = 40
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() { errs <- s.AddShareWait(ctx, rec(uint64(i+1), "acct", "rig", 1)) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("AddShareWait: %v", err)
			}
		}
		if obs.journaled.Load() == 0 {
			t.Fatal("no share was journaled while the replica was frozen")
		}
		// Every share acknowledged, while the replica holds none of them:
		// they are in the journal, which is not drained.
		if _, j := s.Backlog(); j == 0 {
			t.Fatal("journal drained while the replica was frozen: a batch was confirmed without a replica")
		}
		if err := replica.Thaw(); err != nil {
			t.Fatal(err)
		}
		thawed = true
		fctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := s.Flush(fctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		// Batches the primary applied before their WAIT fell short were
		// replayed from the journal: each counts once.
		if got := stats(t, pc, "tarbela").TotalShares; got != n {
			t.Errorf("primary holds %d shares, want exactly %d", got, n)
		}
		waitFor(t, "the replica to catch up", func() bool { return stats(t, rc, "tarbela").TotalShares == n })
	})

	t.Run("auto waits while the primary has a replica", func(t *testing.T) {
		pc.FlushAll(ctx)
		s := newStore(t, primary, redisstore.Options{WaitReplicas: redisstore.WaitAuto, BatchInterval: time.Millisecond})
		for i := range 10 {
			if err := s.AddShareWait(ctx, rec(uint64(i+1), "acct", "rig", 1)); err != nil {
				t.Fatalf("AddShareWait: %v", err)
			}
			if got := stats(t, rc, "tarbela").TotalShares; got < int64(i+1) {
				t.Fatalf("share %d acknowledged, the replica holds %d shares", i+1, got)
			}
		}
	})
}

// TestWaitAutoWithoutReplicas: WaitAuto on a primary without replicas does
// not wait, and never journals.
func TestWaitAutoWithoutReplicas(t *testing.T) {
	r := startRedis(t)
	obs := &observer{}
	s := newStore(t, r, redisstore.Options{WaitReplicas: redisstore.WaitAuto, WaitTimeout: 5 * time.Second,
		BatchInterval: time.Millisecond, JournalPath: filepath.Join(t.TempDir(), "journal.log"), Observer: obs})
	for i := range 20 {
		if err := s.AddShareWait(context.Background(), rec(uint64(i+1), "acct", "rig", 1)); err != nil {
			t.Fatalf("AddShareWait: %v", err)
		}
	}
	if n := obs.journaled.Load(); n != 0 {
		t.Errorf("%d shares journaled: a WAIT for a replica that does not exist fell short", n)
	}
	if got := stats(t, client(t, r), "tarbela").TotalShares; got != 20 {
		t.Errorf("Redis holds %d shares, want 20", got)
	}
}

// TestSentinelFailoverKeepsAcknowledged is the store's side of issue 14's
// failover rule: shares flow through a store on a Sentinel-managed primary
// with one replica; the primary is killed with SIGKILL in the middle;
// after the promotion every share the store acknowledged is in the new
// primary's ledger exactly once.
func TestSentinelFailoverKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("runs five redis-server processes and a failover")
	}
	set := localnettest.StartSentinelSet(t, localnet.SentinelSetOptions{})
	obs := &observer{}
	s, err := redisstore.New(redisstore.Options{SentinelAddrs: set.SentinelAddrs(), MasterName: set.Master,
		WaitReplicas: redisstore.WaitAuto, WaitTimeout: 200 * time.Millisecond, Timeout: 500 * time.Millisecond,
		BatchInterval: 2 * time.Millisecond, RetryInterval: 50 * time.Millisecond,
		JournalPath: filepath.Join(t.TempDir(), "journal.log"), Observer: obs, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)

	var acked, failed sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := uint64(1); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				seq := uint64(w)<<32 | i
				if err := s.AddShareWait(ctx, rec(seq, "acct", "rig", 1)); err != nil {
					failed.Store(seq, err)
				} else {
					acked.Store(seq, true)
				}
			}
		})
	}
	count := func(m *sync.Map) int {
		n := 0
		m.Range(func(any, any) bool { n++; return true })
		return n
	}
	waitFor(t, "shares before the kill", func() bool { return count(&acked) >= 300 })
	old := set.Data[0].Addr
	if err := set.Data[0].Kill(); err != nil {
		t.Fatal(err)
	}
	atKill := count(&acked)
	fctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	promoted, err := set.WaitFailover(fctx, old, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "shares after the promotion", func() bool { return count(&acked) >= atKill+300 })
	close(stop)
	wg.Wait()
	if err := s.Flush(fctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	failed.Range(func(k, v any) bool {
		t.Errorf("share %x refused: %v", k, v)
		return true
	})
	nc := redis.NewClient(&redis.Options{Addr: promoted})
	defer nc.Close()
	got := stats(t, nc, "tarbela").TotalShares
	want := int64(count(&acked))
	t.Logf("acknowledged %d shares (%d before the kill), journaled %d; the new primary %s holds %d",
		want, atKill, obs.journaled.Load(), promoted, got)
	if got != want {
		t.Errorf("the new primary holds %d shares, want exactly the %d acknowledged", got, want)
	}
}
