package devnet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	var got []time.Duration
	for d := defaultBackoff.first; len(got) < 8; d = defaultBackoff.next(d) {
		got = append(got, d)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30, 30}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("delays %v, want %v seconds", got, want)
		}
	}
}

// fakeProc is a service without a process: the test ends it with exit, and
// its Restart fails while the shared failures counter is above zero.
type fakeProc struct {
	n        int // incarnation
	exitedCh chan struct{}
	stopped  bool
	shared   *fakeShared
}

type fakeShared struct {
	mu       sync.Mutex
	failures int
	procs    []*fakeProc
}

func (s *fakeShared) newProc() *fakeProc {
	p := &fakeProc{n: len(s.procs), exitedCh: make(chan struct{}), shared: s}
	s.procs = append(s.procs, p)
	return p
}

func (p *fakeProc) Exited() <-chan struct{} { return p.exitedCh }
func (p *fakeProc) ExitStatus() string      { return "exit status 1" }
func (p *fakeProc) OutputFile() string      { return "/data/out" }
func (p *fakeProc) Stop() {
	p.shared.mu.Lock()
	defer p.shared.mu.Unlock()
	p.stopped = true
}

func (p *fakeProc) Restart(ctx context.Context) (*fakeProc, error) {
	p.shared.mu.Lock()
	defer p.shared.mu.Unlock()
	if p.shared.failures > 0 {
		p.shared.failures--
		return nil, errors.New("localnet: port taken\noutput: line one\nline two")
	}
	return p.shared.newProc(), nil
}

func (p *fakeProc) exit() { close(p.exitedCh) }

// TestSupervisor runs the supervisor against fake services: it says each
// exit, failed attempt and return in one line with the backoff delays,
// restarts until it succeeds, and stop ends it and stops the current
// service.
func TestSupervisor(t *testing.T) {
	out := &syncBuffer{}
	sh := &fakeShared{}
	first := sh.newProc()
	b := backoff{first: time.Millisecond, max: 4 * time.Millisecond, stable: time.Hour}
	sv := supervise("redis-server", "127.0.0.1:7", first, out, b, nil)

	waitLines := func(n int) []string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) >= n && lines[0] != "" {
				return lines
			}
			if time.Now().After(deadline) {
				t.Fatalf("want %d lines, have:\n%s", n, out.String())
			}
			time.Sleep(time.Millisecond)
		}
	}

	if sv.Down() {
		t.Fatal("Down before any exit")
	}
	sh.mu.Lock()
	sh.failures = 2
	sh.mu.Unlock()
	first.exit()
	lines := waitLines(4)
	want := []string{
		"devnet: redis-server exited (exit status 1; output in /data/out); restarting on 127.0.0.1:7 in 1ms",
		"devnet: redis-server did not restart (localnet: port taken | output: line one | line two); next try in 2ms",
		"devnet: redis-server did not restart (localnet: port taken | output: line one | line two); next try in 4ms",
		"devnet: redis-server is back on 127.0.0.1:7",
	}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// The second exit comes within the stable time: the delay stays up.
	sh.mu.Lock()
	second := sh.procs[1]
	sh.mu.Unlock()
	second.exit()
	lines = waitLines(6)
	if !strings.HasSuffix(lines[4], "in 4ms") || lines[5] != "devnet: redis-server is back on 127.0.0.1:7" {
		t.Fatalf("second restart said:\n%s", strings.Join(lines[4:], "\n"))
	}

	sv.stop()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.procs) != 3 {
		t.Fatalf("%d incarnations, want 3", len(sh.procs))
	}
	if !sh.procs[2].stopped {
		t.Error("stop did not stop the running service")
	}
	if sv.Down() {
		t.Error("Down after the service came back")
	}
}

// TestSupervisorStopWhileDown stops a supervisor that waits to restart a
// service: stop returns without restarting it.
func TestSupervisorStopWhileDown(t *testing.T) {
	out := &syncBuffer{}
	sh := &fakeShared{}
	p := sh.newProc()
	sv := supervise("btcd", "127.0.0.1:8", p, out, backoff{first: time.Hour, max: time.Hour, stable: time.Hour}, nil)
	p.exit()
	deadline := time.Now().Add(30 * time.Second)
	for !sv.Down() {
		if time.Now().After(deadline) {
			t.Fatal("the supervisor did not see the exit")
		}
		time.Sleep(time.Millisecond)
	}
	sv.stop()
	if len(sh.procs) != 1 {
		t.Errorf("%d incarnations, want 1: stop restarted the service", len(sh.procs))
	}
	if !strings.Contains(out.String(), "restarting on 127.0.0.1:8 in 1h0m0s") {
		t.Errorf("output %q", out.String())
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{name: "one line", in: "x failed", n: 100, want: "x failed"},
		{name: "lines joined", in: "a\n  b\r\nc\n", n: 100, want: "a | b | c"},
		{name: "cut", in: "abcdef", n: 3, want: "abc…"},
		{name: "cut before a multibyte rune", in: "ab€", n: 3, want: "ab…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := oneLine(tc.in, tc.n); got != tc.want {
				t.Errorf("oneLine(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}
