package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/daemon"
	"github.com/tarbela-pool/tarbela/internal/devnet"
	"github.com/tarbela-pool/tarbela/internal/energy"
	"github.com/tarbela-pool/tarbela/internal/payoutjob"
	"github.com/tarbela-pool/tarbela/share"
)

func cmdRun(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "tarbela.toml", "config file (see config/tarbela.sample.toml)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	log, level, err := daemon.NewLogger(cfg.Log)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer log.Sync()
	// The Redis client's own lines (a Sentinel's new primary, a failed
	// dial during a failover) join the node's JSON logs.
	redis.SetLogger(redisLog{log.Named("redis")})
	// Every miner is a socket: the Go runtime has already raised the soft
	// open-files limit to the hard limit at start-up (Linux).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := daemon.Start(ctx, cfg, log)
	if err != nil {
		log.Error("start failed", zap.Error(err))
		return 1
	}
	d.SetConfigFile(*path, &level)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	code := 0
	for running := true; running; {
		select {
		case <-ctx.Done():
			running = false
		case <-d.LeaseLost():
			log.Error("another node took this node's pool.node_id; stopping")
			running, code = false, 1
		case <-hup:
			// A bad file changes nothing; ReloadFile logs what it
			// applied.
			if _, _, err := d.ReloadFile(); err != nil {
				log.Warn("reload on SIGHUP", zap.Error(err))
			}
		}
	}
	log.Info("stopping: sending client.reconnect to miners and flushing shares")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Stratum.ShutdownTimeout)
	defer cancel()
	if err := d.Stop(sctx); err != nil {
		log.Warn("stop", zap.Error(err))
		return 1
	}
	return code
}

func cmdDevnet(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("devnet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o devnet.Options
	fs.StringVar(&o.Dir, "dir", "devnet", "directory for node and Redis data, the journal and devnet.json")
	fs.IntVar(&o.Miners, "miners", 2, "number of built-in CPU miners, alternately at the energy sites north and south (0: mine with outside miners)")
	fs.IntVar(&o.Threads, "threads", 1, "threads per built-in miner")
	fs.StringVar(&o.Stratum, "stratum", "127.0.0.1:3333", "Stratum listen address")
	fs.StringVar(&o.API, "api", "127.0.0.1:0", "HTTP API and dashboard listen address (port 0: a free one)")
	fs.StringVar(&o.Mode, "mode", "pool", `payout mode: "pool" or "solo"`)
	fs.Float64Var(&o.Difficulty, "difficulty", 0.01, "starting share difficulty")
	fs.DurationVar(&o.StatusEvery, "status", 5*time.Second, "status line interval")
	verbose := fs.Bool("v", false, "show the pool's logs")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := zap.NewNop()
	if *verbose {
		log, _, _ = daemon.NewLogger(config.Log{Level: "info", Format: "console"})
	}
	// The Redis client's own lines (a failed dial every few hundred
	// milliseconds while redis-server restarts) would crowd out the
	// devnet's one line about it; they join the pool's logs instead.
	redis.SetLogger(redisLog{log.Named("redis")})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o.Log, o.Out = log, stdout
	if err := devnet.Run(ctx, o); err != nil {
		fmt.Fprintln(stderr, "devnet:", err)
		return 1
	}
	return 0
}

// redisLog passes the Redis client's log lines to zap.
type redisLog struct{ log *zap.Logger }

func (r redisLog) Printf(_ context.Context, format string, v ...any) {
	r.log.Warn(strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func cmdConfigCheck(path string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if cfg.API.Listen != "" {
		if _, err := daemon.APIToken(cfg.API, os.Getenv); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
	}
	tlsCfg, err := daemon.TLSConfig(cfg.Stratum)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if w := daemon.TLSCertificateWarning(tlsCfg, time.Now()); w != "" {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if cfg.Energy.KeyFile != "" {
		if _, err := energy.LoadKey(cfg.Energy.KeyFile); err != nil {
			fmt.Fprintf(stderr, "energy.key_file: %v\n", err)
			return 1
		}
	}
	if cfg.Payout.Mode == config.PayoutHot && (cfg.Payout.KeyFile != "" || os.Getenv(config.EnvPayoutKey) != "") {
		if _, err := payoutjob.Key(cfg, os.Getenv); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintln(stdout, "OK (the payout key is payout_address's)")
		return 0
	}
	fmt.Fprintln(stdout, "OK")
	return 0
}

func cmdShareVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("share verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	notify := fs.String("notify", "", "mining.notify params as JSON: [job_id, prevhash, coinb1, coinb2, [branch], version, nbits, ntime, clean]")
	en1 := fs.String("extranonce1", "", "the connection's extranonce1 (hex)")
	submit := fs.String("submit", "", "mining.submit params as JSON: [worker, job_id, extranonce2, ntime, nonce(, version_bits)]")
	mask := fs.String("mask", "", "negotiated version-rolling mask (hex, e.g. 1fffe000); none when empty")
	diff := fs.Float64("difficulty", 0, "share difficulty to judge against; adds accepted and reason to the output")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *notify == "" || *en1 == "" || *submit == "" {
		fmt.Fprintln(stderr, "share verify: -notify, -extranonce1 and -submit are required")
		return 2
	}
	e1, err := hex.DecodeString(*en1)
	if err != nil {
		fmt.Fprintln(stderr, "share verify: -extranonce1: not hex")
		return 2
	}
	var m uint64
	if *mask != "" {
		if m, err = strconv.ParseUint(*mask, 16, 32); err != nil {
			fmt.Fprintln(stderr, "share verify: -mask: want up to 8 hex digits")
			return 2
		}
	}
	in, err := share.Inspect([]byte(*notify), e1, []byte(*submit), uint32(m), *diff, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "share verify:", err)
		return 1
	}
	out, _ := json.MarshalIndent(in, "", "  ")
	fmt.Fprintln(stdout, string(out))
	return 0
}
