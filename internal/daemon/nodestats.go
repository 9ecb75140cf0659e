package daemon

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// Node stats in Redis: every nodeStatsEvery the node writes its own
// counters (shares accepted, rejected by reason, connections) for
// nodeStatsTTL, so every node's API can answer for the whole pool.
const (
	nodeStatsEvery = 10 * time.Second
	nodeStatsTTL   = 60 * time.Second
)

// nodeReporter writes the node's counters to Redis on a ticker. It owns
// one goroutine, from Start to Stop.
type nodeReporter struct {
	reader *redisstore.Reader
	node   uint8
	every  time.Duration
	stats  func() redisstore.NodeStats
	log    *zap.Logger

	started  atomic.Bool
	quit     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func newNodeReporter(reader *redisstore.Reader, node uint8, stats func() redisstore.NodeStats, log *zap.Logger) *nodeReporter {
	return &nodeReporter{reader: reader, node: node, every: nodeStatsEvery, stats: stats, log: log,
		quit: make(chan struct{}), done: make(chan struct{})}
}

// Start writes the counters at once and then every r.every, in the
// background. It may be called once.
func (r *nodeReporter) Start() {
	if r.started.CompareAndSwap(false, true) {
		go r.run()
	}
}

func (r *nodeReporter) run() {
	defer close(r.done)
	t := time.NewTicker(r.every)
	defer t.Stop()
	failing := false
	for {
		ctx, cancel := context.WithTimeout(context.Background(), r.every)
		st := r.stats()
		st.Node, st.Updated = r.node, time.Now()
		err := r.reader.SetNodeStats(ctx, st, nodeStatsTTL)
		cancel()
		switch {
		case err != nil && !failing:
			r.log.Warn("writing the node's stats to Redis failed; retrying every interval", zap.Error(err), zap.Duration("every", r.every))
			failing = true
		case err == nil && failing:
			r.log.Info("writing the node's stats to Redis again")
			failing = false
		}
		select {
		case <-r.quit:
			return
		case <-t.C:
		}
	}
}

// Stop ends the goroutine and removes the node's counters from Redis, so
// the other nodes stop counting it at once. Safe to call twice, and when
// Start was not called.
func (r *nodeReporter) Stop(ctx context.Context) error {
	var err error
	r.stopOnce.Do(func() {
		close(r.quit)
		if !r.started.Load() {
			return
		}
		select {
		case <-r.done:
		case <-ctx.Done():
			err = ctx.Err()
			return
		}
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if derr := r.reader.DeleteNodeStats(dctx, r.node); derr != nil && !errors.Is(derr, context.Canceled) {
			// They expire by themselves within nodeStatsTTL.
			r.log.Info("removing the node's stats from Redis", zap.Error(derr))
		}
	})
	return err
}
