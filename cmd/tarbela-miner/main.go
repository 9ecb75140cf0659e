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

// benchmarkDefault is how long --benchmark runs when --duration is not set.
const benchmarkDefault = 10 * time.Second

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
	fs.StringVar(&o.URL, "o", "", "pool `URL`: stratum+tcp://host:port or host:port")
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
			duration = benchmarkDefault
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
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var tick <-chan time.Time
	if stats > 0 {
		t := time.NewTicker(stats)
		defer t.Stop()
		tick = t.C
	}
	start, last, lastAt := time.Now(), m.Stats(), time.Now()
	for {
		select {
		case <-tick:
			s, now := m.Stats(), time.Now()
			fmt.Fprintln(stdout, statusLine(s, rate(s.Hashes-last.Hashes, now.Sub(lastAt))))
			last, lastAt = s, now
		case err := <-done:
			s := m.Stats()
			fmt.Fprintln(stdout, "total:", statusLine(s, rate(s.Hashes, time.Since(start))))
			if err != nil {
				fmt.Fprintln(stderr, "tarbela-miner:", err)
				return 1
			}
			return 0
		}
	}
}

// runBenchmark runs --benchmark and prints its result.
func runBenchmark(ctx context.Context, threads int, d time.Duration, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, "benchmarking for %s...\n", d)
	res, err := cpuminer.Benchmark(ctx, threads, d)
	if err != nil {
		fmt.Fprintln(stderr, "tarbela-miner:", err)
		return 2
	}
	for i, r := range res.PerThread {
		fmt.Fprintf(stdout, "thread %d: %.3f MH/s\n", i, r/1e6)
	}
	fmt.Fprintf(stdout, "total: %.3f MH/s (threads=%d, %.1fs)\n", res.Total/1e6, len(res.PerThread), res.Elapsed.Seconds())
	return 0
}

// statusLine formats the counters and a hash rate in H/s.
func statusLine(s cpuminer.Stats, hps float64) string {
	conn := "up"
	if !s.Connected {
		conn = "down"
	}
	return fmt.Sprintf("accepted=%d rejected=%d stale=%d diff=%g hashrate=%.3f MH/s jobs=%d pool=%s",
		s.Accepted, s.Rejected, s.Stale, s.Difficulty, hps/1e6, s.Jobs, conn)
}

// rate is hashes per second over d.
func rate(hashes uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(hashes) / d.Seconds()
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
