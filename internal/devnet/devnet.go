package devnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/cpuminer"
	"github.com/tarbela-pool/tarbela/internal/daemon"
	"github.com/tarbela-pool/tarbela/internal/localnet"
)

// Options configures a devnet.
type Options struct {
	// Dir holds the node's and Redis' data directories, the journal and
	// devnet.json ("devnet" by default).
	Dir string
	// Miners is the number of in-process CPU miners (0: outside miners
	// only); miner i mines for the energy site SiteOfMiner(i).
	Miners int
	// Threads is the threads per miner (1 by default).
	Threads int
	// Stratum is the Stratum listen address ("127.0.0.1:3333" by default).
	Stratum string
	// API is the HTTP API's and dashboard's listen address
	// ("127.0.0.1:0", a free port, by default).
	API string
	// Mode is "pool" or "solo".
	Mode string
	// Difficulty is the starting share difficulty (0.01 by default: a CPU
	// thread finds a share every few seconds). On regtest almost every share
	// is also a block.
	Difficulty float64
	// StatusEvery is the status line interval (5 s by default).
	StatusEvery time.Duration
	// Out receives the status lines (stdout by default).
	Out io.Writer
	// Log receives the logs of every part.
	Log *zap.Logger
	// Ready, when set, is called once everything runs.
	Ready func(Info)

	// backoff is the restart schedule of btcd and redis-server
	// (defaultBackoff when zero).
	backoff backoff
	// holdRestart, when set, is called before each restart of a service;
	// tests hold a service down with it.
	holdRestart func(ctx context.Context, service string)
	// onStatus, when set, receives what each status line reports, with the
	// shares the built-in miners saw accepted read just before it.
	onStatus func(minersAccepted uint64, s daemon.Status)
}

// Info is what devnet.json holds: how to reach every part.
type Info struct {
	Stratum string `json:"stratum"`
	// StratumTLS is the Stratum-over-TLS address (stratum+ssl://), whose
	// self-signed certificate is TLSCert.
	StratumTLS    string `json:"stratum_tls"`
	TLSCert       string `json:"tls_cert"`
	Metrics       string `json:"metrics"`
	NodeRPC       string `json:"node_rpc"`
	NodeRPCUser   string `json:"node_rpc_user"`
	NodeRPCPass   string `json:"node_rpc_pass"`
	Redis         string `json:"redis"`
	PayoutAddress string `json:"payout_address"`
	// API is the HTTP API's and dashboard's base URL; APITokenFile
	// holds its admin token.
	API          string `json:"api"`
	APITokenFile string `json:"api_token_file"`
}

