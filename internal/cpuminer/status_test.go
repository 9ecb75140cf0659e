package cpuminer

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

func TestBenchResultWriteText(t *testing.T) {
	r := BenchResult{Elapsed: 1500 * time.Millisecond, PerThread: []float64{1.25e6, 2.5e6}, Total: 3.75e6}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "thread 0: 1.250 MH/s\nthread 1: 2.500 MH/s\ntotal: 3.750 MH/s (threads=2, 1.5s)\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestStatusLine(t *testing.T) {
	s := Stats{Accepted: 7, Rejected: 1, Stale: 2, Difficulty: 0.5, Jobs: 3, Connected: true}
	if got, want := statusLine(s, 2.5e6), "accepted=7 rejected=1 stale=2 diff=0.5 hashrate=2.500 MH/s jobs=3 pool=up"; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := statusLine(Stats{Difficulty: 1}, 0); !strings.HasSuffix(got, "hashrate=0.000 MH/s jobs=0 pool=down") {
		t.Errorf("disconnected: %q", got)
	}
	if got := hashRate(3e6, 2*time.Second); got != 1.5e6 {
		t.Errorf("hashRate(3e6, 2s) = %v, want 1.5e6", got)
	}
	if got := hashRate(3e6, 0); got != 0 {
		t.Errorf("hashRate over no time = %v, want 0", got)
	}
}

// TestRunWithStatus mines against the test pool until a share is accepted
// and checks the status lines and the closing total.
func TestRunWithStatus(t *testing.T) {
	pool := newTestPool(t)
	pool.start()
	m, err := New(Options{URL: pool.url(), User: "tb1qminer.rig1", Threads: 1, VersionRolling: true,
		RetryMin: 10 * time.Millisecond, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- m.RunWithStatus(ctx, 20*time.Millisecond, &out) }()
	start := time.Now()
	deadline := start.Add(20 * time.Second)
	// Some status lines first (every 20 ms), then an accepted share.
	for m.Stats().Accepted == 0 || time.Since(start) < 100*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("no share accepted: %+v", m.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunWithStatus: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("RunWithStatus did not return")
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) < 2 || !strings.Contains(out.String(), "pool=up") {
		t.Fatalf("want status lines with the pool up and a total:\n%s", out.String())
	}
	last := regexp.MustCompile(`^total: accepted=(\d+) rejected=0 stale=\d+ diff=1e-05 hashrate=[0-9.]+ MH/s jobs=1 pool=(up|down)$`).
		FindStringSubmatch(lines[len(lines)-1])
	if last == nil {
		t.Fatalf("last line %q is not the total", lines[len(lines)-1])
	}
	if n, _ := strconv.Atoi(last[1]); n == 0 {
		t.Errorf("total counts no accepted share: %q", lines[len(lines)-1])
	}
}
