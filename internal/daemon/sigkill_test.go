package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/internal/cpuminer"
	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/localnet/localnettest"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// TestSIGKILLKeepsAcceptedShares is issue 4's crash test. A real `tarbela`
// process (built from ./cmd/tarbela, configured by a file) runs against a
// real btcd regtest and a real redis-server while a real CPU miner floods it
// with shares at difficulty 1e-12; the pool is killed with SIGKILL under
// that load, the miner is stopped, and the pool is started again on the
// same journal and Redis. Once its journal is replayed, Redis must hold
// every share the miner saw accepted (the acknowledgement rule), and no
// more than the miner sent and the pool did not reject.
//
// In the "redis frozen" case redis-server is stopped (SIGSTOP) for the
// last part of the run, so the shares acknowledged then live only in the
// journal when the pool dies, and reach Redis by the restart's replay.
func TestSIGKILLKeepsAcceptedShares(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemon and runs btcd, redis-server and a miner")
	}
	bin := buildTarbela(t)
	for _, c := range []struct {
		name string
		// freezeAfter, when set, freezes redis-server this long into
		// the run; it is thawed after the kill.
		freezeAfter time.Duration
	}{
		{"redis up", 0},
		{"redis frozen: acknowledged from the journal", 1500 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			node := localnettest.StartBtcd(t, localnet.BtcdOptions{MiningAddr: nodeAddr})
			rds := startRedis(t)
			dir := t.TempDir()
			journal := filepath.Join(dir, "journal.log")
			cfgPath := filepath.Join(dir, "tarbela.toml")
			writeConfig(t, cfgPath, node, rds, journal)

			pool := startTarbela(t, bin, cfgPath, dir, "first", node, rds)
			const worker = "sigkill"
			m, err := cpuminer.New(cpuminer.Options{URL: pool.stratum, User: minerAddr + "." + worker, Threads: 1,
				VersionRolling: true, RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond})
			if err != nil {
				t.Fatalf("cpuminer.New: %v", err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			runErr := make(chan error, 1)
			go func() { runErr <- m.Run(ctx) }()
			stopMiner := func() cpuminer.Stats {
				cancel()
				if err := <-runErr; err != nil {
					t.Errorf("miner: %v", err)
				}
				return m.Stats()
			}

			waitFor(t, "the miner's first accepted shares", func() bool { return m.Stats().Accepted >= 50 })
			frozen := false
			if c.freezeAfter > 0 {
				time.Sleep(c.freezeAfter)
				before := m.Stats().Accepted
				if err := rds.Freeze(); err != nil {
					t.Fatalf("freeze redis: %v", err)
				}
				frozen = true
				defer func() {
					if frozen {
						_ = rds.Thaw()
					}
				}()
				// Shares now reach only the journal (after the store's
				// 2 s Redis timeout): wait until the miner has seen some
				// of those accepted.
				waitFor(t, "shares acknowledged from the journal", func() bool {
					st, err := redisstore.ScanJournal(journal)
					return err == nil && st.Shares > 0 && m.Stats().Accepted > before+50
				})
			} else {
				time.Sleep(1500 * time.Millisecond)
			}

			// SIGKILL under load: the miner is submitting right now.
			if before := m.Stats(); before.Submitted <= before.Accepted {
				t.Logf("miner at kill: %+v", before)
			}
			pool.kill(t)
			st := stopMiner()
			if frozen {
				if err := rds.Thaw(); err != nil {
					t.Fatalf("thaw redis: %v", err)
				}
				frozen = false
			}
			journaled, err := redisstore.ScanJournal(journal)
			if err != nil {
				t.Logf("journal at restart: %v (a torn tail is set aside, never replayed)", err)
			}
			t.Logf("miner: submitted %d, accepted %d, rejected %d; journal at restart: %d shares in %d batches",
				st.Submitted, st.Accepted, st.Rejected, journaled.Shares, journaled.Batches)
			if c.freezeAfter > 0 && journaled.Shares == 0 {
				t.Fatal("the journal is empty at restart: the test did not exercise replay")
			}

			// Restart on the same journal and Redis; it replays.
			pool = startTarbela(t, bin, cfgPath, dir, "second", node, rds)
			rc := redis.NewClient(&redis.Options{Addr: rds.Addr, Password: rds.Password})
			defer rc.Close()
			reader := redisstore.NewReader(rc, "tarbela", 0)
			waitFor(t, "the restarted pool to drain its journal", func() bool {
				fi, err := os.Stat(journal)
				return err == nil && fi.Size() == 0
			})
			stats, err := reader.Stats(testContext(t))
			if err != nil {
				t.Fatalf("read Redis: %v", err)
			}
			pool.stop(t)

			// One worker mines against this Redis: the totals are its
			// shares.
			mine := stats.TotalShares
			t.Logf("Redis: %d shares in totals (all the worker's)", mine)
			if mine < int64(st.Accepted) {
				t.Errorf("Redis holds %d shares, fewer than the %d the miner saw accepted: acknowledged shares were lost", mine, st.Accepted)
			}
			if limit := int64(st.Submitted - st.Rejected); mine > limit {
				t.Errorf("Redis holds %d shares, more than the %d the miner sent and the pool did not reject", mine, limit)
			}
			if st.Accepted == 0 {
				t.Error("the miner saw no share accepted")
			}
		})
	}
}

