package redisstore_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// TestPPLNSFigures measures what docs/redis.md and BENCHMARKS.md state: the
// bytes one account takes in one slice, the window's memory with 200
// accounts when it keeps 4 × N × D of work in one-minute slices (N = 2 and
// N × D the work of 220 minutes, as for the pool of 570,000 ASICs), and
// the time of the freeze that walks it. Values are 17-digit doubles and
// account names 42-character bech32 addresses, the largest usual case.
func TestPPLNSFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("176,000 shares")
	}
	r := startRedis(t)
	c := client(t, r)
	s := newStore(t, r, redisstore.Options{QueueSize: 1 << 20})
	ctx := context.Background()
	const accounts, minutes = 200, 900
	const d = 407_123.456789 // a share per 10 s of a 175 TH/s ASIC, not a round number
	perSlice := accounts * d
	netDiff := 110 * perSlice // N × D = 220 slices of work; kept: 880
	start := time.Now().Truncate(time.Minute).Add(-minutes * time.Minute)
	name := func(i int) string { return fmt.Sprintf("bc1q%038d", i) }
	for m := range minutes {
		for a := range accounts {
			x := rec(uint64(m*accounts+a+1), name(a), "rig", d)
			x.Time = start.Add(time.Duration(m)*time.Minute + time.Duration(a)*100*time.Millisecond)
			x.NetDifficulty = netDiff
			if err := s.AddShare(x); err != nil {
				t.Fatalf("AddShare: %v", err)
			}
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	sl, _, err := s.PPLNSSlices(ctx)
	if err != nil {
		t.Fatalf("PPLNSSlices: %v", err)
	}
	usage := func(key string) int64 {
		n, err := c.MemoryUsage(ctx, key, 0).Result()
		if err != nil {
			t.Fatalf("MEMORY USAGE %s: %v", key, err)
		}
		return n
	}
	var slices int64
	for _, x := range sl {
		slices += usage("tarbela:{acct}:pplns:s:" + strconv.FormatInt(x.Start.UnixMilli(), 10))
	}
	index := usage("tarbela:{acct}:pplns:idx") + usage("tarbela:{acct}:pplns:tot")
	perAccountSlice := float64(slices) / float64(len(sl)*accounts)
	t.Logf("%d slices of %d accounts kept: slice hashes %d bytes (%.1f bytes per account-slice), index and totals %d bytes (%.1f per slice); window data set %.2f MiB",
		len(sl), accounts, slices, perAccountSlice, index, float64(index)/float64(len(sl)), float64(slices+index)/(1<<20))
	if n := len(sl); n < 879 || n > 881 {
		t.Errorf("%d slices kept, want 880 (4 x N x D of work)", n)
	}
	if perAccountSlice > 128 {
		t.Errorf("%.1f bytes per account-slice; docs/redis.md states at most 128", perAccountSlice)
	}

	// The freeze walks the 220 newest slices of 200 accounts.
	t0 := time.Now()
	if err := s.AddBlockWait(ctx, &share.BlockRecord{Height: 1, Hash: "0f", Worker: "w", Account: "w",
		Status: share.BlockAccepted, NetDifficulty: netDiff}); err != nil {
		t.Fatalf("AddBlockWait: %v", err)
	}
	freeze := time.Since(t0)
	t0 = time.Now()
	if err := s.AddBlockWait(ctx, &share.BlockRecord{Height: 1, Hash: "0f", Worker: "w", Account: "w",
		Status: share.BlockAccepted, NetDifficulty: netDiff}); err != nil {
		t.Fatalf("AddBlockWait: %v", err)
	}
	again := time.Since(t0)
	win, err := s.PPLNSWindow(ctx, "0f")
	if err != nil {
		t.Fatalf("PPLNSWindow: %v", err)
	}
	t.Logf("freeze of a window of %d accounts: %v (the same block recorded again, no freeze: %v)", len(win), freeze, again)

	// One slice with many accounts (each worker its own account).
	const many = 20_000
	at := time.Now().Truncate(time.Minute).Add(30 * time.Second)
	for a := range many {
		x := rec(uint64(10_000_000+a), name(a), "rig", d)
		x.Time = at
		if err := s.AddShare(x); err != nil {
			t.Fatalf("AddShare: %v", err)
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	wide := usage("tarbela:{acct}:pplns:s:" + strconv.FormatInt(at.Truncate(time.Minute).UnixMilli(), 10))
	t.Logf("one slice of %d accounts: %d bytes (%.1f bytes per account)", many, wide, float64(wide)/many)
}
