package localnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
)

// BtcdEnv names the environment variable that points at a btcd binary, for
// machines where the module's pinned tool cannot be built.
const BtcdEnv = "TARBELA_BTCD"

// BtcdOptions configures StartBtcd. The zero value starts a node in a fresh
// temporary directory paying RegtestAddress(1).
type BtcdOptions struct {
	// Dir is the parent of the node's fresh data directory; the system
	// temporary directory (removed again by Stop) when empty. The data
	// directory is always new because btcd refuses getblocktemplate on a
	// tip older than 24 hours.
	Dir string
	// MiningAddr is the regtest address btcd's `generate` pays;
	// RegtestAddress(1) when empty.
	MiningAddr string
	// Binary is the btcd executable. When empty, BtcdEnv is consulted, then
	// `go tool -n btcd` is run in ModuleDir.
	Binary string
	// ModuleDir is a directory inside the Tarbela module, where the pinned
	// tool is resolved; the current directory when empty.
	ModuleDir string
	// User and Pass are the RPC credentials; random when empty.
	User, Pass string
	// Log also receives btcd's output (it always goes to btcd.out in the
	// data directory as well).
	Log io.Writer
	// Args are extra btcd flags.
	Args []string
	// StartTimeout bounds the wait for the RPC server (60 s by default).
	StartTimeout time.Duration
	// RPCAddr fixes the RPC listener (host:port), for a test that restarts
	// a node where a client expects it; a free loopback port when empty.
	RPCAddr string
}

// Btcd is a running btcd regtest node.
type Btcd struct {
	// RPCAddr is the RPC listener, 127.0.0.1:port (no TLS).
	RPCAddr string
	// P2PAddr is the peer-to-peer listener, 127.0.0.1:port.
	P2PAddr string
	// User and Pass are the RPC credentials.
	User, Pass string
	// DataDir holds the chain, the logs and btcd.out.
	DataDir string
	// MiningAddr is the address btcd's `generate` pays.
	MiningAddr string
	// Binary is the executable that runs.
	Binary string

	cmd       *exec.Cmd
	exited    chan struct{}
	removeDir bool
	stopOnce  sync.Once
	http      *http.Client
	id        atomic.Uint64
}

// startAttempts is how often StartBtcd retries when btcd exits before its RPC
// answers; a free port found by listening can be taken by someone else
// before btcd binds it.
const startAttempts = 3

// StartBtcd starts btcd --regtest with a fresh data directory and waits until
// its RPC answers getblockcount. Stop it with Stop.
func StartBtcd(ctx context.Context, o BtcdOptions) (*Btcd, error) {
	bin, err := FindBtcd(ctx, o.Binary, o.ModuleDir)
	if err != nil {
		return nil, err
	}
	if o.MiningAddr == "" {
		o.MiningAddr = RegtestAddress(1)
	}
	if o.User == "" {
		o.User = "tarbela-" + randomHex(4)
	}
	if o.Pass == "" {
		o.Pass = randomHex(16)
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 60 * time.Second
	}
	return retryStart(ctx, "btcd", func() (*Btcd, error) { return startBtcd(ctx, bin, o) })
}

// procDir makes a fresh directory for one process under parent (the
// system temporary directory when parent is ""). cleanup removes it when it
// is a temporary one, for a start that failed; a directory under a given
// parent is kept for its logs.
func procDir(parent, prefix string) (dir string, cleanup func(), err error) {
	temp := parent == ""
	if temp {
		parent = os.TempDir()
	}
	if dir, err = os.MkdirTemp(parent, prefix); err != nil {
		return "", nil, err
	}
	return dir, func() {
		if temp {
			_ = os.RemoveAll(dir)
		}
	}, nil
}

// retryStart runs start up to startAttempts times, until it succeeds or ctx
// ends, and joins the errors of every attempt when none succeeded.
func retryStart[T any](ctx context.Context, what string, start func() (T, error)) (T, error) {
	var errs []error
	for range startAttempts {
		v, err := start()
		if err == nil {
			return v, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	var zero T
	return zero, fmt.Errorf("localnet: %s did not start: %w", what, errors.Join(errs...))
}

func startBtcd(ctx context.Context, bin string, o BtcdOptions) (*Btcd, error) {
	dir, cleanup, err := procDir(o.Dir, "btcd-")
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	fail := func(err error) (*Btcd, error) {
		cleanup()
		return nil, err
	}
	rpcAddr, err := orFreeAddr(o.RPCAddr)
	if err != nil {
		return fail(err)
	}
	p2pPort, err := FreePort()
	if err != nil {
		return fail(err)
	}
	// An empty config file keeps a developer's ~/.btcd/btcd.conf out of
	// the test node.
	conf := filepath.Join(dir, "btcd.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		return fail(fmt.Errorf("config file: %w", err))
	}
	out, err := os.Create(filepath.Join(dir, "btcd.out"))
	if err != nil {
		return fail(fmt.Errorf("output file: %w", err))
	}
	b := &Btcd{
		RPCAddr:    rpcAddr,
		P2PAddr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(p2pPort)),
		User:       o.User,
		Pass:       o.Pass,
		DataDir:    dir,
		MiningAddr: o.MiningAddr,
		Binary:     bin,
		removeDir:  o.Dir == "",
		http:       &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}},
	}
	args := []string{
		"--regtest", "--notls",
		"--configfile=" + conf,
		"--datadir=" + filepath.Join(dir, "data"),
		"--logdir=" + filepath.Join(dir, "logs"),
		"--rpclisten=" + b.RPCAddr,
		"--rpcuser=" + b.User,
		"--rpcpass=" + b.Pass,
		"--listen=" + b.P2PAddr,
		"--miningaddr=" + b.MiningAddr,
		"--rpcmaxclients=100",
	}
	args = append(args, o.Args...)
	cmd, exited, err := startProcess(bin, args, out, o.Log)
	if err != nil {
		return fail(err)
	}
	b.cmd, b.exited = cmd, exited
	if err := awaitRPC(ctx, o.StartTimeout, b.exited, b.Call); err != nil {
		b.Stop()
		return fail(fmt.Errorf("btcd on %s: %w (%s); output: %s", b.RPCAddr, err, cmd.ProcessState, tail(filepath.Join(dir, "btcd.out"))))
	}
	return b, nil
}