// Run starts everything, runs until ctx is done, then stops everything it
// started.
func Run(ctx context.Context, o Options) error {
	if o.Dir == "" {
		o.Dir = "devnet"
	}
	if o.Stratum == "" {
		o.Stratum = "127.0.0.1:3333"
	}
	if o.API == "" {
		o.API = "127.0.0.1:0"
	}
	if o.Mode == "" {
		o.Mode = config.ModePool
	}
	if o.Difficulty == 0 {
		o.Difficulty = 0.01
	}
	if o.Threads == 0 {
		o.Threads = 1
	}
	if o.StatusEvery == 0 {
		o.StatusEvery = 5 * time.Second
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	log := o.Log
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("devnet dir: %w", err)
	}
	if err := ensureRedis(o.Out); err != nil {
		return err
	}

	// Found before anything starts, so that a first build of btcd is said
	// as it happens and a missing one is said in one line.
	btcdBin, err := localnet.FindBtcd(ctx, localnet.BtcdOptions{Progress: prefixed{o.Out}})
	if err != nil {
		return unprefixed{err}
	}
	fmt.Fprintln(o.Out, "devnet: starting btcd --regtest and redis-server in", dir)
	payout := localnet.RegtestAddress(payoutKeySeed)
	node, err := localnet.StartBtcd(ctx, localnet.BtcdOptions{Dir: dir, MiningAddr: payout, Binary: btcdBin})
	if err != nil {
		return fmt.Errorf("btcd: %w", err)
	}
	bo := o.backoff
	if bo == (backoff{}) {
		bo = defaultBackoff
	}
	// Each supervisor stops its service when Run returns, after the pool
	// (deferred later, so stopped first) has flushed its shares.
	btcdSv := supervise("btcd", node.RPCAddr, node, o.Out, bo, o.holdRestart)
	defer btcdSv.stop()
	// Redis keeps what it acknowledged across its own restarts: an
	// append-only file fsynced before every reply. The pool counts a share
	// recorded once Redis answered for it, so without this a redis-server
	// that crashed would take recorded shares with it; with it, SIGKILL
	// loses none. The devnet's share rate makes the fsyncs cheap.
	rds, err := localnet.StartRedis(ctx, localnet.RedisOptions{Dir: dir,
		Args: []string{"--appendonly", "yes", "--appendfsync", "always"}})
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	redisSv := supervise("redis-server", rds.Addr, rds, o.Out, bo, o.holdRestart)
	defer redisSv.stop()

	cfg := Config(o, node, rds.Addr, payout)
	// The energy audit's two sites; Config, which other packages' tests
	// use, stays without them.
	cfg.Sites = Sites(o.Miners)
	cfg.Energy.Grace = EnergyGrace
	if err := enableTLS(cfg, dir); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	// While Redis is away the pool acknowledges shares once they are in
	// this journal, and replays them when Redis is back.
	cfg.Redis.JournalPath = filepath.Join(dir, "journal.log")
	if cfg.API.TokenFile, err = writeAPIToken(dir); err != nil {
		return err
	}
	// The pool closes and seals each hour's energy figures itself.
	if cfg.Energy.KeyFile, err = ensureEnergyKey(dir); err != nil {
		return err
	}
	d, err := daemon.Start(ctx, cfg, log)
	if err != nil {
		return fmt.Errorf("pool: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d.Stop(sctx)
	}()

	info := Info{Stratum: d.StratumAddr(), StratumTLS: d.StratumTLSAddr(), TLSCert: cfg.Stratum.TLSCertFile, Metrics: d.MetricsURL(), NodeRPC: node.RPCAddr, NodeRPCUser: node.User,
		NodeRPCPass: node.Pass, Redis: rds.Addr, PayoutAddress: payout, API: d.APIURL(), APITokenFile: cfg.API.TokenFile}
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "devnet.json"), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("devnet.json: %w", err)
	}
	cfgPath, err := writePayoutConfig(dir, cfg, info)
	if err != nil {
		return err
	}
	// The API's reload re-reads the devnet's own config file.
	d.SetConfigFile(cfgPath, nil)
	fmt.Fprintf(o.Out, "devnet: pool on stratum+tcp://%s (%s mode), metrics %s, node RPC %s, redis %s\n",
		info.Stratum, o.Mode, info.Metrics, info.NodeRPC, info.Redis)
	fmt.Fprintf(o.Out, "devnet: dashboard %s , admin token in %s\n", info.API, filepath.Join(o.Dir, "api.token"))
	fmt.Fprintf(o.Out, "devnet: TLS stratum+ssl://%s (self-signed: tarbela-miner --tls-ca %s)\n", info.StratumTLS, info.TLSCert)
	fmt.Fprintf(o.Out, "devnet: connection details in %s\n", filepath.Join(dir, "devnet.json"))
	fmt.Fprintf(o.Out, "devnet: pay the miners: mature the blocks with `%s`, then `tarbela payout run -config %s` and `tarbela payout status -config %s`\n",
		generateCommand(node, config.CoinbaseMaturity), cfgPath, cfgPath)
	fmt.Fprintf(o.Out, "devnet: energy per site (%s: miners 0, 2, …; %s: 1, 3, …; the open hour live, flagged open and unsigned; each hour sealed %g min after it ends): `%s`\n",
		SiteNorth, SiteSouth, EnergyGrace.Minutes(), energyReportCommand(cfgPath, time.Now()))

	mctx, stopMiners := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// acceptedBy reads each built-in miner's count of accepted shares.
	var acceptedBy []func() uint64
	for i := range o.Miners {
		user := MinerAccount(i) + ".cpu" + strconv.Itoa(i)
		m, err := cpuminer.New(cpuminer.Options{URL: info.Stratum, User: user, Threads: o.Threads, VersionRolling: true,
			Log: log.Named("miner")})
		if err != nil {
			stopMiners()
			return err
		}
		acceptedBy = append(acceptedBy, func() uint64 { return m.Stats().Accepted })
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.Run(mctx)
		}()
	}
	defer func() {
		stopMiners()
		wg.Wait()
	}()
	if o.Miners > 0 {
		fmt.Fprintf(o.Out, "devnet: %d CPU miner(s) with %d thread(s) each\n", o.Miners, o.Threads)
	} else {
		fmt.Fprintf(o.Out, "devnet: no built-in miners; point a miner at stratum+tcp://%s with user <regtest address>[.worker]\n", info.Stratum)
	}
	if o.Ready != nil {
		o.Ready(info)
	}

	tick := time.NewTicker(o.StatusEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(o.Out, "devnet: stopping")
			return nil
		case <-tick.C:
			var accepted uint64
			for _, f := range acceptedBy {
				accepted += f()
			}
			st := d.Status()
			if o.onStatus != nil {
				o.onStatus(accepted, st)
			}
			line := statusLine(st)
			if btcdSv.Down() {
				line += " btcd=down"
			}
			if redisSv.Down() {
				line += " redis-server=down"
			}
			fmt.Fprintln(o.Out, line)
		}
	}
}

