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
	"runtime"
	"runtime/debug"
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

// btcdModule is the module whose main package is btcd.
const btcdModule = "github.com/btcsuite/btcd"

// ErrBtcdMissing is returned (wrapped) by FindBtcd when there is no btcd
// to run and none can be built; the error's text names what to install.
var ErrBtcdMissing = errors.New("btcd not found")

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
	// Binary is the btcd executable. When empty, FindBtcd looks for one.
	Binary string
	// ModuleDir is where FindBtcd checks for the Tarbela source tree, whose
	// pinned tool it then uses; the current directory when empty.
	ModuleDir string
	// CacheDir is where FindBtcd builds the pinned btcd outside the source
	// tree; os.UserCacheDir()/tarbela when empty.
	CacheDir string
	// Progress, when set, is told in one line when FindBtcd builds btcd.
	Progress io.Writer
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

	opts      BtcdOptions
	cmd       *exec.Cmd
	exited    chan struct{}
	removeDir bool
	stopOnce  sync.Once
	http      *http.Client
	id        atomic.Uint64

	// mu orders Restart against Stop: a node that Restart replaced hands
	// its data directory to the new one, and its Stop does nothing.
	mu                 sync.Mutex
	stopping, replaced bool
}

// startAttempts is how often StartBtcd retries when btcd exits before its RPC
// answers; a free port found by listening can be taken by someone else
// before btcd binds it.
const startAttempts = 3

// StartBtcd starts btcd --regtest with a fresh data directory and waits until
// its RPC answers getblockcount. Stop it with Stop.
func StartBtcd(ctx context.Context, o BtcdOptions) (*Btcd, error) {
	bin, err := FindBtcd(ctx, o)
	if err != nil {
		return nil, err
	}
	o.Binary = bin
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
	return retryStart(ctx, "btcd", func() (*Btcd, error) {
		dir, cleanup, err := procDir(o.Dir, "btcd-")
		if err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		rpcAddr := o.RPCAddr
		if rpcAddr == "" {
			if rpcAddr, err = freeAddr(); err != nil {
				cleanup()
				return nil, err
			}
		}
		p2pAddr, err := freeAddr()
		if err != nil {
			cleanup()
			return nil, err
		}
		b, err := startBtcd(ctx, o, dir, rpcAddr, p2pAddr)
		if err != nil {
			cleanup()
			return nil, err
		}
		b.removeDir = o.Dir == ""
		return b, nil
	})
}

// Restart starts btcd again after its process has exited, in the same data
// directory (its logs and btcd.out go on), on the same RPC and P2P
// addresses with the same credentials and flags, and waits until its RPC
// answers. The chain does not survive: btcd --regtest removes its block
// database at every start, so the new node begins again at height 0. It
// returns the new node, which owns the data directory from then on: b's Stop
// does nothing afterwards. On failure (the port was taken meanwhile, say) b
// is unchanged and Restart may be called again. It fails when b still runs
// or was stopped.
func (b *Btcd) Restart(ctx context.Context) (*Btcd, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := canRestart(b.stopping, b.replaced, b.exited); err != nil {
		return nil, fmt.Errorf("localnet: btcd restart: %w", err)
	}
	o := b.opts
	o.User, o.Pass = b.User, b.Pass
	nb, err := startBtcd(ctx, o, b.DataDir, b.RPCAddr, b.P2PAddr)
	if err != nil {
		return nil, fmt.Errorf("localnet: btcd restart: %w", err)
	}
	nb.removeDir = b.removeDir
	b.replaced = true
	b.http.CloseIdleConnections()
	return nb, nil
}

// ExitStatus says how the process ended ("exit status 1", "signal:
// killed"), or "running".
func (b *Btcd) ExitStatus() string { return exitStatus(b.cmd, b.exited) }

// OutputFile is the file that holds the node's output, across restarts.
func (b *Btcd) OutputFile() string { return filepath.Join(b.DataDir, "btcd.out") }

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

