package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tarbela-pool/tarbela/internal/cpuminer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tarbela-miner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o         cpuminer.Options
		bench     bool
		duration  time.Duration
		stats     time.Duration
		noRolling bool
		debug     bool
	)
	fs.StringVar(&o.URL, "o", "", "pool `URL`: stratum+tcp://host:port, host:port, or stratum+ssl://host:port (stratum+tls://) for TLS")
	fs.StringVar(&o.URL, "url", "", "same as -o")
	fs.StringVar(&o.User, "u", "", "worker `name` (e.g. address.worker)")
	fs.StringVar(&o.User, "user", "", "same as -u")
	fs.StringVar(&o.Pass, "p", "x", "worker `password`")
	fs.StringVar(&o.Pass, "pass", "x", "same as -p")
	fs.IntVar(&o.Threads, "t", 0, "mining `threads` (0: one per core)")
	fs.IntVar(&o.Threads, "threads", 0, "same as -t")
	fs.BoolVar(&bench, "benchmark", false, "mine a synthetic job without a pool and print MH/s per thread and total")
	fs.DurationVar(&duration, "duration", 0, "stop after this long (0: run until interrupted; with --benchmark 0 means 10s)")
	fs.DurationVar(&stats, "stats", 10*time.Second, "status line `interval` (0: none)")
	fs.BoolVar(&noRolling, "no-version-rolling", false, "do not ask the pool for version rolling")
	fs.Float64Var(&o.SuggestDifficulty, "suggest-diff", 0, "send mining.suggest_difficulty with this `difficulty`")
	fs.BoolVar(&debug, "debug", false, "log every job and share")
	fs.StringVar(&o.TLSCAFile, "tls-ca", "", "trust the PEM certificates in `FILE` (the pool's CA, or its self-signed certificate) instead of the system's, for stratum+ssl://")
	fs.BoolVar(&o.TLSInsecure, "tls-insecure", false, "accept any certificate from a stratum+ssl:// pool (encrypted, but the pool is not authenticated)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tarbela-miner: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if duration < 0 || stats < 0 {
		fmt.Fprintln(stderr, "tarbela-miner: --duration and --stats must not be negative")
		return 2
	}
	if bench {
		if duration == 0 {
			duration = cpuminer.DefaultBenchmarkDuration
		}
		return runBenchmark(ctx, o.Threads, duration, stdout, stderr)
	}

	o.VersionRolling = !noRolling
	o.Log = newLogger(stderr, debug)
	defer func() { _ = o.Log.Sync() }() // a failed flush at exit cannot be reported anywhere
	m, err := cpuminer.New(o)
	if err != nil {
		fmt.Fprintln(stderr, "tarbela-miner:", err)
		return 2
	}
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	if err := m.RunWithStatus(ctx, stats, stdout); err != nil {
		fmt.Fprintln(stderr, "tarbela-miner:", err)
		return 1
	}
	return 0
}

// runBenchmark runs --benchmark and prints its result.
func runBenchmark(ctx context.Context, threads int, d time.Duration, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, "benchmarking for %s...\n", d)
	res, err := cpuminer.Benchmark(ctx, threads, d)
	if err != nil {
		fmt.Fprintln(stderr, "tarbela-miner:", err)
		return 2
	}
	_ = res.WriteText(stdout) // like the status lines: nowhere to report a failed write
	return 0
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
	return zap.New(core).Named("miner")
}
