package daemon

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/energy"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// energyCloser closes energy hours on this node while it runs
// (energy.key_file set). Several nodes may each run one: sealing is a
// compare-and-set on the chain's head. An hour closes only while this
// node's store has no backlog, so its own queued and journaled shares land
// in the hour first.
type energyCloser struct {
	c      *energy.Closer
	every  time.Duration
	cancel context.CancelFunc
	done   chan struct{}
}

func newEnergyCloser(cfg *config.Config, store *redisstore.Store, log *zap.Logger) (*energyCloser, error) {
	if cfg.Energy.KeyFile == "" {
		return nil, nil
	}
	key, err := energy.LoadKey(cfg.Energy.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("energy.key_file: %w", err)
	}
	c := &energy.Closer{
		Ledger: redisstore.NewEnergyLedger(store.Client(), cfg.Redis.Prefix),
		Sites:  energy.FromConfig(cfg.Sites), Key: key, Grace: cfg.Energy.Grace, Bucket: cfg.Energy.Bucket, Log: log,
		Ready: func() bool { q, j := store.Backlog(); return q == 0 && j == 0 },
	}
	every := cfg.Energy.CloseInterval
	if every <= 0 {
		every = time.Minute
	}
	return &energyCloser{c: c, every: every}, nil
}

// Start runs the closer until Stop.
func (e *energyCloser) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	go func() {
		defer close(e.done)
		e.c.Run(ctx, e.every)
	}()
}

// Stop ends the closer and waits for it (or ctx).
func (e *energyCloser) Stop(ctx context.Context) error {
	if e == nil || e.cancel == nil {
		return nil
	}
	e.cancel()
	select {
	case <-e.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
