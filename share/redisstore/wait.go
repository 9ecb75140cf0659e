package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// ErrNotReplicated means a batch reached the primary but not WaitReplicas
// replicas within WaitTimeout. The writer then journals the batch before
// acknowledging its shares, and the replayer keeps it in the journal: the
// primary may die before a replica has it, and a promoted replica would
// not know it. Replaying a batch the new primary does have is harmless:
// the batch script refuses a (stream, seq) it has applied.
var ErrNotReplicated = errors.New("redisstore: batch not on enough replicas")

// replicaRefresh is how often WaitAuto reads the primary's replica count.
const replicaRefresh = time.Second

// replicaCount caches the primary's connected replicas for WaitAuto. The
// writer and the replayer both read it.
type replicaCount struct {
	mu      sync.Mutex
	n       int
	checked time.Time
	// short says the last WAIT fell short, so that the log says when it
	// starts and when it ends rather than once per batch.
	short bool
}

// forget makes the next waitReplicas ask the primary again (after an
// error: the primary may have changed).
func (r *replicaCount) forget() {
	r.mu.Lock()
	r.checked = time.Time{}
	r.mu.Unlock()
}

// roundTrip bounds one batch's call: Timeout, plus WaitTimeout when
// batches may wait for replicas.
func (s *Store) roundTrip() time.Duration {
	if s.o.WaitReplicas == 0 {
		return s.o.Timeout
	}
	return s.o.Timeout + s.o.WaitTimeout
}

// waitReplicas is how many replicas the next batch waits for on node.
func (s *Store) waitReplicas(ctx context.Context, node *redis.Client) int {
	if s.o.WaitReplicas >= 0 {
		return s.o.WaitReplicas
	}
	r := &s.replicas
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.checked.IsZero() && time.Since(r.checked) < replicaRefresh {
		return min(r.n, 1)
	}
	info, err := node.Info(ctx, "replication").Result()
	if err != nil {
		// Keep the last figure; the write that follows meets the same
		// outage and reports it.
		return min(r.n, 1)
	}
	n := onlineReplicas(info)
	if n != r.n {
		s.log.Info("redis primary's online replicas changed; acknowledgements wait for one replica while there is any",
			zap.Int("replicas", n), zap.Int("was", r.n))
	}
	r.n, r.checked = n, time.Now()
	return min(n, 1)
}

// onlineReplicas counts the replicas INFO replication lists as online
// (slaveN:...,state=online,...): a replica still loading its first copy
// (wait_bgsave, send_bulk) acknowledges nothing yet. 0 for a replica's
// reply, or one it cannot read.
func onlineReplicas(info string) int {
	n := 0
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && strings.HasPrefix(k, "slave") && strings.Contains(","+v+",", ",state=online,") {
			n++
		}
	}
	return n
}

// apply runs the batch script for b (keys ks, arguments args) and, when
// replicas are waited for, WAIT on the same connection right after it, and
// returns the script's reply. A WAIT that falls short returns an error
// wrapping ErrNotReplicated; the batch is then on the primary but must be
// kept (journaled) until a replay confirms it.
func (s *Store) apply(ctx context.Context, b *batch, ks []string, args []any) (any, error) {
	node, err := primaryFor(ctx, s.rdb, ks[0])
	if err != nil {
		return nil, err
	}
	want := s.waitReplicas(ctx, node)
	if want == 0 {
		v, err := applyScript.EvalSha(ctx, node, ks, args...).Result()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			// Redis restarted or flushed its scripts; EVAL loads it again.
			v, err = applyScript.Eval(ctx, node, ks, args...).Result()
		}
		if err != nil {
			s.replicas.forget()
		}
		return v, err
	}
	v, acked, err := s.applyAndWait(ctx, node, ks, args, want, false)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		v, acked, err = s.applyAndWait(ctx, node, ks, args, want, true)
	}
	if err != nil {
		s.replicas.forget()
		return nil, err
	}
	if applied, ok := v.(int64); ok && applied == 0 {
		// The script found the batch applied before and wrote nothing,
		// so this connection's WAIT covered none of that earlier write
		// (it may have come from another connection, or before a
		// reconnect), however many replicas it counted.
		// A write on this connection now (renewing the stream mark's TTL,
		// which the script sets anyway) makes WAIT cover everything the
		// primary holds, that earlier batch included.
		acked, err = s.touchAndWait(ctx, node, ks[0], want)
		if err != nil {
			s.replicas.forget()
			return nil, err
		}
	}
	r := &s.replicas
	r.mu.Lock()
	wasShort := r.short
	r.short = acked < int64(want)
	r.mu.Unlock()
	if acked < int64(want) {
		if !wasShort {
			s.log.Warn("batches are not reaching the replicas in time; their shares are journaled before they are acknowledged",
				zap.Int("want", want), zap.Int64("replicas", acked), zap.Duration("wait_timeout", s.o.WaitTimeout))
		}
		s.replicas.forget()
		return nil, fmt.Errorf("%w: batch %s/%d on %d of %d replicas after %v", ErrNotReplicated, b.id, b.seq, acked, want, s.o.WaitTimeout)
	}
	if wasShort {
		s.log.Info("batches reach the replicas again", zap.Int("want", want))
	}
	return v, nil
}

// applyAndWait sends the script (EVALSHA, or EVAL with load) and WAIT want
// in one pipeline, on one connection of node.
func (s *Store) applyAndWait(ctx context.Context, node *redis.Client, ks []string, args []any, want int, load bool) (any, int64, error) {
	pipe := node.Pipeline()
	var ev *redis.Cmd
	if load {
		ev = applyScript.Eval(ctx, pipe, ks, args...)
	} else {
		ev = applyScript.EvalSha(ctx, pipe, ks, args...)
	}
	w := pipe.Do(ctx, "wait", want, s.o.WaitTimeout.Milliseconds())
	_, _ = pipe.Exec(ctx)
	if err := ev.Err(); err != nil {
		return nil, 0, err
	}
	n, err := w.Int64()
	if err != nil {
		return nil, 0, fmt.Errorf("redisstore: WAIT: %w", err)
	}
	return ev.Val(), n, nil
}

// touchAndWait renews the stream mark's TTL and sends WAIT on the same
// connection, returning the replicas that acknowledged.
func (s *Store) touchAndWait(ctx context.Context, node *redis.Client, stream string, want int) (int64, error) {
	pipe := node.Pipeline()
	pipe.Expire(ctx, stream, s.o.DedupeTTL)
	w := pipe.Do(ctx, "wait", want, s.o.WaitTimeout.Milliseconds())
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("redisstore: WAIT after a batch applied before: %w", err)
	}
	return w.Int64()
}
