package redisstore_test

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/internal/ledgerscale"
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
		if strings.Contains(key, ":en:") {
			continue // energy site-hours: bounded by closing hours (docs/energy.md), not by rounds
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

// TestMemoryFlatOverRounds plays 40 rounds of 2,000 shares from 200
// accounts (400 workers) over 10 simulated minutes each, every round ended
// by a block whose round and frozen PPLNS window are then paid and
// released. The network difficulty D is 500 and N is 2, so a block freezes
// the last 1,000 of work (5 minutes) and the slices are trimmed to about
// 4 × N × D = 4,000 of work (20 one-minute slices). Once that is reached,
// the number of slices, the key count and the ledger's data set stay flat
// except for the block records, which grow by one small hash (and one
// index entry) per block. Sizes are Redis's own MEMORY USAGE figures, so
// the bound holds on any Redis >= 6.2 whatever its allocator.
//
// The data set is sampled after each of the last 35 rounds; the test fits
// a least-squares line through the samples and bounds its slope, so that
// noise in one sample does not decide. Anything that keeps even 100 bytes
// per round (an unreleased round keeps several KiB, an untrimmed slice of
// 200 accounts ten) gives that much slope.
func TestMemoryFlatOverRounds(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	// Hashrate buckets of one minute kept for a few: they expire by the
	// shares' simulated time (the batch script's clock), so every round
	// ends with the same buckets and the window is what grows if anything.
	const long = 10_000 * time.Hour
	s := newStore(t, r, redisstore.Options{BatchSize: 256, HashrateBucket: time.Minute, HashrateRetention: 2 * time.Minute,
		WorkerBucket: time.Minute, WorkerRetention: 2 * time.Minute, WorkerCoarseBucket: 2 * time.Minute, WorkerCoarseRetention: 4 * time.Minute,
		EnergyBucketTTL: 4 * time.Minute})
	ctx := context.Background()
	start := time.Now().Truncate(long).Add(time.Minute)
	const netDiff = 500
	round := func(i int) {
		for j := range 2000 {
			acct := "acct" + strconv.Itoa(j%200)
			r := rec(uint64(i*2000+j), acct, "rig"+strconv.Itoa(j/200%2), 1)
			r.Time = start.Add(time.Duration(i*2000+j) * 300 * time.Millisecond)
			r.NetDifficulty = netDiff
			if err := s.AddShare(r); err != nil {
				t.Fatalf("AddShare: %v", err)
			}
		}
		hash := "0f" + strconv.Itoa(i)
		if err := s.AddBlockWait(ctx, &share.BlockRecord{Height: int64(i), Hash: hash, Worker: "acct0.rig0", Account: "acct0",
			Status: share.BlockAccepted, NetDifficulty: netDiff}); err != nil {
			t.Fatalf("AddBlockWait: %v", err)
		}
		w, err := s.PPLNSWindow(ctx, hash)
		if err != nil {
			t.Fatalf("PPLNSWindow: %v", err)
		}
		var sum float64
		for _, v := range w {
			sum += v
		}
		if len(w) != 200 || math.Abs(sum-2*netDiff) > 1e-9 {
			t.Fatalf("round %d: window of %d accounts holds %v work, want 200 accounts, %d", i, len(w), sum, 2*netDiff)
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
	slices := map[int64]int{}
	for i := 5; i < 40; i++ {
		round(i)
		samples = append(samples, float64(datasetT(t, c).rest))
		slices[stats(t, c, "tarbela").Slices]++
	}
	after := datasetT(t, c)
	slope := ledgerscale.Slope(samples)
	t.Logf("data set outside block records: %d -> %d bytes, slope %.1f bytes/round; block records %d -> %d bytes; slices kept %v",
		before.rest, after.rest, slope, before.blocks, after.blocks, slices)
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
	if len(slices) != 1 || slices[20] != 35 {
		t.Errorf("slices kept after each round: %v; want 20 every time", slices)
	}
	st := stats(t, c, "tarbela")
	if st.TotalShares != 80000 || st.Blocks != 40 {
		t.Errorf("stats %+v", st)
	}
	if err := s.SetBlockStatus(ctx, "nope", "paid"); err == nil {
		t.Errorf("SetBlockStatus of an unknown block succeeded")
	}
}
