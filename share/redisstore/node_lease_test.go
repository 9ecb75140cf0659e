package redisstore_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// goneProcess returns the pid of a process that has exited.
func goneProcess(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestNodeLease: a second node with the same id refuses to start and names
// the first; another id is free; Stop frees the id at once; a lease left
// by a crashed node on another host expires after its TTL, one on this
// host whose process is gone is taken over at once; and a node whose lease
// another node took says so on Lost.
func TestNodeLease(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	ctx := context.Background()
	const ttl = 900 * time.Millisecond
	host, _ := os.Hostname()
	// The first node is "another process on this host": the test's
	// parent, which runs throughout.
	running := redisstore.LeaseHolder{Host: host, PID: os.Getppid(), Since: time.Now().UTC().Truncate(time.Millisecond)}
	lease := func(node uint8, h redisstore.LeaseHolder) *redisstore.NodeLease {
		l, err := redisstore.NewNodeLease(c, redisstore.NodeLeaseOptions{Node: node, TTL: ttl, Holder: h})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	me := redisstore.LeaseHolder{Host: host, PID: os.Getpid(), Since: time.Now()}

	first := lease(7, running)
	if err := first.Start(ctx); err != nil {
		t.Fatalf("first Start: %v", err)
	}
	// Outlive several TTLs: the renewals keep it.
	deadline := time.Now().Add(3 * ttl)
	for time.Now().Before(deadline) {
		second := lease(7, me)
		err := second.Start(ctx)
		var held *redisstore.LeaseHeldError
		if !errors.As(err, &held) {
			t.Fatalf("second node with id 7: Start = %v, want a *LeaseHeldError", err)
		}
		if held.Holder != running || held.Node != 7 || held.ExpiresIn <= 0 {
			t.Fatalf("refusal names %+v, want %+v", held, running)
		}
		if msg := err.Error(); !strings.Contains(msg, host) || !strings.Contains(msg, "pool.node_id 7") {
			t.Fatalf("refusal %q does not name the holder and the field", msg)
		}
		_ = second.Stop(ctx)
		time.Sleep(ttl / 4)
	}
	other := lease(8, me)
	if err := other.Start(ctx); err != nil {
		t.Fatalf("id 8: %v", err)
	}
	defer other.Stop(ctx)

	if err := first.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if _, _, ok, err := redisstore.ReadLease(ctx, c, "tarbela", 7); err != nil || ok {
		t.Fatalf("after Stop the lease is held (%v, %v), want it released", ok, err)
	}

	// A node on another host crashed: its lease lives until its TTL.
	key := "tarbela:{acct}:node:9:lease"
	c.Set(ctx, key, `0123 {"host":"elsewhere","pid":1,"since":"2026-12-01T00:00:00Z"}`, ttl)
	restarted := lease(9, me)
	var held *redisstore.LeaseHeldError
	if err := restarted.Start(ctx); !errors.As(err, &held) || held.Holder.Host != "elsewhere" {
		t.Fatalf("start while the crashed node's lease lives: %v, want refused naming host elsewhere", err)
	}
	waitFor(t, "the crashed node's lease to expire", func() bool { return restarted.Start(ctx) == nil })
	if h, _, ok, _ := redisstore.ReadLease(ctx, c, "tarbela", 9); !ok || h.PID != os.Getpid() {
		t.Fatalf("after the expiry the lease names %+v", h)
	}

	// The lease of a node cut off from Redis for longer than its TTL is
	// taken by another node: the first renewal after says Lost.
	c.Set(ctx, key, `0123 {"host":"elsewhere","pid":1}`, time.Minute)
	select {
	case <-restarted.Lost():
	case <-time.After(20 * time.Second):
		t.Fatal("the lease taken by another node was not reported lost")
	}
	if err := restarted.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get(ctx, key).Result(); !strings.Contains(v, "elsewhere") {
		t.Errorf("Stop after Lost changed the other node's lease: %q", v)
	}

	// A node on this host crashed (its pid is gone): restarting it here
	// takes its lease over without waiting.
	gone := redisstore.LeaseHolder{Host: host, PID: goneProcess(t), Since: time.Now().UTC()}
	crashed := lease(10, gone)
	if err := crashed.Start(ctx); err != nil {
		t.Fatal(err)
	}
	val, _ := c.Get(ctx, "tarbela:{acct}:node:10:lease").Result()
	_ = crashed.Stop(ctx)
	c.Set(ctx, "tarbela:{acct}:node:10:lease", val, time.Minute) // left behind, as by SIGKILL
	again := lease(10, me)
	if err := again.Start(ctx); err != nil {
		t.Fatalf("restart on the crashed node's host: %v, want the lease taken over", err)
	}
	defer again.Stop(ctx)
	if h, _, _, _ := redisstore.ReadLease(ctx, c, "tarbela", 10); h.PID != os.Getpid() {
		t.Errorf("lease names %+v after the takeover", h)
	}
}

// TestNodeLeaseRedisDownAtStart: a node starting while Redis does not
// answer starts anyway (its shares go to the journal) and takes its lease
// once Redis answers.
func TestNodeLeaseRedisDownAtStart(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	if err := r.Freeze(); err != nil {
		t.Fatal(err)
	}
	thawed := false
	defer func() {
		if !thawed {
			_ = r.Thaw()
		}
	}()
	l, err := redisstore.NewNodeLease(c, redisstore.NodeLeaseOptions{Node: 4, TTL: 600 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := l.Start(ctx); err != nil {
		t.Fatalf("Start while Redis is frozen: %v, want a start that takes the lease later", err)
	}
	defer l.Stop(context.Background())
	if err := r.Thaw(); err != nil {
		t.Fatal(err)
	}
	thawed = true
	waitFor(t, "the lease taken once Redis answers", func() bool {
		h, _, ok, err := redisstore.ReadLease(context.Background(), c, "tarbela", 4)
		return err == nil && ok && h.PID == os.Getpid()
	})
}
