package ledgerscale

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// TestFlatOverSimulatedTime is the scale run in small: 1,000 workers in 20
// accounts, a share per worker per simulated minute, a block every 10
// minutes with the last 3 rounds kept, tiers short enough (accounts 1 min
// for 20, workers 1 min for 5 and 5 min for 30) that three simulated hours
// turn each over many times. Once the longest-lived keys are full (the
// PPLNS slices: 4 × N × D of work, 80 minutes here), the data set outside
// the block records (MEMORY USAGE summed over the keys: Redis's own sizes,
// not the allocator's) and the key count stay flat: a least-squares slope
// over the last 80 minutes' samples below 1 KiB per 10 minutes, where one
// fine bucket left behind would add about 60 KiB per sample and an
// unreleased round 50 KiB. It fails when buckets are not deleted by the
// shares' clock (their TTL is hours of wall time) or rounds not released.
func TestFlatOverSimulatedTime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := localnet.StartRedis(ctx, localnet.RedisOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(r.Stop)
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { c.Close() })

	type point struct {
		sim        time.Duration
		bytes      int64
		keys       int
		blockBytes int64
	}
	var points []point
	var sampleErr error
	o := Options{
		Store: redisstore.Options{Addr: r.Addr, HashrateBucket: time.Minute, HashrateRetention: 20 * time.Minute,
			WorkerBucket: time.Minute, WorkerRetention: 5 * time.Minute,
			WorkerCoarseBucket: 5 * time.Minute, WorkerCoarseRetention: 30 * time.Minute,
			EnergyBucketTTL: 30 * time.Minute},
		Workers: 1000, Accounts: 20, Rate: 100, Difficulty: 1, Period: time.Minute,
		Start: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), Duration: 3 * time.Hour, Sample: 10 * time.Minute,
		BlockEvery: 10 * time.Minute, KeepRounds: 3,
	}
	o.Report = func(s Sample) {
		fs, err := Families(ctx, c)
		if err != nil {
			sampleErr = err
			return
		}
		p := point{sim: s.Sim}
		for _, f := range fs {
			// Block records grow by design; the energy hours are sealed
			// and dropped by the energy closer, which this driver does not
			// run (internal/energy's tests check that closing drops them).
			if f.Name == "block records" || f.Name == EnergyHours {
				p.blockBytes += f.Bytes
				continue
			}
			p.bytes += f.Bytes
			p.keys += f.Keys
		}
		points = append(points, p)
	}
	res, err := Run(ctx, c, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if sampleErr != nil {
		t.Fatalf("sample: %v", sampleErr)
	}
	if res.Shares != 180_000 || res.Blocks != 17 || len(points) != 18 {
		t.Fatalf("%d shares, %d blocks, %d samples; want 180000, 17, 18", res.Shares, res.Blocks, len(points))
	}
	var tail []float64
	keys := map[int]int{}
	for _, p := range points {
		t.Logf("%8v  %8d bytes  %4d keys  block records %d bytes", p.sim, p.bytes, p.keys, p.blockBytes)
		if p.sim > 100*time.Minute {
			tail = append(tail, float64(p.bytes))
			keys[p.keys]++
		}
	}
	if len(tail) < 8 {
		t.Fatalf("%d samples after the slices filled, want at least 8", len(tail))
	}
	slope := Slope(tail)
	t.Logf("slope over the last %d samples: %.1f bytes per 10 simulated minutes; key counts %v", len(tail), slope, keys)
	if slope > 1024 || slope < -1024 {
		t.Errorf("data set outside block records moves %.0f bytes per sample once full; want flat (|slope| <= 1024)", slope)
	}
	if len(keys) != 1 {
		t.Errorf("key counts once full: %v; want one count", keys)
	}
	if first, last := points[0].blockBytes, points[len(points)-1].blockBytes; last <= first {
		t.Errorf("block records %d -> %d bytes; want them to grow with the 17 blocks", first, last)
	}
}
