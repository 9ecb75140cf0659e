package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the devnet's writer and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var blocksRe = regexp.MustCompile(`blocks=(\d+)/(\d+)`)

// TestDevnet runs the whole devnet as `tarbela devnet` does: real btcd,
// real redis-server, the pool and one CPU miner; it waits for a status line
// reporting an accepted block, then stops it and checks that everything it
// started is gone.
func TestDevnet(t *testing.T) {
	dir := t.TempDir()
	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Dir: dir, Miners: 1, Stratum: "127.0.0.1:0", StatusEvery: 200 * time.Millisecond,
			Out: out, Ready: func(i Info) { ready <- i }})
	}()
	var info Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatalf("devnet stopped before it was ready: %v\n%s", err, out.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("devnet not ready\n%s", out.String())
	}

	b, err := os.ReadFile(filepath.Join(dir, "devnet.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file Info
	if err := json.Unmarshal(b, &file); err != nil || file != info {
		t.Fatalf("devnet.json %s (%v), want %+v", b, err, info)
	}
	for _, a := range []string{info.Stratum, info.NodeRPC, info.Redis} {
		c, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatalf("%s from devnet.json does not answer: %v", a, err)
		}
		c.Close()
	}

	deadline := time.Now().Add(time.Minute)
	for {
		if m := blocksRe.FindAllStringSubmatch(out.String(), -1); len(m) > 0 {
			if n, _ := strconv.Atoi(m[len(m)-1][1]); n >= 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no accepted block in the status lines:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("devnet did not stop")
	}
	for _, a := range []string{info.Stratum, info.NodeRPC, info.Redis} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still answers after the devnet stopped", a)
		}
	}
}
