package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/redis/go-redis/v9"
	"github.com/tarbela-pool/tarbela/api"
	"github.com/tarbela-pool/tarbela/api/ui"
	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/energy"
	"github.com/tarbela-pool/tarbela/internal/metrics"
	"github.com/tarbela-pool/tarbela/internal/redisconn"
	"github.com/tarbela-pool/tarbela/pool"
	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
	"github.com/tarbela-pool/tarbela/stratum"
)

// Daemon is a running pool node.
type Daemon struct {
	// reloadMu serializes Reload and guards cfg.
	reloadMu sync.Mutex
	cfg      *config.Config
	log      *zap.Logger
	store    *redisstore.Store
	// lease holds pool.node_id in Redis while the node runs (lease.go).
	lease   *nodeLease
	manager *pool.Manager
	server  *stratum.Server
	// validator owns the block submissions in flight (see Stop).
	validator *share.Validator
	metrics   *metrics.Metrics
	http      *http.Server
	httpAddr  string
	// reporter writes the node's counters to Redis; api serves the HTTP
	// API on apiAddr (nil when api.listen is "").
	reporter *nodeReporter
	// energy closes energy hours when energy.key_file is set (energy.go).
	energy  *energyCloser
	api     *api.Server
	apiAddr string
	// apiRedis is the API's own Redis client (see startAPI).
	apiRedis redis.UniversalClient
	// fileMu guards configFile and level, what ReloadFile re-reads and
	// the log level it may change (see SetConfigFile).
	fileMu     sync.Mutex
	configFile string
	level      *zap.AtomicLevel
	stopOnce   sync.Once
	stopErr    error
}

// NewLogger builds the zap logger the config asks for. Its level can be
// changed while it runs through the returned AtomicLevel (see Reload).
func NewLogger(c config.Log) (*zap.Logger, zap.AtomicLevel, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, zap.AtomicLevel{}, fmt.Errorf("log.level: %w", err)
	}
	var zc zap.Config
	if c.Format == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.DisableStacktrace = true
	} else {
		zc = zap.NewProductionConfig()
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	log, err := zc.Build()
	return log, zc.Level, err
}