// buildTarbela builds the daemon binary into a temporary directory.
func buildTarbela(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tarbela")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/tarbela")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/tarbela: %v\n%s", err, out)
	}
	return bin
}

// writeConfig writes the pool's config file: regtest pool mode at share
// difficulty 1e-12 (every hash a share, about half of them blocks), Stratum
// on a port the system picks when the pool listens (startTarbela reads it
// from the log), the given journal and default batching. Secrets come from
// the environment (startTarbela).
func writeConfig(t *testing.T, path string, node *localnet.Btcd, rds *localnet.Redis, journal string) {
	t.Helper()
	cfg := fmt.Sprintf(`[pool]
network = "regtest"
mode = "pool"
payout_address = %q

[stratum]
listen = "127.0.0.1:0"

[stratum.difficulty]
initial = 1e-12
min = 1e-12
max = 1e-12

[[nodes]]
name = "btcd"
rpc_url = %q
rpc_user = %q
websocket_notify = true
longpoll = true

[template]
poll_interval = "1s"

[redis]
addr = %q
journal_path = %q

[log]
level = "info"
format = "json"

[metrics]
listen = ""
`, poolAddr, node.URL(), node.User, rds.Addr, journal)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// tarbelaProcess is a running `tarbela run`.
type tarbelaProcess struct {
	cmd    *exec.Cmd
	log    string
	exited chan error
	// stratum is the Stratum listener's address, from the log.
	stratum string
}

// startTarbela starts `tarbela run -config cfgPath` with its output in
// dir/<name>.log, reads its Stratum address from its "pool started" log
// line and waits until that port accepts connections.
func startTarbela(t *testing.T, bin, cfgPath, dir, name string, node *localnet.Btcd, rds *localnet.Redis) *tarbelaProcess {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "-config", cfgPath)
	cmd.Env = append(os.Environ(), "TARBELA_NODE_RPC_PASSWORD="+node.Pass, "TARBELA_REDIS_PASSWORD="+rds.Password)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start tarbela: %v", err)
	}
	p := &tarbelaProcess{cmd: cmd, log: logPath, exited: make(chan error, 1)}
	go func() {
		p.exited <- cmd.Wait()
		out.Close()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s pool process log:\n%s", name, b)
		}
	})
	waitFor(t, "the pool's Stratum port", func() bool {
		select {
		case err := <-p.exited:
			p.exited <- err
			b, _ := os.ReadFile(logPath)
			t.Fatalf("tarbela exited at start: %v\n%s", err, b)
		default:
		}
		if p.stratum == "" {
			if p.stratum = startedAddr(logPath); p.stratum == "" {
				return false
			}
		}
		c, err := net.DialTimeout("tcp", p.stratum, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return p
}

// startedAddr returns the Stratum address of the JSON "pool started" line
// in the log at path, or "" while there is none.
func startedAddr(path string) string {
	b, _ := os.ReadFile(path)
	for line := range strings.Lines(string(b)) {
		var entry struct {
			Msg     string `json:"msg"`
			Stratum string `json:"stratum"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "pool started" {
			return entry.Stratum
		}
	}
	return ""
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *tarbelaProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	err := <-p.exited
	p.exited <- err
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("pool process ended with %v, want killed by SIGKILL", err)
	}
}

// stop sends SIGTERM and expects a clean exit.
func (p *tarbelaProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	p.waitExit(t)
}

// waitExit expects a clean exit of a process already told to stop.
func (p *tarbelaProcess) waitExit(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err
		if err != nil {
			t.Errorf("pool process stopped with %v, want a clean exit", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("pool process did not stop on SIGTERM")
	}
}
