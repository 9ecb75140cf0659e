package localnet

import (
	"context"
	"errors"
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