// Start builds and starts every part from a validated config. When a part
// fails, Start stops what it had started, in reverse order, and returns
// that part's error (never a Daemon with it).
func Start(ctx context.Context, cfg *config.Config, log *zap.Logger) (_ *Daemon, err error) {
	if log == nil {
		log = zap.NewNop()
	}
	d := &Daemon{cfg: cfg, log: log}
	// The token is read first, so that a bad token file stops the start
	// before anything runs.
	var apiToken string
	if cfg.API.Listen != "" {
		if apiToken, err = APIToken(cfg.API, nil); err != nil {
			return nil, err
		}
	}
	// undo holds a stop for each part started so far, run in reverse order
	// when a later part fails. It is d's own Stop that ends the parts once
	// Start has succeeded.
	var undo []func(context.Context) error
	defer func() {
		if err == nil {
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), cfg.Stratum.ShutdownTimeout)
		defer cancel()
		for i := len(undo) - 1; i >= 0; i-- {
			if uerr := undo[i](sctx); uerr != nil {
				log.Warn("stopping a part after the failed start", zap.Error(uerr))
			}
		}
	}()
	params := cfg.ChainParams()
	builder, err := pool.NewJobBuilder(pool.BuilderOptions{
		Network: params, Mode: cfg.Pool.Mode, PoolAddress: cfg.Pool.PayoutAddress,
		FeePercent: cfg.Pool.PoolFeePercent, Tag: cfg.Pool.CoinbaseTag, Extranonce2Size: cfg.Pool.Extranonce2Size,
	})
	if err != nil {
		return nil, err
	}
	tlsCfg, err := TLSConfig(cfg.Stratum)
	if err != nil {
		return nil, err
	}
	if w := TLSCertificateWarning(tlsCfg, time.Now()); w != "" {
		log.Warn(w, zap.String("file", cfg.Stratum.TLSCertFile))
	}

	d.metrics = metrics.New(func() int {
		if d.server == nil {
			return 0
		}
		return d.server.Connections()
	})
	journal := cfg.Redis.JournalPath
	if journal == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		journal = filepath.Join(dir, "tarbela", fmt.Sprintf("journal-node%d.log", cfg.Pool.NodeID))
	}
	if err := os.MkdirAll(filepath.Dir(journal), 0o700); err != nil {
		return nil, fmt.Errorf("share journal directory: %w", err)
	}
	d.store, err = redisstore.New(redisconn.StoreOptions(cfg.Redis, redisstore.Options{
		Prefix: cfg.Redis.Prefix,
		Node:   uint8(cfg.Pool.NodeID), BatchSize: cfg.Redis.BatchSize, BatchInterval: cfg.Redis.BatchInterval,
		QueueSize: cfg.Redis.QueueSize, JournalPath: journal, Log: log.Named("store"),
		Scheme: cfg.Payout.Scheme, PPLNSWindow: cfg.Payout.PPLNSWindow,
		SubsidyHalvingInterval: int64(params.SubsidyReductionInterval),
		Observer:               d.metrics.StoreObserver(),
		EnergyBucket:           cfg.Energy.Bucket,
	}))
	if err != nil {
		return nil, err
	}
	// Stop releases the Redis client of a store that never started, and
	// flushes and closes the journal of one that did.
	undo = append(undo, d.store.Stop)
	// The node id's lease comes before anything is recorded under the id.
	if err := d.startLease(ctx, cfg, log); err != nil {
		return nil, err
	}
	undo = append(undo, d.lease.Stop)
	d.metrics.SetBacklog(func() float64 {
		q, j := d.store.Backlog()
		return float64(q + j)
	})
	if err := d.store.Start(ctx); err != nil {
		return nil, fmt.Errorf("share store: %w", err)
	}

	nodes := make([]pool.NodeOptions, len(cfg.Nodes))
	for i, n := range cfg.Nodes {
		nodes[i] = pool.NodeOptions{Name: n.Name, URL: n.RPCURL, User: n.RPCUser, Password: string(n.RPCPassword),
			CookieFile: n.RPCCookieFile, WebsocketNotify: n.WebsocketNotify, ZMQHashBlock: n.ZMQHashBlock, LongPoll: n.Longpoll}
	}
	// Work published before the server exists is picked up by Publish of
	// the current work right after the server starts.
	var serverMu sync.Mutex
	d.manager, err = pool.NewManager(pool.ManagerOptions{
		Nodes: nodes, Builder: builder,
		OnWork: func(w share.Work) {
			serverMu.Lock()
			s := d.server
			serverMu.Unlock()
			if s != nil {
				s.Publish(w)
			}
		},
		RefreshInterval: cfg.Template.RefreshInterval, PollInterval: cfg.Template.PollInterval,
		RPCTimeout: cfg.Template.RPCTimeout, Log: log.Named("pool"),
	})
	if err != nil {
		return nil, err
	}
	// Stop also closes the node clients' connections after a failed Start.
	undo = append(undo, d.manager.Stop)
	if err := d.manager.Start(ctx); err != nil {
		return nil, err
	}

	d.validator = share.NewValidator(share.ValidatorOptions{
		Store: d.store, Blocks: pool.NewSubmitter(d.manager, log.Named("blocks")), Observer: d.metrics,
		Log: log.Named("share"), Node: uint8(cfg.Pool.NodeID),
	})
	st := cfg.Stratum
	live := stratumLive(st)
	srv, err := stratum.NewServer(stratum.Options{
		Listen: st.Listen, TLSListen: st.TLSListen, TLSConfig: tlsCfg,
		NodeID: byte(cfg.Pool.NodeID), Extranonce2Size: cfg.Pool.Extranonce2Size,
		Validator: d.validator, Auth: pool.NewAuthorizer(params), Site: energy.FromConfig(cfg.Sites).Resolve,
		VersionMask: st.VersionMask, DisableVersionRolling: st.VersionMask == 0,
		Difficulty: live.Difficulty, MaxConnections: live.MaxConnections, MaxConnectionsPerIP: live.MaxConnectionsPerIP,
		AllowIPs: live.AllowIPs, BanDuration: live.BanDuration, BanMinRejects: live.BanMinRejects,
		BanRejectRatio: live.BanRejectRatio, BanWindow: live.BanWindow, IPv6Prefix: st.IPv6Prefix,
		MaxLineBytes: st.MaxLineBytes, IdleTimeout: st.IdleTimeout, HandshakeTimeout: st.HandshakeTimeout,
		WriteTimeout: st.WriteTimeout, SendQueue: st.SendQueue, Log: log.Named("stratum"),
	})
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, err
	}
	undo = append(undo, srv.Stop)
	d.metrics.RegisterGuard(srv)
	d.metrics.RegisterTLS(srv)
	d.metrics.RegisterLedger(ledgerMetrics{redisstore.NewLedger(d.store.Client(), cfg.Redis.Prefix)})
	serverMu.Lock()
	d.server = srv
	serverMu.Unlock()
	if w := d.manager.Current(); w != nil {
		srv.Publish(w)
	}

	d.reporter = newNodeReporter(d.store.Reader, uint8(cfg.Pool.NodeID), d.nodeStats, log.Named("nodestats"))
	d.reporter.Start()
	undo = append(undo, d.reporter.Stop)
	if d.energy, err = newEnergyCloser(cfg, d.store, log.Named("energy")); err != nil {
		return nil, err
	} else if d.energy != nil {
		d.energy.Start()
		undo = append(undo, d.energy.Stop)
	}

	if cfg.Metrics.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			return nil, fmt.Errorf("metrics.listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", d.metrics.Handler())
		d.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		d.httpAddr = ln.Addr().String()
		go d.http.Serve(ln)
		undo = append(undo, d.http.Shutdown)
	}
	if cfg.API.Listen != "" {
		if err := d.startAPI(cfg, apiToken); err != nil {
			return nil, err
		}
		undo = append(undo, d.stopAPI)
	}
	log.Info("pool started", zap.String("stratum", srv.Addr().String()), zap.String("stratum_tls", d.StratumTLSAddr()), zap.String("metrics", d.MetricsURL()),
		zap.String("api", d.APIURL()),
		zap.String("mode", cfg.Pool.Mode), zap.String("network", cfg.Pool.Network), zap.Int64("height", d.manager.Height()))
	return d, nil
}

