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

// TestCluster runs the store on a Redis Cluster (one real redis-server in
// cluster mode holding every slot): the batch script's keys share one
// slot, the writer finds that slot's primary for the script and WAIT, and
// the readers go through the cluster client. Shares acknowledged are read
// back exactly, through a client that knows nothing of the cluster.
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := localnet.StartRedis(ctx, localnet.RedisOptions{Dir: t.TempDir(),
		Args: []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}})
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

	for _, wait := range []int{0, redisstore.WaitAuto} {
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
			t.Errorf("wait %d: %d shares journaled on a healthy cluster without replicas", wait, n)
		}
	}
}