// startBtcd runs btcd in dir with the given listeners and waits until its
// RPC answers. It leaves dir in place when it fails.
func startBtcd(ctx context.Context, o BtcdOptions, dir, rpcAddr, p2pAddr string) (*Btcd, error) {
	// An empty config file keeps a developer's ~/.btcd/btcd.conf out of
	// the test node.
	conf := filepath.Join(dir, "btcd.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	// Appended to, so that a restart keeps what the previous run said.
	out, err := os.OpenFile(filepath.Join(dir, "btcd.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("output file: %w", err)
	}
	b := &Btcd{
		RPCAddr:    rpcAddr,
		P2PAddr:    p2pAddr,
		User:       o.User,
		Pass:       o.Pass,
		DataDir:    dir,
		MiningAddr: o.MiningAddr,
		Binary:     o.Binary,
		opts:       o,
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
	cmd, exited, err := startProcess(o.Binary, args, out, o.Log)
	if err != nil {
		return nil, err
	}
	b.cmd, b.exited = cmd, exited
	if err := awaitRPC(ctx, o.StartTimeout, b.exited, b.Call); err != nil {
		b.Stop()
		return nil, fmt.Errorf("btcd on %s: %w (%s); output: %s", b.RPCAddr, err, cmd.ProcessState, tail(b.OutputFile()))
	}
	return b, nil
}

// Stop ends the node: an interrupt, then a kill if it has not exited within
// ten seconds; it waits for the process. Safe to call more than once; it
// does nothing on a node that Restart replaced.
func (b *Btcd) Stop() {
	b.mu.Lock()
	b.stopping = true
	replaced := b.replaced
	b.mu.Unlock()
	if replaced {
		return
	}
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

// FindBtcd returns the btcd executable to run, trying in turn:
//
//  1. o.Binary, then the path in BtcdEnv;
//  2. btcd on PATH, used as it is;
//  3. inside the Tarbela source tree (o.ModuleDir or the current
//     directory), the module's pinned tool, built and cached by
//     `go tool -n btcd`;
//  4. the btcd version this binary was built against (its build
//     information records the module, a dependency of the pool's RPC
//     client), built once with `go install` into o.CacheDir and reused.
//
// When none applies the error wraps ErrBtcdMissing and says in one line
// what to install.
func FindBtcd(ctx context.Context, o BtcdOptions) (string, error) {
	bi, _ := debug.ReadBuildInfo()
	return findBtcd(ctx, o, bi)
}

// findBtcd is FindBtcd with the build information given, for tests.
func findBtcd(ctx context.Context, o BtcdOptions, bi *debug.BuildInfo) (string, error) {
	binary := o.Binary
	if binary == "" {
		binary = os.Getenv(BtcdEnv)
	}
	if binary != "" {
		if _, err := os.Stat(binary); err != nil {
			return "", fmt.Errorf("localnet: btcd binary: %w", err)
		}
		return binary, nil
	}
	if p, err := exec.LookPath("btcd"); err == nil {
		return p, nil
	}
	goBin := goTool()
	if goBin != "" && inSourceTree(o.ModuleDir, bi) {
		if p, err := pinnedTool(ctx, goBin, o.ModuleDir); err == nil {
			return p, nil
		}
		// A tree whose tool cannot be resolved (an edited go.mod, say)
		// still has the version this binary records.
	}
	version, err := btcdVersion(bi)
	if err != nil {
		return "", fmt.Errorf("localnet: %w on PATH, and %w: install btcd (`go install %s@latest`) or set %s", ErrBtcdMissing, err, btcdModule, BtcdEnv)
	}
	cache := o.CacheDir
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("localnet: %w on PATH and no cache directory to build btcd %s in (%w): run `go install %s@%s` or set %s", ErrBtcdMissing, version, err, btcdModule, version, BtcdEnv)
		}
		cache = filepath.Join(dir, "tarbela")
	}
	bin := filepath.Join(cache, "btcd-"+version, "btcd"+exeSuffix())
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	if goBin == "" {
		return "", fmt.Errorf("localnet: %w on PATH and no Go toolchain to build btcd %s: install Go, or run `go install %s@%s` where Go is and put btcd on PATH (or set %s)", ErrBtcdMissing, version, btcdModule, version, BtcdEnv)
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "localnet: building btcd %s into %s (first use only)\n", version, filepath.Dir(bin))
	}
	if err := buildBtcd(ctx, goBin, version, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// goTool returns the go command, or "" when there is none.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go"+exeSuffix())
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func exeSuffix() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

// inSourceTree reports whether dir (the current directory when empty) lies
// in the module this binary was built from: the nearest go.mod above it
// declares the main module of bi.
func inSourceTree(dir string, bi *debug.BuildInfo) bool {
	if bi == nil || bi.Main.Path == "" {
		return false
	}
	if dir == "" {
		var err error
		if dir, err = os.Getwd(); err != nil {
			return false
		}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			return modulePath(b) == bi.Main.Path
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		dir = parent
	}
}

// modulePath returns the path on the module line of a go.mod file.
func modulePath(gomod []byte) string {
	for line := range strings.Lines(string(gomod)) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// pinnedTool returns the path of the module's btcd tool, building it into
// the Go build cache when needed.
func pinnedTool(ctx context.Context, goBin, moduleDir string) (string, error) {
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

// btcdVersion returns the version of the btcd module that bi records.
func btcdVersion(bi *debug.BuildInfo) (string, error) {
	if bi == nil {
		return "", errors.New("this binary carries no build information to tell which btcd it pins")
	}
	for _, d := range bi.Deps {
		if d.Path != btcdModule {
			continue
		}
		if d.Replace != nil {
			return "", fmt.Errorf("this binary was built with %s replaced by %s, which cannot be installed by version", btcdModule, d.Replace.Path)
		}
		if !strings.HasPrefix(d.Version, "v") {
			return "", fmt.Errorf("this binary records %s at %q, which cannot be installed by version", btcdModule, d.Version)
		}
		return d.Version, nil
	}
	return "", fmt.Errorf("this binary does not record which btcd it pins (%s is not among its dependencies)", btcdModule)
}

// buildBtcd builds btcd at version with `go install` into a fresh directory
// beside bin, then renames it to bin: an interrupted build leaves no
// half-written binary where the next run would look, and two runs building
// at once both end with a whole one.
func buildBtcd(ctx context.Context, goBin, version, bin string) error {
	dir := filepath.Dir(bin)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("localnet: btcd cache: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return fmt.Errorf("localnet: btcd cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, goBin, "install", btcdModule+"@"+version)
	// Outside any module, so that no go.mod or go.work around the cache
	// changes what is built.
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if last := lastLine(out.String()); last != "" {
			err = fmt.Errorf("%w: %s", err, last)
		}
		return fmt.Errorf("localnet: go install %s@%s: %w", btcdModule, version, err)
	}
	if err := os.Rename(filepath.Join(tmp, "btcd"+exeSuffix()), bin); err != nil {
		return fmt.Errorf("localnet: btcd cache: %w", err)
	}
	return nil
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
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

// canRestart says why a process handle cannot be restarted, or nil when it
// can: its process has exited and neither Stop nor Restart was called.
func canRestart(stopped, replaced bool, exited <-chan struct{}) error {
	switch {
	case stopped:
		return errors.New("it was stopped")
	case replaced:
		return errors.New("it was already restarted")
	}
	select {
	case <-exited:
		return nil
	default:
		return errors.New("it still runs")
	}
}

// exitStatus says how cmd ended once exited is closed, else "running".
func exitStatus(cmd *exec.Cmd, exited <-chan struct{}) string {
	select {
	case <-exited:
		return cmd.ProcessState.String()
	default:
		return "running"
	}
}

// freeAddr returns 127.0.0.1:port with a port that was free a moment ago.
func freeAddr() (string, error) {
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

// orFreeAddr returns addr, or when it is empty a loopback address whose
// port was free a moment ago.
func orFreeAddr(addr string) (string, error) {
	if addr != "" {
		return addr, nil
	}
	return freeAddr()
}
