//go:build linux

package stratum

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// maxAcceptAttempts is the most accepts that a failing accept loop can make
// within d of its first one when it backs off as documented: 5ms after the
// first failure, twice as long after each further one, at most a second. It
// is written out here rather than calling nextAcceptBackoff so that a
// broken backoff cannot loosen the bound it is checked against.
func maxAcceptAttempts(d time.Duration) int {
	n := 1
	wait, total := 5*time.Millisecond, time.Duration(0)
	for ; ; wait = min(2*wait, time.Second) {
		total += wait
		if total > d {
			return n
		}
		n++
	}
}

// TestMaxAcceptAttempts pins the bound TestAcceptEMFILE relies on.
func TestMaxAcceptAttempts(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want int
	}{
		{"no time", 0, 1},
		{"before the first retry", 4 * time.Millisecond, 1},
		{"first retry", 5 * time.Millisecond, 2},
		{"doubling", 5*time.Millisecond + 10*time.Millisecond + 20*time.Millisecond, 4},
		{"capped at a second", 1275*time.Millisecond + 3*time.Second, 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := maxAcceptAttempts(tc.d); got != tc.want {
				t.Fatalf("maxAcceptAttempts(%v) = %d, want %d", tc.d, got, tc.want)
			}
		})
	}
}

// exhaustFDs lowers the process's soft open-file limit to a few above the
// descriptors open now and opens /dev/null until none is left. It returns
// the descriptors it opened; the limit is restored, and what is still open
// of them closed, when t ends. Go tests share the process, so the caller
// must not be parallel.
func exhaustFDs(t *testing.T) *[]int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list open descriptors: %v", err)
	}
	highest := 0
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil {
			highest = max(highest, fd)
		}
	}
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	limit := uint64(highest) + 1 + 8
	if limit > orig.Cur {
		t.Skipf("open-file limit %d is already below %d", orig.Cur, limit)
	}
	lowered := orig
	lowered.Cur = limit
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatalf("lower RLIMIT_NOFILE: %v", err)
	}
	hogs := new([]int)
	t.Cleanup(func() {
		for _, fd := range *hogs {
			_ = syscall.Close(fd)
		}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
			t.Errorf("restore RLIMIT_NOFILE: %v", err)
		}
	})
	for {
		fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == syscall.EMFILE {
			return hogs
		}
		if err != nil {
			t.Fatalf("open /dev/null: %v", err)
		}
		*hogs = append(*hogs, fd)
		if uint64(len(*hogs)) > limit {
			t.Fatalf("opened %d descriptors under a limit of %d", len(*hogs), limit)
		}
	}
}

// TestAcceptEMFILE runs the process out of file descriptors while a miner
// connects: the server's accept fails with EMFILE, the accept loop backs off
// instead of spinning and logs the run once, the miners already connected
// keep mining, and once descriptors are free the waiting miner and a new one
// are accepted and mine normally.
func TestAcceptEMFILE(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	e := startServer(t, func(o *Options) { o.Log = zap.New(core) })
	old := newHonestMiner(t, e, honestIP)
	old.share()

	hogs := exhaustFDs(t)
	// Free one descriptor for the client's socket: the server then has
	// none left for its side of the connection.
	_ = syscall.Close((*hogs)[len(*hogs)-1])
	*hogs = (*hogs)[:len(*hogs)-1]
	start := time.Now()
	waiting := dial(t, e.srv)
	waitFor(t, "accept to fail", func() bool { return e.srv.AcceptErrors() >= 4 })

	// Out of descriptors, the pool still serves the miners it has.
	old.share()
	time.Sleep(200 * time.Millisecond)
	// Both bounds come from the time measured last, which is at least
	// the time since the first failure: a slow machine only loosens them.
	failures := e.srv.AcceptErrors()
	fails := logs.FilterMessage("accept failed").AllUntimed()
	elapsed := time.Since(start)
	if bound := maxAcceptAttempts(elapsed); failures > uint64(bound) {
		t.Fatalf("%d failed accepts in %v: spinning, the backoff allows at most %d", failures, elapsed, bound)
	}
	if most := maxAcceptFailedLogs(elapsed); len(fails) < 1 || len(fails) > most {
		t.Fatalf("%d 'accept failed' logs for one run of %d failures in %v, want 1 (at most %d)", len(fails), failures, elapsed, most)
	}
	if msg, _ := fails[0].ContextMap()["error"].(string); !strings.Contains(msg, syscall.EMFILE.Error()) {
		t.Fatalf("accept failed with %q, want EMFILE (%q)", msg, syscall.EMFILE.Error())
	}
	if n := e.srv.Connections(); n != 1 {
		t.Fatalf("Connections() = %d while out of descriptors, want 1", n)
	}

	for _, fd := range *hogs {
		_ = syscall.Close(fd)
	}
	*hogs = nil

	// The miner that connected meanwhile is accepted at the next retry and
	// mines; so does one that connects now.
	job := waiting.mine("tb1qwaiting.rig")
	waiting.send(shareLine(t, e.vec, 10, "tb1qwaiting.rig", job, 1))
	waiting.expectResult("10", "true")
	fresh := newHonestMiner(t, e, otherIP)
	fresh.share()
	old.share()
	if n := logs.FilterMessage("accepting again").Len(); n != 1 {
		t.Fatalf("%d 'accepting again' logs, want 1", n)
	}
	if n := e.srv.Connections(); n != 3 {
		t.Fatalf("Connections() = %d, want 3", n)
	}
}