// statusLine formats one status line.
func statusLine(s daemon.Status) string {
	return fmt.Sprintf("height=%d conns=%d hashrate=%s shares=%d rejected=%d recorded=%d backlog=%d blocks=%d/%d",
		s.Height, s.Connections, FormatRate(s.Hashrate), s.Accepted, s.Rejected, s.Recorded,
		s.Queued+s.Journaled, s.BlocksAccepted, s.BlocksSubmitted)
}

// unprefixed is a localnet error said as the devnet's own: one line that
// names the tool to install, without the library's prefix.
type unprefixed struct{ err error }

func (u unprefixed) Error() string { return strings.TrimPrefix(u.err.Error(), "localnet: ") }
func (u unprefixed) Unwrap() error { return u.err }

// prefixed writes each line it is given as a devnet line, without the
// package prefix of the library that wrote it.
type prefixed struct{ w io.Writer }

func (p prefixed) Write(b []byte) (int, error) {
	line := strings.TrimPrefix(string(b), "localnet: ")
	if _, err := io.WriteString(p.w, "devnet: "+line); err != nil {
		return 0, err
	}
	return len(b), nil
}

// FormatRate prints a hashrate with an SI prefix.
func FormatRate(h float64) string {
	units := []string{"H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"}
	i := 0
	for h >= 1000 && i < len(units)-1 {
		h /= 1000
		i++
	}
	return strconv.FormatFloat(h, 'f', 2, 64) + " " + units[i]
}

// Config is the pool configuration the devnet runs.
func Config(o Options, node *localnet.Btcd, redisAddr, payout string) *config.Config {
	cfg := config.Default()
	cfg.Pool.Network = config.NetworkRegtest
	cfg.Pool.Mode = o.Mode
	cfg.Pool.PayoutAddress = payout
	cfg.Stratum.Listen = o.Stratum
	cfg.Stratum.Difficulty.Initial = o.Difficulty
	cfg.Stratum.Difficulty.Min = min(o.Difficulty, 1e-6)
	cfg.Stratum.Difficulty.RetargetInterval = 30 * time.Second
	n := config.DefaultNode()
	n.Name, n.RPCURL, n.RPCUser, n.RPCPassword = "btcd", node.URL(), node.User, config.Secret(node.Pass)
	n.WebsocketNotify, n.Longpoll = true, true
	cfg.Nodes = []config.Node{n}
	cfg.Template.PollInterval = time.Second
	cfg.Redis.Addr = redisAddr
	cfg.Metrics.Listen = "127.0.0.1:0"
	cfg.API.Listen = o.API
	return cfg
}

// writeAPIToken writes a fresh random admin token for the API to
// api.token in dir (mode 0600) and returns the file's path.
func writeAPIToken(dir string) (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	path := filepath.Join(dir, "api.token")
	// A token file left by an earlier run is replaced, mode included.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("api token: %w", err)
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(b[:])+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	return path, nil
}

// ensureRedis installs redis-server with apt-get when it is missing and we
// run as root on Debian; otherwise it names the command to run.
func ensureRedis(out io.Writer) error {
	if _, err := localnet.FindRedis(""); err == nil {
		return nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		return errors.New("redis-server is not installed: run `sudo apt-get install -y redis-server` (Debian/Ubuntu) and start the devnet again")
	}
	fmt.Fprintln(out, "devnet: redis-server is missing; installing it with apt-get")
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "redis-server"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %v: %w\n%s", args, err, b)
		}
	}
	_, err := localnet.FindRedis("")
	return err
}

