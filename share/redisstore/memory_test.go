package redisstore_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

func usedMemoryT(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatalf("INFO memory: %v", err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatalf("no used_memory")
	return 0
}

// TestMemoryFlatOverRounds plays 40 rounds of 2,000 shares over 200 workers,
// each ended by a block whose round is then paid and released: once the
// PPLNS window is full, Redis memory stays flat (only the small block
// records grow, one per block).
func TestMemoryFlatOverRounds(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	s := newStore(t, r, redisstore.Options{WindowSize: 5000, BatchSize: 256})
	ctx := context.Background()
	// One share time for the whole test: a hashrate bucket boundary
	// crossed mid-test would add bucket keys that are not growth.
	at := time.Now()
	round := func(i int) {
		for j := range 2000 {
			acct := "acct" + strconv.Itoa(j%20)
			r := rec(uint64(i*2000+j), acct, "rig"+strconv.Itoa(j%10), 1)
			r.Time = at
			if err := s.AddShare(r); err != nil {
				t.Fatalf("AddShare: %v", err)
			}
		}
		hash := "0f" + strconv.Itoa(i)
		if err := s.AddBlockWait(ctx, &share.BlockRecord{Height: int64(i), Hash: hash, Worker: "acct0.rig0", Account: "acct0", Status: share.BlockAccepted}); err != nil {
			t.Fatalf("AddBlockWait: %v", err)
		}
		if err := s.SetBlockStatus(ctx, hash, "paid"); err != nil {
			t.Fatalf("SetBlockStatus: %v", err)
		}
		if err := s.ReleaseRound(ctx, hash, 0); err != nil {
			t.Fatalf("ReleaseRound: %v", err)
		}
	}
	for i := range 5 {
		round(i)
	}
	before := usedMemoryT(t, c)
	keysBefore := c.DBSize(ctx).Val()
	for i := 5; i < 40; i++ {
		round(i)
	}
	after := usedMemoryT(t, c)
	keysAfter := c.DBSize(ctx).Val()
	// 35 block records (~250 bytes each) is all that may grow; allow 32 KiB.
	if grow := after - before; grow > 32<<10 {
		t.Errorf("memory grew %d bytes over 35 rounds (%d -> %d)", grow, before, after)
	}
	if keysAfter-keysBefore != 35 {
		t.Errorf("keys went from %d to %d; want only the 35 block records added", keysBefore, keysAfter)
	}
	st := stats(t, c, "tarbela")
	if st.TotalShares != 80000 || st.Window != 5000 || st.Blocks != 40 {
		t.Errorf("stats %+v", st)
	}
	if err := s.SetBlockStatus(ctx, "nope", "paid"); err == nil {
		t.Errorf("SetBlockStatus of an unknown block succeeded")
	}
}
