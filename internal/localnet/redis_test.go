package localnet

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartRedis(t *testing.T) {
	tests := []struct {
		name     string
		password string
	}{
		{name: "no password"},
		{name: "password", password: "s3cret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r, err := StartRedis(ctx, RedisOptions{Password: tc.password, Dir: t.TempDir()})
			if err != nil {
				t.Fatalf("StartRedis: %v", err)
			}
			defer r.Stop()
			if !strings.HasPrefix(r.Addr, "127.0.0.1:") {
				t.Errorf("Addr = %q, want loopback", r.Addr)
			}
			if err := r.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			// StartRedis tells its server from another on the port by
			// this process id.
			if pid, err := r.serverPID(ctx); err != nil || pid != r.cmd.Process.Pid {
				t.Errorf("serverPID = %d, %v; want the started process's %d", pid, err, r.cmd.Process.Pid)
			}
			if tc.password != "" {
				wrong := &Redis{Addr: r.Addr, Password: "wrong"}
				if err := wrong.Ping(ctx); err == nil {
					t.Errorf("Ping with a wrong password succeeded")
				}
			}
			r.Stop()
			r.Stop() // safe twice
			select {
			case <-r.Exited():
			default:
				t.Fatalf("process still running after Stop")
			}
			if err := r.Ping(ctx); err == nil {
				t.Errorf("Ping after Stop succeeded")
			}
		})
	}
}

func TestRedisFreezeThaw(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := StartRedis(ctx, RedisOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("StartRedis: %v", err)
	}
	defer r.Stop()
	if err := r.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	err = r.Ping(short)
	cancelShort()
	if err == nil {
		t.Fatalf("Ping answered while frozen")
	}
	if err := r.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	if err := r.Ping(ctx); err != nil {
		t.Fatalf("Ping after Thaw: %v", err)
	}
	// Stopping a frozen server must not hang.
	if err := r.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	r.Stop()
	if err := r.Thaw(); err == nil {
		t.Errorf("Thaw after Stop succeeded")
	}
}

func TestFindRedisMissing(t *testing.T) {
	tests := []struct {
		name   string
		binary string
		env    string
		path   string
	}{
		{name: "explicit path missing", binary: filepath.Join(t.TempDir(), "nope")},
		{name: "env path missing", env: filepath.Join(t.TempDir(), "nope")},
		{name: "not on PATH", path: t.TempDir()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(RedisEnv, tc.env)
			if tc.path != "" {
				t.Setenv("PATH", tc.path)
			}
			_, err := FindRedis(tc.binary)
			if !errors.Is(err, ErrRedisMissing) {
				t.Fatalf("FindRedis err = %v, want ErrRedisMissing", err)
			}
			if !strings.Contains(err.Error(), "apt-get install -y redis-server") {
				t.Errorf("error %q does not name the install command", err)
			}
			_, err = StartRedis(context.Background(), RedisOptions{Binary: tc.binary})
			if !errors.Is(err, ErrRedisMissing) {
				t.Errorf("StartRedis err = %v, want ErrRedisMissing", err)
			}
		})
	}
}

// redisDo sends one command on a fresh connection and checks its one-line
// reply.
func redisDo(t *testing.T, r *Redis, want string, args ...string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", r.Addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", r.Addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := respCommand(c, bufio.NewReader(c), want, args...); err != nil {
		t.Fatal(err)
	}
}

// TestRedisRestart kills a server that persists with an fsynced append-only
// file and restarts it: same address, same directory, the data is there,
// and the old handle no longer owns the process.
func TestRedisRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := StartRedis(ctx, RedisOptions{Dir: t.TempDir(), Args: []string{"--appendonly", "yes", "--appendfsync", "always"}})
	if err != nil {
		t.Fatalf("StartRedis: %v", err)
	}
	defer r.Stop()
	redisDo(t, r, ":1", "INCR", "k")
	if _, err := r.Restart(ctx); err == nil {
		t.Fatal("Restart of a running server succeeded")
	}
	if err := r.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-r.Exited()
	if got := r.ExitStatus(); got != "signal: killed" {
		t.Errorf("ExitStatus = %q, want signal: killed", got)
	}
	nr, err := r.Restart(ctx)
	if err != nil {
		t.Fatalf("Restart: %v", err)
	}
	defer nr.Stop()
	if nr.Addr != r.Addr || nr.Dir != r.Dir {
		t.Errorf("restarted on %s in %s, want %s in %s", nr.Addr, nr.Dir, r.Addr, r.Dir)
	}
	redisDo(t, nr, ":2", "INCR", "k")
	if _, err := r.Restart(ctx); err == nil {
		t.Error("a second Restart of the same handle succeeded")
	}
	r.Stop() // the replaced handle: must not touch the new process
	if err := nr.Ping(ctx); err != nil {
		t.Fatalf("Stop of the replaced handle stopped the new server: %v", err)
	}
	nr.Stop()
	if _, err := nr.Restart(ctx); err == nil {
		t.Error("Restart after Stop succeeded")
	}
	if b, err := os.ReadFile(nr.OutputFile()); err != nil || strings.Count(string(b), "Ready to accept connections") != 2 {
		t.Errorf("redis.out does not hold both runs (%v):\n%s", err, b)
	}
}
