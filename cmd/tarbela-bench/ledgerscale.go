package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/internal/ledgerscale"
	"github.com/tarbela-pool/tarbela/internal/localnet"
)

// runLedgerScale is "tarbela-bench ledger-scale": the share store on a
// real redis-server at the programme's scale on a simulated clock
// (internal/ledgerscale).
func runLedgerScale(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tarbela-bench ledger-scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tarbela-bench ledger-scale [flags]")
		fmt.Fprintln(stderr, "Drives share/redisstore on redis-server with distinct workers on a simulated clock and")
		fmt.Fprintln(stderr, "reports Redis memory over simulated time, Redis CPU, batch latency and shares/s.")
		fs.PrintDefaults()
	}
	var (
		o          ledgerscale.Options
		addr       string
		jsonOut    bool
		sets, memb int
		batch      int
	)
	fs.StringVar(&addr, "redis", "", "drive the redis-server at `host:port` (it must be empty); default: start one on a free loopback port")
	fs.IntVar(&o.Workers, "workers", 570_000, "distinct workers")
	fs.IntVar(&o.Accounts, "accounts", 200, "accounts the workers mine to")
	fs.Float64Var(&o.Rate, "rate", 57_000, "the programme's shares per second of simulated time")
	fs.Float64Var(&o.Difficulty, "difficulty", 65536, "share difficulty at that rate")
	fs.DurationVar(&o.Period, "period", 0, "simulated time between two shares of one worker (0: workers/rate, every share of the programme; longer: fewer shares, the same work)")
	fs.DurationVar(&o.Duration, "duration", 26*time.Hour, "simulated time to run")
	fs.DurationVar(&o.Sample, "sample", time.Hour, "simulated time between samples")
	fs.DurationVar(&o.BlockEvery, "block-every", 110*time.Minute, "simulated time between the pool's blocks (0: none)")
	fs.IntVar(&o.KeepRounds, "keep-rounds", 9, "frozen rounds kept awaiting payout; older ones are released")
	fs.Float64Var(&o.Pace, "pace", 0, "send at most this many shares per wall second (0: as fast as the store takes them)")
	fs.BoolVar(&o.Store.DropFrozenWorkers, "drop-frozen-workers", false, "do not keep the frozen rounds' work per worker (redisstore Options.DropFrozenWorkers)")
	fs.IntVar(&batch, "batch-size", 0, "store batch size (0: the store's default)")
	fs.IntVar(&sets, "estimate-sets", 100, "at the end, size this many sets of worker names (the energy report's open-hour distinct-worker sets, one per site)")
	fs.IntVar(&memb, "estimate-members", 5_700, "members of each estimated set")
	var startAgo time.Duration
	fs.DurationVar(&startAgo, "start-ago", 0, "start the simulated clock this long before now (0: at 2026-01-01T00:00Z); the clock must stay behind the Redis server's")
	fs.BoolVar(&jsonOut, "json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.Store.BatchSize = batch
	o.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if startAgo > 0 {
		o.Start = time.Now().Add(-startAgo).Truncate(time.Minute)
	}
	if addr == "" {
		r, err := localnet.StartRedis(ctx, localnet.RedisOptions{})
		if err != nil {
			fmt.Fprintf(stderr, "tarbela-bench ledger-scale: %v\n", err)
			return 1
		}
		defer r.Stop()
		addr = r.Addr
	}
	o.Store.Addr = addr
	c := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: time.Minute})
	defer c.Close()
	if n, err := c.DBSize(ctx).Result(); err != nil || n != 0 {
		fmt.Fprintf(stderr, "tarbela-bench ledger-scale: Redis at %s: %d keys, %v; want an empty server\n", addr, n, err)
		return 1
	}
	if !jsonOut {
		fmt.Fprintf(stdout, "%d workers, %d accounts, %.0f shares/s × difficulty %g, a share per worker every %v, %v simulated\n",
			o.Workers, o.Accounts, o.Rate, o.Difficulty, period(o), o.Duration)
		fmt.Fprintf(stdout, "%8s %9s %12s %12s %14s %12s %7s %10s %10s %10s %9s %9s %6s\n",
			"sim", "wall", "shares", "used_memory", "dataset", "rss", "keys", "shares/s", "redis cpu", "main thr", "p50", "p99", "errors")
		o.Report = func(s ledgerscale.Sample) {
			fmt.Fprintf(stdout, "%8s %9s %12d %12d %14d %12d %7d %10.0f %9.0f%% %9.0f%% %9s %9s %6d\n",
				s.Sim, s.Real.Round(time.Millisecond), s.Shares, s.UsedMemory, s.Dataset, s.RSS, s.Keys, s.SharesPerSec,
				100*s.RedisCPU.Seconds()/s.Real.Seconds(), 100*s.RedisMainCPU.Seconds()/s.Real.Seconds(),
				s.BatchP50.Round(10*time.Microsecond), s.BatchP99.Round(10*time.Microsecond), s.RedisErrors)
		}
	}
	res, err := ledgerscale.Run(ctx, c, o)
	if err != nil {
		fmt.Fprintf(stderr, "tarbela-bench ledger-scale: %v\n", err)
		return 1
	}
	var est int64
	if sets > 0 && memb > 0 {
		if est, err = ledgerscale.MeasureSets(ctx, c, "ledgerscale:estimate:", sets, memb); err != nil {
			fmt.Fprintf(stderr, "tarbela-bench ledger-scale: %v\n", err)
			return 1
		}
	}
	if jsonOut {
		out := struct {
			*ledgerscale.Result
			EstimatedSets int64 `json:"estimated_sets_bytes"`
		}{res, est}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	fmt.Fprintf(stdout, "\n%d shares (%d backlog retries), %d blocks\n", res.Shares, res.Backlogged, res.Blocks)
	fmt.Fprintf(stdout, "%-40s %6s %12s %10s %14s %12s\n", "keys", "count", "bytes", "elements", "bytes/element", "per worker")
	var total int64
	for _, f := range res.Families {
		per := 0.0
		if f.Elements > 0 {
			per = float64(f.Bytes) / float64(f.Elements)
		}
		fmt.Fprintf(stdout, "%-40s %6d %12d %10d %14.1f %12.1f\n", f.Name, f.Keys, f.Bytes, f.Elements, per,
			float64(f.Bytes)/float64(o.Workers))
		total += f.Bytes
	}
	fmt.Fprintf(stdout, "%-40s %6s %12d %10s %14s %12.1f\n", "all keys (MEMORY USAGE)", "", total, "", "", float64(total)/float64(o.Workers))
	if est > 0 {
		fmt.Fprintf(stdout, "estimate: %d sets of %d worker names: %d bytes (%.1f per member)\n", sets, memb, est,
			float64(est)/float64(sets*memb))
	}
	return 0
}

// period is the run's share period as Run will use it.
func period(o ledgerscale.Options) time.Duration {
	if o.Period > 0 {
		return o.Period
	}
	return time.Duration(float64(o.Workers) / o.Rate * float64(time.Second))
}