// startAPI serves the HTTP API on api.listen.
func (d *Daemon) startAPI(cfg *config.Config, token string) error {
	ln, err := net.Listen("tcp", cfg.API.Listen)
	if err != nil {
		return fmt.Errorf("api.listen: %w", err)
	}
	// The API reads through a Redis client of its own: a burst of reads
	// then waits for its own connections and never for the share writer's
	// (with one shared pool, 300 uncached requests a second starved the
	// writer's batches into timeouts: BENCHMARKS.md, "## API cost").
	rdb, err := redisconn.NewClient(cfg.Redis)
	if err != nil {
		ln.Close()
		return err
	}
	d.apiRedis = rdb
	d.api, err = api.New(api.Options{
		// The cache keeps the public routes' cost to Redis, where the
		// share path writes, to a few reads a second.
		Pool: api.NewCache(&apiPool{reader: d.store.Reader.WithClient(rdb), ledger: redisstore.NewLedger(rdb, cfg.Redis.Prefix),
			manager: d.manager, server: d.server}, api.CacheOptions{}),
		Admin: apiAdmin{d}, Token: token, Network: cfg.ChainParams(), UI: ui.Handler(), Log: d.log.Named("api"),
	})
	if err != nil {
		ln.Close()
		rdb.Close()
		return err
	}
	if err := d.api.Start(ln); err != nil {
		ln.Close()
		rdb.Close()
		return err
	}
	d.apiAddr = ln.Addr().String()
	if token == "" {
		d.log.Info("api: admin routes are disabled: no api.token_file nor $" + config.EnvAPIToken)
	}
	return nil
}

// stopAPI stops the API, then closes its Redis client.
func (d *Daemon) stopAPI(ctx context.Context) error {
	err := d.api.Stop(ctx)
	if cerr := d.apiRedis.Close(); err == nil {
		err = cerr
	}
	return err
}

// nodeStats is the node's counters for Redis.
func (d *Daemon) nodeStats() redisstore.NodeStats {
	t := d.metrics.Totals()
	return redisstore.NodeStats{Accepted: t.Accepted, Rejected: t.Rejected, RejectedBy: d.metrics.RejectedByReason(),
		Connections: d.server.Connections()}
}

// APIURL is the HTTP API's base URL ("http://127.0.0.1:8080/"), or "" when
// it is off.
func (d *Daemon) APIURL() string {
	if d.apiAddr == "" {
		return ""
	}
	return "http://" + d.apiAddr + "/"
}

