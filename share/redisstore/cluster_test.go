package redisstore_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// TestCluster runs the store on a Redis Cluster (a real redis-server in
// cluster mode holding every slot, and a second one as its replica): the
// batch script's keys share one slot, the writer finds that slot's primary
// for the script and WAIT, and the readers go through the cluster client.
// Shares acknowledged are read back exactly, through a client that knows
// nothing of the cluster; with WAIT, each is on the replica when its
// acknowledgement comes.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := localnet.StartRedis(ctx, localnet.RedisOptions{Dir: t.TempDir(),
		Args: []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--repl-diskless-sync-delay", "0"}})
	if err != nil {
		t.Fatalf("start redis-server in cluster mode: %v", err)
	}
	t.Cleanup(r.Stop)
	c := client(t, r)
	if err := c.Do(ctx, "cluster", "addslotsrange", 0, 16383).Err(); err != nil {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %v", err)
	}
	waitFor(t, "the cluster to be ok", func() bool {
		info, err := c.ClusterInfo(ctx).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok")
	})
	// The replica: meets the primary, then replicates it.
	rr, err := localnet.StartRedis(ctx, localnet.RedisOptions{Dir: t.TempDir(),
		Args: []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}})
	if err != nil {
		t.Fatalf("start the replica: %v", err)
	}
	t.Cleanup(rr.Stop)
	// Reads on a cluster replica need READONLY on the connection.
	rc := redis.NewClient(&redis.Options{Addr: rr.Addr, OnConnect: func(ctx context.Context, cn *redis.Conn) error {
		return cn.ReadOnly(ctx).Err()
	}})
	t.Cleanup(func() { rc.Close() })
	host, port, _ := strings.Cut(r.Addr, ":")
	if err := rc.ClusterMeet(ctx, host, port).Err(); err != nil {
		t.Fatalf("CLUSTER MEET: %v", err)
	}
	primaryID, err := c.ClusterMyID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	// Once accepted, REPLICATE is not repeated: each call restarts the
	// replica's first sync.
	waitFor(t, "the replica to know the primary", func() bool {
		return rc.ClusterReplicate(ctx, primaryID).Err() == nil
	})
	waitFor(t, "the replica online", func() bool {
		info, err := c.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "state=online")
	})

	for _, wait := range []int{0, 1, redisstore.WaitAuto} {
		c.FlushAll(ctx)
		obs := &observer{}
		s, err := redisstore.New(redisstore.Options{ClusterAddrs: []string{r.Addr}, WaitReplicas: wait,
			BatchInterval: time.Millisecond, JournalPath: filepath.Join(t.TempDir(), "journal.log"), Observer: obs})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ok := s.Client().(*redis.ClusterClient); !ok {
			t.Fatalf("Client() is %T, want a *redis.ClusterClient", s.Client())
		}
		for i := range 50 {
			if err := s.AddShareWait(ctx, rec(uint64(i+1), "acct", "rig", 1)); err != nil {
				t.Fatalf("wait %d: AddShareWait: %v", wait, err)
			}
			if wait == 0 {
				continue
			}
			if got := stats(t, rc, "tarbela").TotalShares; got < int64(i+1) {
				t.Fatalf("wait %d: share %d acknowledged, the replica holds %d", wait, i+1, got)
			}
		}
		st, err := s.Stats(ctx)
		if err != nil {
			t.Fatalf("Stats through the cluster client: %v", err)
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if st.TotalShares != 50 || stats(t, c, "tarbela").TotalShares != 50 {
			t.Errorf("wait %d: %d shares read through the cluster client, %d directly; want 50", wait, st.TotalShares, stats(t, c, "tarbela").TotalShares)
		}
		if n := obs.journaled.Load(); n != 0 {
			t.Errorf("wait %d: %d shares journaled on a healthy cluster", wait, n)
		}
	}
}
