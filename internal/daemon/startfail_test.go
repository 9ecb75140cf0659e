package daemon_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/daemon"
	"github.com/tarbela-pool/tarbela/internal/devnet"
	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/localnet/localnettest"
	"github.com/tarbela-pool/tarbela/internal/tlscert"
)

// TestStartFailure runs daemon.Start into each early failure with a config
// that passes validation. Start must return an error that names the cause,
// never panic, and stop whatever it had started: no goroutine outlives it,
// the Stratum and metrics addresses can be bound again, and the share
// journal is closed.
func TestStartFailure(t *testing.T) {
	node := localnettest.StartBtcd(t, localnet.BtcdOptions{MiningAddr: nodeAddr})
	rds := startRedis(t)
	notNode := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "this is no Bitcoin node", http.StatusNotFound)
	}))
	t.Cleanup(notNode.Close)
	downURL := "http://" + freeAddr(t)
	// busy is an address another program holds.
	busyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busyLn.Close() })
	busy := busyLn.Addr().String()
	// notDir is a regular file where the journal's directory should be.
	notDir := filepath.Join(t.TempDir(), "not-a-directory")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The default journal (journal_path "") goes under the user's cache
	// directory: point that at a temporary one.
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		configure func(*config.Config)
		// want are substrings of the error.
		want []string
	}{
		{
			name: "node URL that is no node",
			configure: func(c *config.Config) {
				c.Nodes[0].RPCURL, c.Nodes[0].WebsocketNotify = notNode.URL, false
			},
			want: []string{notNode.URL, "404"},
		},
		{
			name:      "node down",
			configure: func(c *config.Config) { c.Nodes[0].RPCURL = downURL },
			want:      []string{downURL},
		},
		{
			name: "node's cookie file missing",
			configure: func(c *config.Config) {
				c.Nodes[0].RPCUser, c.Nodes[0].RPCPassword = "", ""
				c.Nodes[0].RPCCookieFile = filepath.Join(notDir+".d", ".cookie")
			},
			want: []string{filepath.Join(notDir+".d", ".cookie"), "is the node running"},
		},
		{
			// Redis down alone is no failure (shares go to the journal
			// until it returns); the store started that way must still
			// be closed when a later part fails.
			name: "Redis down, no journal path, node down",
			configure: func(c *config.Config) {
				c.Redis.Addr, c.Redis.JournalPath = freeAddr(t), ""
				c.Nodes[0].RPCURL = downURL
			},
			want: []string{downURL},
		},
		{
			name:      "Stratum address in use",
			configure: func(c *config.Config) { c.Stratum.Listen = busy },
			want:      []string{"stratum", busy},
		},
		{
			name:      "metrics address in use",
			configure: func(c *config.Config) { c.Metrics.Listen = busy },
			want:      []string{"metrics.listen", busy},
		},
		{
			// The last part to start: everything before it is
			// stopped again, the metrics endpoint included.
			name:      "API address in use",
			configure: func(c *config.Config) { c.API.Listen = busy },
			want:      []string{"api.listen", busy},
		},
		{
			name: "API token file readable by others",
			configure: func(c *config.Config) {
				c.API.Listen = freeAddr(t)
				c.API.TokenFile = filepath.Join(t.TempDir(), "api.token")
				if err := os.WriteFile(c.API.TokenFile, []byte("a-token-long-enough-for-the-api"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"api.token_file", "chmod 600"},
		},
		{
			name: "TLS certificate missing",
			configure: func(c *config.Config) {
				c.Stratum.TLSListen = freeAddr(t)
				c.Stratum.TLSCertFile, c.Stratum.TLSKeyFile = filepath.Join(notDir+".d", "tls.crt"), filepath.Join(notDir+".d", "tls.key")
			},
			want: []string{"stratum.tls_cert_file", "stratum.tls_key_file", "cannot be read"},
		},
		{
			name: "TLS address in use",
			configure: func(c *config.Config) {
				c.Stratum.TLSListen = busy
				c.Stratum.TLSCertFile, c.Stratum.TLSKeyFile = tlsPair(t)
			},
			want: []string{"TLS", busy},
		},
		{
			name:      "journal directory is a file",
			configure: func(c *config.Config) { c.Redis.JournalPath = filepath.Join(notDir, "journal.log") },
			want:      []string{"journal", notDir},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := devnet.Config(devnet.Options{Mode: config.ModePool, Difficulty: 0.002}, node, rds.Addr, poolAddr)
			cfg.Stratum.Listen, cfg.Metrics.Listen = freeAddr(t), freeAddr(t)
			cfg.Redis.JournalPath = filepath.Join(t.TempDir(), "journal.log")
			tc.configure(cfg)
			if err := cfg.Validate(); err != nil {
				t.Fatalf("the case's config must be valid: %v", err)
			}
			journal := cfg.Redis.JournalPath
			if journal == "" {
				journal = filepath.Join(cacheDir, "tarbela", fmt.Sprintf("journal-node%d.log", cfg.Pool.NodeID))
			}
			logs := &logBuffer{}
			before := runtime.NumGoroutine()

			d, err := startRecovering(testContext(t), cfg, logs)
			if err == nil {
				d.Stop(context.Background())
				t.Fatal("Start succeeded; want an error")
			}
			if d != nil {
				t.Errorf("Start returned a daemon with its error %v", err)
			}
			t.Logf("error: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			waitGoroutines(t, before)
			for _, addr := range []string{cfg.Stratum.Listen, cfg.Metrics.Listen, cfg.API.Listen} {
				if addr == "" {
					continue
				}
				if addr == busy {
					continue
				}
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Errorf("%s is still taken after the failed start: %v", addr, err)
					continue
				}
				ln.Close()
			}
			if fd := openFD(t, journal); fd != "" {
				t.Errorf("the journal %s is still open (%s)", journal, fd)
			}
			if t.Failed() {
				t.Logf("pool logs:\n%s", logs.String())
			}
		})
	}
}

// startRecovering is daemon.Start with a panic turned into an error, so that
// one broken case does not end the whole test binary.
func startRecovering(ctx context.Context, cfg *config.Config, logs *logBuffer) (d *daemon.Daemon, err error) {
	defer func() {
		if p := recover(); p != nil {
			d, err = nil, fmt.Errorf("daemon.Start panicked: %v", p)
		}
	}()
	return daemon.Start(ctx, cfg, logs.logger())
}

// tlsPair writes a self-signed pair for the loopback names and returns its
// files.
func tlsPair(t *testing.T) (cert, key string) {
	t.Helper()
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if _, err := tlscert.Ensure(cert, key, tlscert.Loopback, time.Hour); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// freeAddr is a loopback address nothing listens on a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	p, err := localnet.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", p)
}

// waitGoroutines waits until no more goroutines run than before. Goroutines
// that were told to stop may take a moment to return (the Redis client's
// redial loop sleeps a second between tries); the wait only bounds that.
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("%d goroutines outlive the failed start (%d before it):\n%s", runtime.NumGoroutine()-before, before, buf)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openFD returns the descriptor of this process that has path open, "" when
// none has (or when the system has no /proc/self/fd to tell).
func openFD(t *testing.T, path string) string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return ""
	}
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && target == path {
			return "fd " + e.Name()
		}
	}
	return ""
}