// SetConfigFile names the config file ReloadFile re-reads (the one the
// daemon was started from) and the log level it may change (nil: the log
// level needs a restart).
func (d *Daemon) SetConfigFile(path string, level *zap.AtomicLevel) {
	d.fileMu.Lock()
	defer d.fileMu.Unlock()
	d.configFile, d.level = path, level
}

// ReloadFile re-reads the config file given to SetConfigFile and applies
// what can change while the pool runs, as Reload does (SIGHUP and the
// API's reload). A file with an error changes nothing.
func (d *Daemon) ReloadFile() (applied, restart []string, err error) {
	d.fileMu.Lock()
	path, level := d.configFile, d.level
	d.fileMu.Unlock()
	if path == "" {
		return nil, nil, errors.New("reload: this node was started without a config file to re-read")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reload: config not applied: %w", err)
	}
	applied, restart, err = d.Reload(cfg, level)
	if err != nil {
		return nil, nil, fmt.Errorf("reload: config not applied: %w", err)
	}
	d.log.Info("reload: config applied", zap.Strings("applied", applied), zap.Strings("need_restart", restart))
	return applied, restart, nil
}

// StratumAddr is the Stratum listener's address.
func (d *Daemon) StratumAddr() string { return d.server.Addr().String() }

// MetricsURL is the /metrics URL, or "" when disabled.
func (d *Daemon) MetricsURL() string {
	if d.httpAddr == "" {
		return ""
	}
	return "http://" + d.httpAddr + "/metrics"
}

// Status is a snapshot for status lines.
type Status struct {
	Connections int
	Height      int64
	// Hashrate is the estimate in H/s.
	Hashrate float64
	metrics.Totals
	// Recorded is the shares confirmed in Redis by this process.
	Recorded uint64
	// Queued and Journaled are shares waiting for Redis.
	Queued, Journaled int
}

// Status returns the node's counters.
func (d *Daemon) Status() Status {
	q, j := d.store.Backlog()
	return Status{Connections: d.server.Connections(), Height: d.manager.Height(), Hashrate: d.metrics.Hashrate(),
		Totals: d.metrics.Totals(), Recorded: d.store.SharesRecorded(), Queued: q, Journaled: j}
}

// Store is the share store (for tests and the devnet).
func (d *Daemon) Store() *redisstore.Store { return d.store }

// Manager is the template manager (for tests and the devnet).
func (d *Daemon) Manager() *pool.Manager { return d.manager }

// Stop ends the parts in the reverse order of Start, each once nothing
// upstream can feed it (see doc.go, "Lifecycle"):
//
//  0. the HTTP API (no admin action reaches the parts that stop next),
//     then the node's stats writer, which removes the node's counters
//     from Redis;
//  1. the Stratum server: no new connection, client.reconnect to every
//     miner, wait for the sessions to end (until ctx ends);
//  2. the validator: wait for the blocks found so far to get the node's
//     answer and have it recorded (until ctx ends; the node client and the
//     store are still up);
//  3. the template manager and its node clients;
//  4. the share store: the queued batches go to Redis or the journal. It
//     gets its own bound (redisstore StopTimeout) rather than what the
//     miners' drain left of ctx, since losing shares is worse than a slow
//     stop;
//  5. the node id's lease, released once nothing is recorded under it;
//  6. the metrics endpoint.
//
// Safe to call twice.
func (d *Daemon) Stop(ctx context.Context) error {
	d.stopOnce.Do(func() {
		var errs []error
		if d.api != nil {
			errs = append(errs, d.stopAPI(ctx))
		}
		if d.reporter != nil {
			errs = append(errs, d.reporter.Stop(ctx))
		}
		if d.energy != nil {
			errs = append(errs, d.energy.Stop(ctx))
		}
		if d.server != nil {
			errs = append(errs, d.server.Stop(ctx))
		}
		if d.validator != nil {
			errs = append(errs, d.validator.Stop(ctx))
		}
		if d.manager != nil {
			errs = append(errs, d.manager.Stop(ctx))
		}
		if d.store != nil {
			errs = append(errs, d.store.Stop(context.WithoutCancel(ctx)))
		}
		if d.lease != nil {
			errs = append(errs, d.lease.Stop(ctx))
		}
		if d.http != nil {
			errs = append(errs, d.http.Shutdown(ctx))
		}
		d.stopErr = errors.Join(errs...)
	})
	return d.stopErr
}

