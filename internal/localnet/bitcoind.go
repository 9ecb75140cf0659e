package localnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// BitcoindEnv names the environment variable that points at a Bitcoin Core
// bitcoind binary.
const BitcoindEnv = "TARBELA_BITCOIND"

// ErrBitcoindMissing is returned (wrapped) by FindBitcoind when there is no
// bitcoind to run. Unlike btcd, Bitcoin Core is not a Go tool the module
// can build, so a machine may simply not have it.
var ErrBitcoindMissing = errors.New("bitcoind not found: set " + BitcoindEnv +
	", put Bitcoin Core's bitcoind in ../shared/bin beside the module, or on PATH")

// BitcoindOptions configures StartBitcoind.
type BitcoindOptions struct {
	// Binary is the bitcoind executable; found by FindBitcoind when empty.
	Binary string
	// ModuleDir is a directory inside the Tarbela module, from which
	// FindBitcoind looks for ../shared/bin; the current directory when
	// empty.
	ModuleDir string
	// DataDir is the node's -datadir, used as it is: a node started again
	// on the same one keeps its chain, and writes a new cookie. A fresh
	// temporary directory (removed again by Stop) when empty.
	DataDir string
	// RPCAddr fixes the RPC listener (127.0.0.1:port), for a test that
	// restarts a node where a client expects it; a free loopback port when
	// empty.
	RPCAddr string
	// Args are extra bitcoind flags.
	Args []string
	// StartTimeout bounds the wait for the RPC server (60 s by default).
	StartTimeout time.Duration
}

// Bitcoind is a running Bitcoin Core regtest node with its default cookie
// authentication (no -rpcuser/-rpcpassword).
type Bitcoind struct {
	// RPCAddr is the RPC listener, 127.0.0.1:port.
	RPCAddr string
	// DataDir is the node's -datadir; bitcoind.out there holds its
	// standard output and error, regtest/debug.log its log.
	DataDir string
	// CookieFile is the node's cookie, DataDir/regtest/.cookie: written
	// anew at every start, deleted at shutdown.
	CookieFile string
	// Binary is the executable that runs.
	Binary string

	cmd       *exec.Cmd
	exited    chan struct{}
	removeDir bool
	stopOnce  sync.Once
	http      *http.Client
	id        atomic.Uint64
}

// FindBitcoind returns the bitcoind executable: binary when set, else the
// path in BitcoindEnv, else ../shared/bin/bitcoind beside the root of the
// module that holds moduleDir (the current directory when empty), else
// bitcoind on PATH. The error wraps ErrBitcoindMissing when there is none.
func FindBitcoind(binary, moduleDir string) (string, error) {
	if binary == "" {
		binary = os.Getenv(BitcoindEnv)
	}
	if binary != "" {
		if _, err := os.Stat(binary); err != nil {
			return "", fmt.Errorf("localnet: bitcoind %q: %w (%w)", binary, err, ErrBitcoindMissing)
		}
		return binary, nil
	}
	if root, err := moduleRoot(moduleDir); err == nil {
		p := filepath.Join(filepath.Dir(root), "shared", "bin", "bitcoind")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("bitcoind")
	if err != nil {
		return "", fmt.Errorf("localnet: %w", ErrBitcoindMissing)
	}
	return p, nil
}

// moduleRoot returns the directory of the go.mod above dir.
func moduleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above " + dir)
		}
		dir = parent
	}
}

// StartBitcoind starts bitcoind -regtest with RPC on loopback, no P2P
// listener and no wallet, and waits until its RPC answers getblockcount
// with the cookie it wrote. Stop it with Stop.
func StartBitcoind(ctx context.Context, o BitcoindOptions) (*Bitcoind, error) {
	bin, err := FindBitcoind(o.Binary, o.ModuleDir)
	if err != nil {
		return nil, err
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 60 * time.Second
	}
	return retryStart(ctx, "bitcoind", func() (*Bitcoind, error) { return startBitcoind(ctx, bin, o) })
}

func startBitcoind(ctx context.Context, bin string, o BitcoindOptions) (*Bitcoind, error) {
	dir, removeDir := o.DataDir, false
	cleanup := func() {}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
	} else {
		var err error
		if dir, cleanup, err = procDir("", "bitcoind-"); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		removeDir = true
	}
	fail := func(err error) (*Bitcoind, error) {
		cleanup()
		return nil, err
	}
	rpcAddr, err := orFreeAddr(o.RPCAddr)
	if err != nil {
		return fail(err)
	}
	host, port, err := net.SplitHostPort(rpcAddr)
	if err != nil {
		return fail(fmt.Errorf("rpc address %q: %w", rpcAddr, err))
	}
	outPath := filepath.Join(dir, "bitcoind.out")
	out, err := os.OpenFile(outPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fail(fmt.Errorf("output file: %w", err))
	}
	b := &Bitcoind{
		RPCAddr: rpcAddr, DataDir: dir, CookieFile: filepath.Join(dir, "regtest", ".cookie"), Binary: bin,
		removeDir: removeDir,
		http:      &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}},
	}
	args := []string{
		"-regtest", "-datadir=" + dir, "-server", "-daemon=0", "-printtoconsole=0",
		"-listen=0", "-disablewallet", "-rpcbind=" + host, "-rpcallowip=" + host, "-rpcport=" + port,
	}
	args = append(args, o.Args...)
	cmd, exited, err := startProcess(bin, args, out, nil)
	if err != nil {
		return fail(err)
	}
	b.cmd, b.exited = cmd, exited
	if err := awaitRPC(ctx, o.StartTimeout, b.exited, b.Call); err != nil {
		b.Stop()
		return fail(fmt.Errorf("bitcoind on %s: %w (%s); output: %s; log: %s", b.RPCAddr, err, cmd.ProcessState,
			tail(outPath), tail(filepath.Join(dir, "regtest", "debug.log"))))
	}
	return b, nil
}

// URL is the node's RPC endpoint, http://127.0.0.1:port.
func (b *Bitcoind) URL() string { return "http://" + b.RPCAddr }

// Cookie returns the content of the node's cookie file.
func (b *Bitcoind) Cookie() (string, error) {
	c, err := os.ReadFile(b.CookieFile)
	if err != nil {
		return "", fmt.Errorf("bitcoind cookie: %w", err)
	}
	return string(c), nil
}

// Call makes one JSON-RPC call with the cookie the node wrote, read again
// for every call, and returns the raw result.
func (b *Bitcoind) Call(ctx context.Context, method string, params ...any) (json.RawMessage, error) {
	cookie, err := b.Cookie()
	if err != nil {
		return nil, err
	}
	user, pass, ok := strings.Cut(strings.TrimSpace(cookie), ":")
	if !ok {
		return nil, fmt.Errorf("bitcoind cookie %s: no ':'", b.CookieFile)
	}
	return callRPC(ctx, b.http, "bitcoind", b.URL(), user, pass, b.id.Add(1), method, params)
}

// Exited is closed when the bitcoind process has ended.
func (b *Bitcoind) Exited() <-chan struct{} { return b.exited }

// Stop shuts the node down (SIGTERM, then a kill if it has not exited
// within 60 seconds) and waits for it; Core deletes its cookie file as it
// shuts down. A temporary data directory is removed. Safe to call more than
// once.
func (b *Bitcoind) Stop() {
	b.stopOnce.Do(func() {
		stopProcess(b.cmd, b.exited, syscall.SIGTERM, 60*time.Second)
		b.http.CloseIdleConnections()
		if b.removeDir {
			_ = os.RemoveAll(b.DataDir)
		}
	})
}