// Stop ends the node: an interrupt, then a kill if it has not exited within
// ten seconds; it waits for the process. Safe to call more than once.
func (b *Btcd) Stop() {
	b.stopOnce.Do(func() {
		stopProcess(b.cmd, b.exited, os.Interrupt, 10*time.Second)
		b.http.CloseIdleConnections()
		if b.removeDir {
			_ = os.RemoveAll(b.DataDir)
		}
	})
}

// Exited is closed when the btcd process has ended, for whatever reason.
func (b *Btcd) Exited() <-chan struct{} { return b.exited }

// URL is the node's RPC endpoint, http://127.0.0.1:port.
func (b *Btcd) URL() string { return "http://" + b.RPCAddr }

// RPCError is a JSON-RPC error the node returned.
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

// Call makes one JSON-RPC call and returns the raw result. It is a small
// client of its own so that packages tested with localnet can import it
// without a cycle.
func (b *Btcd) Call(ctx context.Context, method string, params ...any) (json.RawMessage, error) {
	return callRPC(ctx, b.http, "btcd", b.URL(), b.User, b.Pass, b.id.Add(1), method, params)
}

// callRPC makes one JSON-RPC call for node (a name for errors) and returns
// the raw result.
func callRPC(ctx context.Context, client *http.Client, node, url, user, pass string, id uint64, method string, params []any) (json.RawMessage, error) {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "1.0", "id": id, "method": method, "params": params})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", node, method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", node, method, err)
	}
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", node, method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", node, method, err)
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *RPCError       `json:"error"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("%s %s: HTTP %d: %q", node, method, resp.StatusCode, truncate(raw, 200))
	}
	if r.Error != nil {
		return nil, fmt.Errorf("%s %s: %w", node, method, r.Error)
	}
	return r.Result, nil
}

// Generate mines n blocks paying MiningAddr and returns their hashes.
func (b *Btcd) Generate(ctx context.Context, n int) ([]string, error) {
	raw, err := b.Call(ctx, "generate", n)
	if err != nil {
		return nil, err
	}
	var hashes []string
	if err := json.Unmarshal(raw, &hashes); err != nil {
		return nil, fmt.Errorf("btcd generate: result %q: %w", truncate(raw, 200), err)
	}
	return hashes, nil
}

// BlockCount returns the node's best height.
func (b *Btcd) BlockCount(ctx context.Context) (int64, error) {
	raw, err := b.Call(ctx, "getblockcount")
	if err != nil {
		return 0, err
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, fmt.Errorf("btcd getblockcount: result %q: %w", truncate(raw, 200), err)
	}
	return n, nil
}

// FindBtcd returns the btcd executable: binary when set, else the path in
// BtcdEnv, else the module's pinned tool, built (and cached) by
// `go tool -n btcd` run in moduleDir.
func FindBtcd(ctx context.Context, binary, moduleDir string) (string, error) {
	if binary == "" {
		binary = os.Getenv(BtcdEnv)
	}
	if binary != "" {
		if _, err := os.Stat(binary); err != nil {
			return "", fmt.Errorf("localnet: btcd binary: %w", err)
		}
		return binary, nil
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		if root := os.Getenv("GOROOT"); root != "" {
			goBin = filepath.Join(root, "bin", "go")
		} else {
			return "", fmt.Errorf("localnet: the go command is needed to build btcd (or set %s): %w", BtcdEnv, err)
		}
	}
	cmd := exec.CommandContext(ctx, goBin, "tool", "-n", "btcd")
	cmd.Dir = moduleDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("localnet: go tool -n btcd: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	path := strings.TrimSpace(string(out))
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("localnet: go tool -n btcd printed %q: %w", path, err)
	}
	return path, nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("localnet: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// orFreeAddr returns addr, or when it is empty a loopback address whose
// port was free a moment ago.
func orFreeAddr(addr string) (string, error) {
	if addr != "" {
		return addr, nil
	}
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// RegtestKey returns a private key derived from seed, so that tests and
// devnets pay addresses whose keys they can sign with, without storing keys.
func RegtestKey(seed byte) *btcec.PrivateKey {
	h := sha256.Sum256([]byte{'t', 'a', 'r', 'b', 'e', 'l', 'a', '-', 'r', 'e', 'g', 't', 'e', 's', 't', '-', seed})
	k, _ := btcec.PrivKeyFromBytes(h[:])
	return k
}

// RegtestAddress returns the P2WPKH regtest address (bcrt1q…) of
// RegtestKey(seed).
func RegtestAddress(seed byte) string {
	pub := RegtestKey(seed).PubKey().SerializeCompressed()
	a, err := address.NewAddressWitnessPubKeyHash(address.Hash160(pub), &chaincfg.RegressionNetParams)
	if err != nil {
		// A 20-byte program is always valid; this cannot happen.
		return ""
	}
	return a.EncodeAddress()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tail returns the end of a file for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no output: " + err.Error() + ")"
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return strings.TrimSpace(string(b))
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