// liveKeys are the config keys (or key prefixes, ending in ".") that Reload
// applies to a running pool; every other change needs a restart. Among
// those is stratum.ipv6_prefix: per-address state is keyed by it (see
// stratum.Live).
var liveKeys = []string{
	"stratum.difficulty.", "stratum.max_connections", "stratum.max_connections_per_ip",
	"stratum.allow_ips", "stratum.ban_duration", "stratum.ban_min_rejects", "stratum.ban_reject_ratio",
	"stratum.ban_window", "log.level",
}

func isLive(key string) bool {
	for _, k := range liveKeys {
		if key == k || strings.HasSuffix(k, ".") && strings.HasPrefix(key, k) {
			return true
		}
	}
	return false
}

// Reload applies the parts of a new, validated config that can change while
// the pool runs: the difficulty policy, connection limits and ban rules,
// and the log level (when level is not nil). It returns the keys it applied
// and the keys that differ but only take effect after a restart. On an
// error nothing was applied.
func (d *Daemon) Reload(cfg *config.Config, level *zap.AtomicLevel) (applied, restart []string, err error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	for _, k := range config.Diff(d.cfg, cfg) {
		if isLive(k) && (k != "log.level" || level != nil) {
			applied = append(applied, k)
		} else {
			restart = append(restart, k)
		}
	}
	if len(applied) == 0 {
		return nil, restart, nil
	}
	var newLevel zapcore.Level
	if level != nil {
		if newLevel, err = zapcore.ParseLevel(cfg.Log.Level); err != nil {
			return nil, nil, fmt.Errorf("log.level: %w", err)
		}
	}
	if err := d.server.Reload(stratumLive(cfg.Stratum)); err != nil {
		return nil, nil, err
	}
	if level != nil {
		level.SetLevel(newLevel)
	}
	// Keep the running values of the keys that need a restart, so a later
	// reload still reports them.
	next := *d.cfg
	next.Stratum.Difficulty = cfg.Stratum.Difficulty
	next.Stratum.MaxConnections, next.Stratum.MaxConnectionsPerIP = cfg.Stratum.MaxConnections, cfg.Stratum.MaxConnectionsPerIP
	next.Stratum.AllowIPs, next.Stratum.BanDuration = cfg.Stratum.AllowIPs, cfg.Stratum.BanDuration
	next.Stratum.BanMinRejects, next.Stratum.BanRejectRatio, next.Stratum.BanWindow = cfg.Stratum.BanMinRejects, cfg.Stratum.BanRejectRatio, cfg.Stratum.BanWindow
	if level != nil {
		next.Log.Level = cfg.Log.Level
	}
	d.cfg = &next
	return applied, restart, nil
}

// stratumLive is the live part of the Stratum options from the config.
func stratumLive(st config.Stratum) stratum.Live {
	return stratum.Live{
		Difficulty: stratum.DifficultyOptions{
			Initial: st.Difficulty.Initial, Min: st.Difficulty.Min, Max: st.Difficulty.Max,
			TargetInterval: st.Difficulty.TargetShareSeconds, RetargetInterval: st.Difficulty.RetargetInterval,
			Variance: st.Difficulty.Variance,
		},
		MaxConnections: st.MaxConnections, MaxConnectionsPerIP: st.MaxConnectionsPerIP, AllowIPs: st.AllowIPs,
		BanDuration: st.BanDuration, BanMinRejects: st.BanMinRejects, BanRejectRatio: st.BanRejectRatio, BanWindow: st.BanWindow,
	}
}

// ledgerMetrics gives the metrics the payout ledger's summary.
type ledgerMetrics struct{ l *redisstore.Ledger }

func (m ledgerMetrics) PayoutTotals(ctx context.Context) (metrics.PayoutTotals, error) {
	s, err := m.l.Summary(ctx)
	if err != nil {
		return metrics.PayoutTotals{}, err
	}
	return metrics.PayoutTotals{Balances: s.Balances, Pending: s.Pending, Paid: s.Paid, Credited: s.Credited,
		Fee: s.Fee, Reserve: s.Reserve(), Batches: s.Batches}, nil
}
