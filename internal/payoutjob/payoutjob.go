// Package payoutjob wires the payout job from the one typed config: the
// Redis ledger, the node client and the payout key, for `tarbela payout`.
// It holds no payout logic (that is package payout).
package payoutjob

import (
	"context"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/redisconn"
	"github.com/tarbela-pool/tarbela/payout"
	"github.com/tarbela-pool/tarbela/payout/wallet"
	"github.com/tarbela-pool/tarbela/pool"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// EnvCrash names a step of the run (payout.Step*) at which the process
// kills itself with SIGKILL: the crash tests use it to stop a real run at
// each step. It is ignored when empty.
const EnvCrash = "TARBELA_PAYOUT_CRASH"

// Job is the payout job's connections.
type Job struct {
	cfg    *config.Config
	rdb    redis.UniversalClient
	rpc    *pool.RPCClient
	Ledger *redisstore.Ledger
	Reader *redisstore.Reader
	Chain  *payout.Chain
}

// Open connects to the config's Redis and first node. Nothing is sent
// until a call needs it.
func Open(cfg *config.Config) (*Job, error) {
	if len(cfg.Nodes) == 0 {
		return nil, fmt.Errorf("payout: no [[nodes]] in the config")
	}
	n := cfg.Nodes[0]
	var (
		rpc *pool.RPCClient
		err error
	)
	if n.RPCCookieFile != "" {
		rpc, err = pool.NewCookieRPCClient(n.Name, n.RPCURL, n.RPCCookieFile, time.Minute)
	} else {
		rpc, err = pool.NewRPCClient(n.Name, n.RPCURL, n.RPCUser, string(n.RPCPassword), time.Minute)
	}
	if err != nil {
		return nil, fmt.Errorf("payout: nodes[0]: %w", err)
	}
	rdb, err := redisconn.NewClient(cfg.Redis)
	if err != nil {
		return nil, fmt.Errorf("payout: redis: %w", err)
	}
	return &Job{cfg: cfg, rdb: rdb, rpc: rpc,
		Ledger: redisstore.NewLedger(rdb, cfg.Redis.Prefix),
		Reader: redisstore.NewReader(rdb, cfg.Redis.Prefix, 0),
		Chain:  payout.NewChain(rpc)}, nil
}

// Close releases the connections.
func (j *Job) Close() {
	_ = j.rdb.Close()
	j.rpc.Close()
}

// Key loads the payout key (key_file, or $TARBELA_PAYOUT_KEY) and checks
// that it is payout_address's.
func Key(cfg *config.Config, env func(string) string) (*wallet.Key, error) {
	k, err := wallet.LoadKey(cfg.Payout.KeyFile, env, cfg.ChainParams())
	if err != nil {
		return nil, err
	}
	if !k.Matches(cfg.Pool.PayoutAddress) {
		return nil, fmt.Errorf("payout.key_file: the key is %s's, not pool.payout_address %s: the job could not spend the coinbases",
			k.Address(), cfg.Pool.PayoutAddress)
	}
	return k, nil
}

// Options is the run's options from the config. The key is loaded in hot
// mode, except for a dry run, which signs nothing.
func (j *Job) Options(dry bool, out io.Writer, log *zap.Logger) (payout.Options, error) {
	c := j.cfg
	o := payout.Options{
		Ledger: j.Ledger, Reader: j.Reader, Chain: j.Chain, Params: c.ChainParams(),
		PayoutAddress: c.Pool.PayoutAddress, SoloMode: c.Pool.Mode == config.ModeSolo,
		Scheme: c.Payout.Scheme, FeePercent: c.Pool.PoolFeePercent, MinPayout: c.Payout.MinPayout,
		Maturity: c.Payout.Maturity, MaxOutputs: c.Payout.MaxOutputs,
		FeeRateMin: c.Payout.FeeRateMin, FeeRateMax: c.Payout.FeeRateMax, ConfTarget: c.Payout.ConfTarget,
		Cold: c.Payout.Mode == config.PayoutCold, PSBTDir: c.Payout.PSBTDir, LockTTL: c.Payout.LockTTL,
		DryRun: dry, Out: out, Log: log, Crash: crashAt(os.Getenv(EnvCrash)),
	}
	if !o.Cold && !dry {
		k, err := Key(c, os.Getenv)
		if err != nil {
			return o, err
		}
		o.Key = k
	}
	return o, nil
}

// crashAt returns the Crash hook that kills the process at step.
func crashAt(step string) func(string) {
	if step == "" {
		return nil
	}
	return func(s string) {
		if s == step {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
}

// Run does one pass of the payout job.
func (j *Job) Run(ctx context.Context, dry bool, out io.Writer, log *zap.Logger) (*payout.Report, error) {
	o, err := j.Options(dry, out, log)
	if err != nil {
		return nil, err
	}
	return payout.Run(ctx, o)
}
