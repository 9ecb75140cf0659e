// Command tarbela-bench is a Stratum v1 load tool for any pool. It simulates
// many miners from many loopback source addresses, each submitting real
// shares at a set rate, and reports accepted and rejected shares per second,
// submit latency percentiles, the fan-out of new-block notifies and the
// pool's memory per miner. --json prints a machine-readable report;
// --combine merges the reports of several processes (one process holds at
// most about 20,000 connections here). "tarbela-bench pool" runs a Tarbela
// Stratum server in process on a synthetic job that never yields a block,
// for share-rate figures without a node; with --redis it records every share
// in Redis (share/redisstore) and acknowledges it only once recorded, and
// --cpuprofile profiles it; with --bare it runs the fan-out floor instead
// (loadgen.Bare: one write system call per miner per new block and nothing
// else), so the same tool can show how much of a fan-out figure is the
// machine. With --api it also serves Tarbela's HTTP API (the daemon's
// public routes, behind the same cache) over the Redis it records into;
// "tarbela-bench apipoll" requests every public route of an API at a fixed
// rate and reports each route's answers, errors and latency, so that what
// the API costs the share path can be measured (scripts/load/api.sh). The
// logic lives in package loadgen (internal/loadgen).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tarbela-pool/tarbela/api"
	"github.com/tarbela-pool/tarbela/internal/daemon"
	"github.com/tarbela-pool/tarbela/internal/loadgen"
	"github.com/tarbela-pool/tarbela/share/redisstore"
	"github.com/tarbela-pool/tarbela/stratum"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "pool" {
		return runPool(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "apipoll" {
		return runAPIPoll(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "ledger-scale" {
		return runLedgerScale(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("tarbela-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tarbela-bench --pool HOST:PORT [flags]   load a pool")
		fmt.Fprintln(stderr, "       tarbela-bench --combine FILE...           merge --json reports")
		fmt.Fprintln(stderr, "       tarbela-bench pool [flags]                run an in-process pool on a synthetic job")
		fmt.Fprintln(stderr, "       tarbela-bench pool --bare [flags]         run the fan-out floor to compare a pool with")
		fmt.Fprintln(stderr, "       tarbela-bench apipoll --url URL [flags]   poll every public route of Tarbela's HTTP API")
		fmt.Fprintln(stderr, "       tarbela-bench ledger-scale [flags]        the share store at 570,000 workers on a simulated clock")
		fs.PrintDefaults()
	}
	var (
		o          loadgen.Options
		devnet     string
		sourceBase string
		jsonOut    bool
		combine    bool
		noRolling  bool
		verbose    bool
	)
	fs.StringVar(&o.Pool, "pool", "", "pool `address` (host:port or stratum+tcp://host:port)")
	fs.StringVar(&devnet, "devnet", "", "devnet `dir`: take the pool, node RPC and payout address from DIR/devnet.json")
	fs.BoolVar(&o.AllowRemote, "allow-remote", false, "allow a pool address outside 127.0.0.0/8")
	fs.DurationVar(&o.Duration, "duration", loadgen.DefaultDuration, "run length from the first dial to the stop")
	fs.DurationVar(&o.Drain, "drain", loadgen.DefaultDrain, "how long to wait for replies after the stop")
	fs.IntVar(&o.Miners, "miners", loadgen.DefaultMiners, "number of simulated miners")
	fs.IntVar(&o.FirstIndex, "first-index", 0, "index of the first miner ({i} in --user), to keep several processes' names apart")
	fs.Float64Var(&o.Rate, "rate", loadgen.DefaultRate, "shares per second per miner (negative: none, only connect)")
	fs.Float64Var(&o.Ramp, "ramp", 0, "new connections per second (0: as fast as possible)")
	fs.IntVar(&o.Sources, "sources", loadgen.DefaultSources, "number of loopback source addresses (0: the kernel's choice)")
	fs.StringVar(&sourceBase, "source-base", "127.0.0.2", "first source `address`")
	fs.StringVar(&o.User, "user", loadgen.DefaultUser, "username `template`: {i} is the miner index, {addr} the devnet payout address")
	fs.StringVar(&o.Pass, "pass", loadgen.DefaultPass, "password (e.g. d=1e-12 for a fixed difficulty on Tarbela)")
	fs.BoolVar(&noRolling, "no-version-rolling", false, "do not send mining.configure version-rolling")
	fs.Float64Var(&o.SuggestDifficulty, "suggest-diff", 0, "send mining.suggest_difficulty with this `difficulty`")
	fs.Uint64Var(&o.MaxHashes, "max-hashes", loadgen.DefaultMaxHashes, "nonce search cap per share; a share needing more is skipped")
	fs.IntVar(&o.Workers, "workers", 0, "share-building goroutines (0: GOMAXPROCS)")
	fs.DurationVar(&o.IOTimeout, "io-timeout", loadgen.DefaultIOTimeout, "bound on each handshake reply and write")
	fs.StringVar(&o.RPC.URL, "rpc-url", "", "node JSON-RPC `URL` (btcd regtest): generate blocks to time notify fan-out")
	fs.StringVar(&o.RPC.User, "rpc-user", "", "node RPC user")
	fs.StringVar(&o.RPC.Pass, "rpc-pass", "", "node RPC password")
	fs.DurationVar(&o.BlockEvery, "block-every", 0, "interval between generated blocks (default 5s with --rpc-url)")
	fs.IntVar(&o.PoolPID, "pool-pid", 0, "pool process `pid`: report its RSS per connected miner")
	fs.DurationVar(&o.Progress, "progress", 5*time.Second, "progress line interval on stderr (0: none)")
	fs.BoolVar(&jsonOut, "json", false, "print the report as JSON")
	fs.BoolVar(&combine, "combine", false, "merge the JSON reports named as arguments and print the result")
	fs.BoolVar(&verbose, "v", false, "log every disconnect")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if combine {
		return runCombine(fs.Args(), jsonOut, stdout, stderr)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tarbela-bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	a, err := netip.ParseAddr(sourceBase)
	if err != nil {
		fmt.Fprintf(stderr, "tarbela-bench: --source-base: %v\n", err)
		return 2
	}
	o.SourceBase = a
	o.VersionRolling = !noRolling
	if o.Rate == 0 {
		o.Rate = -1 // an explicit 0 means no shares, not the default
	}
	if devnet != "" {
		if err := o.ApplyDevnet(devnet); err != nil {
			fmt.Fprintln(stderr, "tarbela-bench: --devnet:", err)
			return 2
		}
	}
	if strings.Contains(o.User, "{addr}") {
		fmt.Fprintln(stderr, "tarbela-bench: --user has {addr} but no --devnet gave an address")
		return 2
	}
	o.Log = newLogger(stderr, verbose)
	defer func() { _ = o.Log.Sync() }() // a failed flush at exit cannot be reported anywhere
	rep, err := loadgen.Run(ctx, o)
	if rep == nil {
		fmt.Fprintln(stderr, "tarbela-bench:", err)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "tarbela-bench: stopped early:", err)
	}
	if err := printReport(rep, jsonOut, stdout); err != nil {
		fmt.Fprintln(stderr, "tarbela-bench:", err)
		return 1
	}
	return 0
}

// runCombine merges JSON reports.
func runCombine(files []string, jsonOut bool, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprintln(stderr, "tarbela-bench: --combine needs report files")
		return 2
	}
	m, err := loadgen.MergeFiles(files...)
	if err != nil {
		fmt.Fprintln(stderr, "tarbela-bench:", err)
		return 1
	}
	if err := printReport(m, jsonOut, stdout); err != nil {
		fmt.Fprintln(stderr, "tarbela-bench:", err)
		return 1
	}
	return 0
}

// printReport prints r as --json asks.
func printReport(r *loadgen.Report, jsonOut bool, w io.Writer) error {
	if jsonOut {
		return r.WriteJSON(w)
	}
	return r.WriteText(w)
}

// runPool runs the in-process pool until interrupted or --duration.
func runPool(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tarbela-bench pool", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var so loadgen.ServeOptions
	var redisAddr, cpuProfile, apiListen string
	var redisNode uint
	var apiCache time.Duration
	fs.StringVar(&so.Pool.Listen, "listen", "127.0.0.1:3334", "Stratum listen address")
	fs.Float64Var(&so.Pool.Difficulty, "difficulty", 1e-12, "fixed share difficulty")
	fs.DurationVar(&so.Pool.NewBlockEvery, "new-block-every", 0, "publish a job on a new prevhash at this interval (0: never)")
	fs.IntVar(&so.Pool.MaxConnections, "max-connections", 0, "connection cap (0: the server's default)")
	fs.DurationVar(&so.Duration, "duration", 0, "stop after this long (0: run until interrupted)")
	fs.DurationVar(&so.Status, "status", 5*time.Second, "status line interval (0: none)")
	fs.StringVar(&redisAddr, "redis", "", "record shares in Redis at `host:port` (share/redisstore, no journal); a share is acknowledged once its batch is in Redis")
	fs.UintVar(&redisNode, "redis-node", 1, "node id of the Redis store (0..255)")
	var redisWait int
	fs.IntVar(&redisWait, "redis-wait", 0, "replicas each batch waits for (Redis WAIT) before its shares are acknowledged: -1 one when the primary has any, 0 none")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to `file`")
	fs.StringVar(&apiListen, "api", "", "serve Tarbela's HTTP API (public routes; admin refused) on `host:port` over the Redis of --redis, regtest addresses")
	fs.DurationVar(&apiCache, "api-cache", api.DefaultCacheTTL, "serve --api's answers from a cache (api.NewCache) this long, as tarbela run does (0: no cache)")
	fs.BoolVar(&so.Bare, "bare", false, "run the fan-out floor instead of Tarbela: canned handshake replies, shares unchecked, one write system call per miner per new block (see loadgen.Bare)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tarbela-bench pool: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if redisNode > 255 {
		fmt.Fprintf(stderr, "tarbela-bench pool: --redis-node %d is above 255\n", redisNode)
		return 2
	}
	if so.Bare && redisAddr != "" {
		fmt.Fprintln(stderr, "tarbela-bench pool: --bare records nothing; drop --redis")
		return 2
	}
	if apiCache < 0 {
		fmt.Fprintf(stderr, "tarbela-bench pool: --api-cache %v is negative (0 serves without a cache)\n", apiCache)
		return 2
	}
	if apiListen != "" && redisAddr == "" {
		fmt.Fprintln(stderr, "tarbela-bench pool: --api reads what the pool records: add --redis")
		return 2
	}
	so.Pool.Log = newLogger(stderr, false).Named("pool")
	if redisAddr != "" {
		s, err := startStore(ctx, redisstore.Options{Addr: redisAddr, Node: uint8(redisNode), WaitReplicas: redisWait, Log: so.Pool.Log.Named("store")})
		if err != nil {
			fmt.Fprintln(stderr, "tarbela-bench pool:", err)
			return 1
		}
		so.Store = s
		if apiListen != "" {
			rdb, err := redisstore.NewClient(redisstore.Connection{Addr: redisAddr})
			if err != nil {
				fmt.Fprintln(stderr, "tarbela-bench pool:", err)
				return 1
			}
			defer rdb.Close()
			so.API = apiOptions(apiListen, apiCache, s.Reader.WithClient(rdb), redisstore.NewLedger(rdb, ""), so.Pool.Log.Named("api"))
		}
	}
	if cpuProfile != "" {
		stopProfile, err := startCPUProfile(cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "tarbela-bench pool:", err)
			if so.Store != nil {
				if err := so.Store.Stop(context.Background()); err != nil {
					fmt.Fprintln(stderr, "tarbela-bench pool: closing the Redis store:", err)
				}
			}
			return 1
		}
		defer stopProfile()
	}
	so.Out = stdout
	if err := loadgen.Serve(ctx, so); err != nil {
		fmt.Fprintln(stderr, "tarbela-bench pool:", err)
		return 1
	}
	return 0
}

// apiOptions serves the daemon's API source over the store's Redis (read
// through a client of the API's own, as the daemon does), with the pool's
// Stratum server for the live worker figures and no node, behind a cache
// of ttl (none when 0).
func apiOptions(listen string, ttl time.Duration, reader *redisstore.Reader, ledger *redisstore.Ledger, log *zap.Logger) loadgen.APIOptions {
	return loadgen.APIOptions{Listen: listen, Log: log, Pool: func(srv *stratum.Server) api.Pool {
		p := daemon.NewAPIPool(daemon.APIPoolOptions{Reader: reader, Ledger: ledger, Server: srv})
		if ttl > 0 {
			p = api.NewCache(p, api.CacheOptions{TTL: ttl})
		}
		return p
	}}
}

// runAPIPoll polls the API and prints the report.
func runAPIPoll(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tarbela-bench apipoll", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o loadgen.PollOptions
	var jsonOut bool
	fs.StringVar(&o.URL, "url", "", "the API's base `URL` (http://host:port/)")
	fs.BoolVar(&o.AllowRemote, "allow-remote", false, "allow a host outside 127.0.0.0/8")
	fs.Func("account", "an account `address` for the account routes (repeat for several, asked in turn)", func(v string) error {
		o.Accounts = append(o.Accounts, v)
		return nil
	})
	fs.StringVar(&o.Rig, "rig", "0", "the worker routes ask for `<address>.RIG`")
	fs.Float64Var(&o.Rate, "rate", loadgen.DefaultPollRate, "requests per second to each route")
	fs.DurationVar(&o.Duration, "duration", loadgen.DefaultDuration, "how long to send requests")
	fs.DurationVar(&o.Timeout, "timeout", loadgen.DefaultPollTimeout, "bound on one request")
	fs.IntVar(&o.MaxInFlight, "max-in-flight", loadgen.DefaultPollMaxInFlight, "requests awaiting an answer per route before one due is skipped")
	fs.BoolVar(&jsonOut, "json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tarbela-bench apipoll: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if o.URL == "" {
		fmt.Fprintln(stderr, "tarbela-bench apipoll: --url is required")
		return 2
	}
	rep, err := loadgen.Poll(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "tarbela-bench apipoll:", err)
		return 2
	}
	if jsonOut {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "tarbela-bench apipoll:", err)
		return 1
	}
	if n := rep.ErrorCount(); n > 0 {
		fmt.Fprintf(stderr, "tarbela-bench apipoll: %d requests failed or were skipped\n", n)
		return 1
	}
	return 0
}

// startStore starts a Redis share store and checks that Redis answers, so
// a wrong address fails at once rather than as a growing backlog.
func startStore(ctx context.Context, o redisstore.Options) (*redisstore.Store, error) {
	addr := o.Addr
	s, err := redisstore.New(o)
	if err != nil {
		return nil, fmt.Errorf("--redis: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Client().Ping(pctx).Err(); err != nil {
		_ = s.Client().Close() // the store never started; only its client is open
		return nil, fmt.Errorf("--redis %s: ping: %w", addr, err)
	}
	if err := s.Start(ctx); err != nil {
		_ = s.Client().Close()
		return nil, fmt.Errorf("--redis %s: %w", addr, err)
	}
	return s, nil
}

// startCPUProfile starts a CPU profile into path; the returned function
// stops it and closes the file.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "tarbela-bench pool: --cpuprofile:", err)
		}
	}, nil
}

// newLogger logs to w in console format at info level (debug with debug).
func newLogger(w io.Writer, debug bool) *zap.Logger {
	level := zapcore.InfoLevel
	if debug {
		level = zapcore.DebugLevel
	}
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeLevel = zapcore.CapitalLevelEncoder
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core).Named("bench")
}
