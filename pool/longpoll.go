package pool

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// getblocktemplate long polling: one goroutine holds a long poll open on the
// active node and hands each answer to the run loop.

type longPollResult struct {
	t    *Template
	node int
	done chan struct{}
}

// handleLongPoll takes a template a long poll returned. The same template as
// the current one (the long poll woke for a block the manager already
// published) is dropped.
func (m *Manager) handleLongPoll(lp longPollResult) {
	if lp.node != int(m.active.Load()) {
		return
	}
	n := m.nodes[lp.node]
	cur := m.cur.Load()
	clean := cur == nil || lp.t.PrevHash != cur.Template().PrevHash
	if !clean && lp.t.LongPollID == cur.Template().LongPollID {
		m.log.Debug("long poll returned the current template", zap.String("node", n.o.Name))
		return
	}
	m.build(lp.t, clean, n, "longpoll")
}

// longPoll keeps a getblocktemplate long poll open on the active node when
// that node has LongPoll set, handing every template it returns to the
// manager's goroutine and waiting until it is handled, so that the next
// long poll carries the newest long poll id.
func (m *Manager) longPoll() {
	const minBackoff = 500 * time.Millisecond
	backoff := minBackoff
	wait := func(d time.Duration) bool {
		select {
		case <-m.ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	for m.ctx.Err() == nil {
		i := int(m.active.Load())
		n := m.nodes[i]
		w := m.cur.Load()
		if !n.o.LongPoll || w == nil || w.Template().LongPollID == "" {
			// This node does not long poll (or gave no id): look again
			// later, the active node may change.
			if !wait(time.Second) {
				return
			}
			continue
		}
		if int(m.curNode.Load()) != i {
			// After a failover on an unchanged tip the current work still
			// comes from the old node, whose long poll id means nothing
			// to this one: take this node's template first.
			m.trigger(trigger{source: "longpoll", force: true})
			if !wait(time.Second) {
				return
			}
			continue
		}
		ctx, cancel := context.WithTimeout(m.ctx, m.o.LongPollTimeout)
		m.lpMu.Lock()
		m.lpCancel = cancel
		m.lpMu.Unlock()
		// A failover between the load and the registration above would
		// leave the poll on the old node until it times out; re-check.
		if int(m.active.Load()) != i {
			cancel()
			continue
		}
		raw, err := n.rpc.GetBlockTemplate(ctx, w.Template().LongPollID)
		ctxErr := ctx.Err()
		cancel()
		if err == nil {
			var t *Template
			if t, err = ParseTemplate(raw); err == nil {
				backoff = minBackoff
				done := make(chan struct{})
				select {
				case m.longPolled <- longPollResult{t: t, node: i, done: done}:
				case <-m.ctx.Done():
					return
				}
				select {
				case <-done:
				case <-m.ctx.Done():
					return
				}
				continue
			}
			err = fmt.Errorf("node %s: long poll: %w", n.o.Name, err)
		}
		switch {
		case m.ctx.Err() != nil:
			return
		case ctxErr != nil:
			// Timed out with nothing new, or cancelled by a failover:
			// poll again at once.
			continue
		}
		m.log.Debug("long poll failed", zap.String("node", n.o.Name), zap.Error(err))
		m.trigger(trigger{source: "longpoll"})
		if !wait(backoff) {
			return
		}
		backoff = min(2*backoff, m.o.RetryInterval)
	}
}