// ConfigFile renders cfg as the TOML file `tarbela run` and `tarbela payout`
// read: the keys the devnet sets, secrets included (the file is the
// devnet's own, written 0600), the rest left to their defaults.
func ConfigFile(cfg *config.Config) string {
	var b strings.Builder
	p := cfg.Pool
	fmt.Fprintf(&b, "# Written by tarbela devnet for its own regtest pool and payout job.\n[pool]\nnetwork = %q\nmode = %q\npayout_address = %q\npool_fee_percent = %v\n\n",
		p.Network, p.Mode, p.PayoutAddress, p.PoolFeePercent)
	st := cfg.Stratum
	fmt.Fprintf(&b, "[stratum]\nlisten = %q\n", st.Listen)
	if st.TLSListen != "" {
		fmt.Fprintf(&b, "tls_listen = %q\ntls_cert_file = %q\ntls_key_file = %q\n", st.TLSListen, st.TLSCertFile, st.TLSKeyFile)
	}
	fmt.Fprintf(&b, "\n[stratum.difficulty]\ninitial = %v\nmin = %v\nmax = %v\nretarget_interval = %q\n\n",
		st.Difficulty.Initial, st.Difficulty.Min, st.Difficulty.Max, st.Difficulty.RetargetInterval.String())
	fmt.Fprintf(&b, "[template]\npoll_interval = %q\n\n", cfg.Template.PollInterval.String())
	for _, n := range cfg.Nodes {
		fmt.Fprintf(&b, "[[nodes]]\nname = %q\nrpc_url = %q\n", n.Name, n.RPCURL)
		if n.RPCCookieFile != "" {
			fmt.Fprintf(&b, "rpc_cookie_file = %q\n", n.RPCCookieFile)
		} else {
			fmt.Fprintf(&b, "rpc_user = %q\nrpc_password = %q\n", n.RPCUser, string(n.RPCPassword))
		}
		fmt.Fprintf(&b, "websocket_notify = %v\nlongpoll = %v\n\n", n.WebsocketNotify, n.Longpoll)
	}
	r := cfg.Redis
	fmt.Fprintf(&b, "[redis]\naddr = %q\nprefix = %q\njournal_path = %q\n", r.Addr, r.Prefix, r.JournalPath)
	if r.Password != "" {
		fmt.Fprintf(&b, "password = %q\n", string(r.Password))
	}
	if a := cfg.API; a.Listen != "" {
		fmt.Fprintf(&b, "\n[api]\nlisten = %q\ntoken_file = %q\n", a.Listen, a.TokenFile)
	}
	po := cfg.Payout
	fmt.Fprintf(&b, "\n[metrics]\nlisten = %q\n\n[payout]\nscheme = %q\npplns_window = %v\nmin_payout = %d\nmaturity = %d\nmode = %q\nkey_file = %q\nlock_ttl = %q\n",
		cfg.Metrics.Listen, po.Scheme, po.PPLNSWindow, po.MinPayout, po.Maturity, po.Mode, po.KeyFile, po.LockTTL.String())
	energyConfigFile(&b, cfg)
	return b.String()
}

// payoutKeySeed is the seed of the devnet's payout key (localnet.RegtestKey):
// the pool's payout address is its address, so the payout job can spend
// the coinbases.
const payoutKeySeed = 1

// writePayoutConfig writes the devnet pool's config, with its payout key
// in a file beside it, as tarbela.toml in dir, so that `tarbela payout run
// -config <dir>/tarbela.toml` pays the devnet's miners as is. The payout
// minimum is 0.001 BTC, and in pool mode the pool keeps 1 %, from which it
// pays the transaction fees.
func writePayoutConfig(dir string, cfg *config.Config, info Info) (string, error) {
	wif, err := btcutil.NewWIF(localnet.RegtestKey(payoutKeySeed), &chaincfg.RegressionNetParams, true)
	if err != nil {
		return "", fmt.Errorf("payout key: %w", err)
	}
	keyFile := filepath.Join(dir, "payout.key")
	if err := os.WriteFile(keyFile, []byte(wif.String()+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("payout key: %w", err)
	}
	c := *cfg
	c.Stratum.Listen, c.Stratum.TLSListen = info.Stratum, info.StratumTLS
	c.Payout.KeyFile = keyFile
	c.Payout.MinPayout = 100000
	if c.Pool.Mode == config.ModePool {
		// The pool's cut pays the payout transactions' fees.
		c.Pool.PoolFeePercent = 1
	}
	path := filepath.Join(dir, "tarbela.toml")
	if err := os.WriteFile(path, []byte(ConfigFile(&c)), 0o600); err != nil {
		return "", fmt.Errorf("tarbela.toml: %w", err)
	}
	return path, nil
}

// generateCommand is the command that mines n blocks on the devnet's node.
func generateCommand(node *localnet.Btcd, n int) string {
	return fmt.Sprintf(`curl -s --user %s:%s -d '{"jsonrpc":"1.0","id":1,"method":"generate","params":[%d]}' http://%s`,
		node.User, node.Pass, n, node.RPCAddr)
}

// MinerAccount is the account (a regtest address) of the devnet's i-th
// built-in CPU miner.
func MinerAccount(i int) string { return localnet.RegtestAddress(byte(10 + i)) }
