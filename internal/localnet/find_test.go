package localnet

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// pinning is build information like a tarbela binary's: its own module and
// btcd among its dependencies.
func pinning(version string) *debug.BuildInfo {
	return &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/tarbela-pool/tarbela", Version: "(devel)"},
		Deps: []*debug.Module{{Path: btcdModule, Version: version}},
	}
}

// fakeExecutable writes an executable file name into dir.
func fakeExecutable(t *testing.T, dir, name string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFindBtcdLookup checks each step of FindBtcd's search with fake
// executables and given build information: PATH first, then a cached build
// of the pinned version (reused without Go), and one-line errors naming what
// to install when there is neither.
func TestFindBtcdLookup(t *testing.T) {
	const version = "v0.26.2"
	outside := t.TempDir() // no go.mod above it: not the source tree
	tests := []struct {
		name      string
		onPath    bool // a btcd on PATH
		cached    bool // a btcd already built into the cache
		bi        *debug.BuildInfo
		want      string // "path", "cache"
		wantInErr []string
	}{
		{name: "on PATH", onPath: true, bi: pinning(version), want: "path"},
		{name: "on PATH wins over the cache", onPath: true, cached: true, bi: pinning(version), want: "path"},
		{name: "cached build reused without Go", cached: true, bi: pinning(version), want: "cache"},
		{name: "no Go to build", bi: pinning(version),
			wantInErr: []string{"btcd not found on PATH and no Go toolchain to build btcd v0.26.2", "go install github.com/btcsuite/btcd@v0.26.2"}},
		{name: "no build information", bi: nil,
			wantInErr: []string{"btcd not found on PATH", "no build information", "go install github.com/btcsuite/btcd@latest"}},
		{name: "btcd not a dependency", bi: &debug.BuildInfo{Main: debug.Module{Path: "example.com/other"}},
			wantInErr: []string{"btcd not found on PATH", "does not record which btcd"}},
		{name: "btcd replaced", bi: &debug.BuildInfo{Deps: []*debug.Module{{Path: btcdModule, Version: version, Replace: &debug.Module{Path: "../btcd"}}}},
			wantInErr: []string{"replaced by ../btcd"}},
		{name: "btcd built from a local checkout", bi: pinning("(devel)"),
			wantInErr: []string{`"(devel)"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bin, cache := t.TempDir(), t.TempDir()
			t.Setenv(BtcdEnv, "")
			t.Setenv("PATH", bin) // no go, no btcd unless the case puts one there
			t.Setenv("GOROOT", "")
			var onPath, cached string
			if tc.onPath {
				onPath = fakeExecutable(t, bin, "btcd")
			}
			if tc.cached {
				cached = fakeExecutable(t, filepath.Join(cache, "btcd-"+version), "btcd")
			}
			got, err := findBtcd(context.Background(), BtcdOptions{ModuleDir: outside, CacheDir: cache}, tc.bi)
			if tc.wantInErr != nil {
				if err == nil {
					t.Fatalf("findBtcd = %q, want an error", got)
				}
				if !errors.Is(err, ErrBtcdMissing) {
					t.Errorf("error %v does not wrap ErrBtcdMissing", err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error is not one line: %q", err)
				}
				for _, w := range tc.wantInErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("findBtcd: %v", err)
			}
			want := map[string]string{"path": onPath, "cache": cached}[tc.want]
			if got != want {
				t.Fatalf("findBtcd = %q, want %q", got, want)
			}
		})
	}
}

// TestFindBtcdBuildsIntoCache runs the path a tarbela binary takes outside
// the source tree with Go installed and no btcd on PATH: it builds the pinned
// btcd with `go install` into the cache directory, and the next lookup
// reuses it without Go.
func TestFindBtcdBuildsIntoCache(t *testing.T) {
	if testing.Short() {
		t.Skip("builds btcd")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("this test needs the go command: %v", err)
	}
	version := pinnedVersion(t)
	// PATH holds the go command only, so no btcd on it is found.
	bin := t.TempDir()
	if err := os.Symlink(goBin, filepath.Join(bin, "go")); err != nil {
		t.Fatal(err)
	}
	t.Setenv(BtcdEnv, "")
	t.Setenv("PATH", bin)
	cache := t.TempDir()
	var progress strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	o := BtcdOptions{ModuleDir: t.TempDir(), CacheDir: cache, Progress: &progress}
	got, err := findBtcd(ctx, o, pinning(version))
	if err != nil {
		t.Fatalf("findBtcd: %v", err)
	}
	if want := filepath.Join(cache, "btcd-"+version, "btcd"); got != want {
		t.Fatalf("findBtcd = %q, want %q", got, want)
	}
	if !strings.Contains(progress.String(), "building btcd "+version) {
		t.Errorf("progress %q does not say it builds btcd", progress.String())
	}
	out, err := exec.Command(got, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "btcd version") {
		t.Fatalf("%s --version: %v: %s", got, err, out)
	}
	entries, _ := os.ReadDir(filepath.Dir(got))
	if len(entries) != 1 {
		t.Errorf("cache directory holds %d entries, want only the binary (no build leftovers)", len(entries))
	}

	t.Setenv("PATH", t.TempDir())
	t.Setenv("GOROOT", "")
	progress.Reset()
	again, err := findBtcd(ctx, o, pinning(version))
	if err != nil || again != got {
		t.Fatalf("second findBtcd without Go = %q, %v; want the cached %q", again, err, got)
	}
	if progress.Len() != 0 {
		t.Errorf("second lookup built again: %q", progress.String())
	}
}

// pinnedVersion reads the btcd version the module's go.mod requires.
func pinnedVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == btcdModule {
			return f[1]
		}
	}
	t.Fatalf("go.mod does not require %s", btcdModule)
	return ""
}

func TestInSourceTree(t *testing.T) {
	tree := t.TempDir()
	sub := filepath.Join(tree, "internal", "x")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "go.mod"), []byte("// comment\nmodule github.com/tarbela-pool/tarbela\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dir  string
		bi   *debug.BuildInfo
		want bool
	}{
		{name: "module root", dir: tree, bi: pinning("v1"), want: true},
		{name: "subdirectory", dir: sub, bi: pinning("v1"), want: true},
		{name: "another module", dir: other, bi: pinning("v1")},
		{name: "no module", dir: t.TempDir(), bi: pinning("v1")},
		{name: "no build information", dir: tree},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := inSourceTree(tc.dir, tc.bi); got != tc.want {
				t.Errorf("inSourceTree(%s) = %v, want %v", tc.dir, got, tc.want)
			}
		})
	}
}
