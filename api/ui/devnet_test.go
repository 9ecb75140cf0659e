package ui

import (
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/internal/localnet"
)

var devnetScreenshot = flag.Bool("update-devnet-screenshot", false,
	"TestDashboardOnDevnet: write docs/dashboard.png from the live devnet")

// TestDashboardOnDevnet runs the dashboard against a live devnet, the
// `tarbela devnet` process (real btcd, Redis, the pool's API and its CPU
// miners, one per energy site and account), in headless Chromium: once the
// miners have found blocks, the pool page has a chart with points and the
// blocks, and the first miner's account page lists its worker with a
// hashrate.
func TestDashboardOnDevnet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a devnet and Chromium")
	}
	chromiumPath(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "tarbela")
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "./cmd/tarbela")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := &lockedWriter{}
	cmd := exec.Command(bin, "devnet", "-dir", filepath.Join(dir, "devnet"), "-stratum", "127.0.0.1:0", "-status", "1s")
	cmd.Dir = filepath.Join("..", "..") // the source tree: btcd is its pinned tool
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed once the process has ended, with its error in
	// exitErr; both the test and its cleanup wait on it.
	exited := make(chan struct{})
	var exitErr error
	go func() {
		exitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	// A few blocks, so the chart and the blocks table have something.
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(out.String(), "blocks=3/") && !strings.Contains(out.String(), "blocks=4/") {
		select {
		case <-exited:
			t.Fatalf("devnet ended: %v\n%s", exitErr, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no blocks from the devnet's miner\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	b, err := os.ReadFile(filepath.Join(dir, "devnet", "devnet.json"))
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		API string `json:"api"`
	}
	if err := json.Unmarshal(b, &info); err != nil || info.API == "" {
		t.Fatalf("devnet.json %s: %v; want the API's URL", b, err)
	}
	// The devnet's first built-in miner mines as this account. The devnet
	// runs two miners (one per energy site), and the blocks above may all
	// be the other's: wait until this one's shares are recorded (the API's
	// cache keeps an unknown account's 404 for up to 2 s).
	account := localnet.RegtestAddress(10)
	for {
		resp, err := http.Get(strings.TrimSuffix(info.API, "/") + "/api/v1/accounts/" + account)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first miner's account has no shares: %v\n%s", err, out.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	v := checkDashboard(t, info.API, account)
	if len(v.workers) != 1 {
		t.Errorf("account page workers %v, want the first CPU miner's one worker", v.workers)
	}
	if *devnetScreenshot {
		writeScreenshot(t, info.API+"/", filepath.Join("..", "..", "docs", "dashboard.png"))
	}
}

// lockedWriter is a writer the devnet process and the test share.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
