//go:build linux

package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	buildingRe = regexp.MustCompile(`devnet: building btcd (v\S+) into (\S+) \(first use only\)`)
	sharesRe   = regexp.MustCompile(`(?m)^height=\d+ .*shares=[1-9]`)
)

// TestDevnetBinaryOutsideTree builds the tarbela binary and runs
// `tarbela devnet` the way a user who installed it does: from a directory
// outside the source tree, with a fresh home and cache directory and no btcd
// on PATH, so the devnet must build the btcd version the binary pins into
// that cache. It waits for a status line with an accepted share, then sends
// SIGINT to the binary's whole process group, as Ctrl-C in a terminal does,
// and checks that it exits 0 and leaves no btcd or redis-server behind.
func TestDevnetBinaryOutsideTree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tarbela and btcd and runs a devnet")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("this test needs the go command: %v", err)
	}
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("this test needs redis-server: %v", err)
	}
	work := t.TempDir()
	tarbela := filepath.Join(work, "tarbela")
	if out, err := exec.Command(goBin, "build", "-o", tarbela, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	home, cwd, devnetDir := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "devnet")
	cmd := exec.Command(tarbela, "devnet", "-dir", devnetDir, "-stratum", "127.0.0.1:0",
		"-difficulty", "0.0001", "-status", "500ms")
	cmd.Dir = cwd
	cmd.Env = userEnv(t, goBin, redisBin, home)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Files, which the test reads while the child writes them.
	stdout, stderr := outputFile(t, work, "stdout"), outputFile(t, work, "stderr")
	cmd.Stdout, cmd.Stderr = stdout.f, stderr.f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed once the process has been waited for; waitErr is
	// its result from then on.
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	defer func() {
		select {
		case <-exited:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}()

	// The first build of btcd on a cold Go cache takes minutes on a slow
	// machine; this deadline only catches a hang.
	deadline := time.After(10 * time.Minute)
	for !sharesRe.MatchString(stdout.String()) {
		select {
		case <-exited:
			t.Fatalf("tarbela devnet exited before a share was accepted: %v\nstdout:\n%s\nstderr:\n%s", waitErr, stdout, stderr)
		case <-deadline:
			t.Fatalf("no status line with an accepted share\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
		case <-time.After(100 * time.Millisecond):
		}
	}
	m := buildingRe.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("the devnet did not say it built btcd:\n%s", stdout)
	}
	cached := filepath.Join(home, ".cache", "tarbela", "btcd-"+m[1])
	if m[2] != cached {
		t.Errorf("built btcd into %s, want %s", m[2], cached)
	}
	if _, err := os.Stat(filepath.Join(cached, "btcd")); err != nil {
		t.Errorf("no btcd in the cache: %v", err)
	}
	var info struct{ Stratum, NodeRPC, Redis string }
	b, err := os.ReadFile(filepath.Join(devnetDir, "devnet.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatalf("devnet.json: %v", err)
	}

	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("tarbela devnet after SIGINT: %v\nstdout:\n%s\nstderr:\n%s", waitErr, stdout, stderr)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("tarbela devnet did not exit after SIGINT\nstdout:\n%s", stdout)
	}
	out := stdout.String()
	if !strings.Contains(out, "devnet: stopping") || strings.Contains(out, "exited (") {
		t.Errorf("want a clean stop, without a service exiting on its own:\n%s", out)
	}
	if stderr.String() != "" {
		t.Errorf("stderr: %s", stderr)
	}
	if left := processesIn(t, devnetDir); len(left) > 0 {
		t.Errorf("processes left running in %s: %v", devnetDir, left)
	}
	for _, a := range []string{info.Stratum, info.NodeRPC, info.Redis} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still answers after the devnet stopped", a)
		}
	}
}

// output is a child's output file.
type output struct{ f *os.File }

func outputFile(t *testing.T, dir, name string) output {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return output{f}
}

// String is what the child has written so far.
func (o output) String() string {
	b, _ := os.ReadFile(o.f.Name())
	return string(b)
}

// userEnv is the environment of a user with a fresh home and cache
// directory, go and redis-server on PATH and no btcd there. The Go build
// and module caches stay those of this test run, so that building btcd
// reuses what is already compiled and downloaded; the btcd cache is what is
// fresh.
func userEnv(t *testing.T, goBin, redisBin, home string) []string {
	t.Helper()
	bin := t.TempDir()
	for _, p := range []string{goBin, redisBin} {
		if err := os.Symlink(p, filepath.Join(bin, filepath.Base(p))); err != nil {
			t.Fatal(err)
		}
	}
	path := []string{bin}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, "btcd")); err == nil {
			continue
		}
		path = append(path, dir)
	}
	keep := map[string]bool{"PATH": true, "HOME": true, "XDG_CACHE_HOME": true, "TARBELA_BTCD": true}
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !keep[k] && !strings.HasPrefix(k, "GO") {
			env = append(env, kv)
		}
	}
	env = append(env, "PATH="+strings.Join(path, string(os.PathListSeparator)), "HOME="+home,
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"))
	vars := []string{"GOROOT", "GOCACHE", "GOMODCACHE", "GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE", "GOFLAGS", "GOTOOLCHAIN"}
	out, err := exec.Command(goBin, append([]string{"env"}, vars...)...).Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	for i, v := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		if v != "" {
			env = append(env, vars[i]+"="+v)
		}
	}
	return env
}

// processesIn lists the processes whose command line or working directory
// lies in dir (btcd names its data directory, redis-server runs in its own).
func processesIn(t *testing.T, dir string) []string {
	t.Helper()
	procs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil {
			continue // gone meanwhile
		}
		cwd, _ := os.Readlink(filepath.Join("/proc", p.Name(), "cwd"))
		if strings.Contains(string(cmdline), dir) || strings.HasPrefix(cwd, dir) {
			found = append(found, p.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return found
}
