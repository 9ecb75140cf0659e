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

// dataset is the ledger's data set as Redis itself sizes it: the sum of
// MEMORY USAGE (every element sampled) over the keys, split into the block
// records (block:<hash> and the blocks index), which grow by design, and
// everything else. It measures the keys and values the store writes, not
// the server's own overhead (the main dictionary's table, the Lua VM, the
// allocator's fragmentation), which grows in steps that depend on the
// Redis version and allocator and says nothing about the ledger.
type dataset struct {
	blocks, rest int64
	keys         int
}

func datasetT(t *testing.T, c *redis.Client) dataset {
	t.Helper()
	ctx := context.Background()
	var d dataset
	iter := c.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		n, err := c.MemoryUsage(ctx, key, 0).Result()
		if err == redis.Nil {
			continue // expired between SCAN and MEMORY USAGE
		}
		if err != nil {
			t.Fatalf("MEMORY USAGE %s: %v", key, err)
		}
		d.keys++
		if strings.Contains(key, ":block:") || strings.HasSuffix(key, ":blocks") {
			d.blocks += n
		} else {
			d.rest += n
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("SCAN: %v", err)
	}
	return d
}

// TestMemoryFlatOverRounds plays 40 rounds of 2,000 shares over 200 workers,
// each ended by a block whose round is then paid and released: once the
// PPLNS window is full, the ledger's data set stays flat except for the
// block records, which grow by one small hash (and one index entry) per
// block. Sizes are Redis's own MEMORY USAGE figures, so the bound holds on
// any Redis >= 6.2 whatever its allocator.
//
// The data set is sampled after each of the last 35 rounds. It moves in a
// band of about ±1 % (the window list's packing into quicklist nodes shifts
// as LPUSH and LTRIM move its ends), so a comparison of two samples would
// be noise; the test fits a least-squares line through the 35 samples and
// bounds its slope. The band's noise gives a slope of a few bytes per round,
// while anything that keeps even 100 bytes per round (an unreleased round
// keeps several KiB) gives that much slope.
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
	before := datasetT(t, c)
	var samples []float64
	for i := 5; i < 40; i++ {
		round(i)
		samples = append(samples, float64(datasetT(t, c).rest))
	}
	after := datasetT(t, c)
	slope := leastSquaresSlope(samples)
	t.Logf("data set outside block records: %d -> %d bytes, slope %.1f bytes/round; block records %d -> %d bytes",
		before.rest, after.rest, slope, before.blocks, after.blocks)
	if before.rest == 0 {
		t.Fatalf("no data set measured: %+v", before)
	}
	if slope > 64 {
		t.Errorf("data set outside block records grows %.1f bytes per round (%d -> %d); want flat (<= 64)", slope, before.rest, after.rest)
	}
	if per := (after.blocks - before.blocks) / 35; per <= 0 || per > 1024 {
		t.Errorf("block records grew %d bytes per block (%d -> %d); want (0, 1024]", per, before.blocks, after.blocks)
	}
	if after.keys-before.keys != 35 {
		t.Errorf("keys went from %d to %d; want only the 35 block records added", before.keys, after.keys)
	}
	st := stats(t, c, "tarbela")
	if st.TotalShares != 80000 || st.Window != 5000 || st.Blocks != 40 {
		t.Errorf("stats %+v", st)
	}
	if err := s.SetBlockStatus(ctx, "nope", "paid"); err == nil {
		t.Errorf("SetBlockStatus of an unknown block succeeded")
	}
}

// leastSquaresSlope is the slope of the least-squares line through
// (i, y[i]).
func leastSquaresSlope(y []float64) float64 {
	n := float64(len(y))
	var sx, sy, sxx, sxy float64
	for i, v := range y {
		x := float64(i)
		sx += x
		sy += v
		sxx += x * x
		sxy += x * v
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}
