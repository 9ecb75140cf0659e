package pool

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
)

// Node failover: the manager fetches from the active node and, when it stops
// answering, from the next healthy one; unhealthy nodes are probed until
// they answer again.

type probeResult struct {
	node int
	err  error
}

// fetchFrom gets and parses a template from one node.
func (m *Manager) fetchFrom(ctx context.Context, n *node) (*Template, error) {
	raw, err := n.rpc.GetBlockTemplate(ctx, "")
	if err != nil {
		return nil, err
	}
	t, err := ParseTemplate(raw)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.o.Name, err)
	}
	return t, nil
}

// fetch gets a template from the first node that answers: healthy nodes in
// configured order, then the unhealthy ones as a last resort. It updates
// health and the active node.
func (m *Manager) fetch() (*Template, *node, error) {
	order := make([]int, 0, len(m.nodes))
	for i, n := range m.nodes {
		if n.healthy {
			order = append(order, i)
		}
	}
	for i, n := range m.nodes {
		if !n.healthy && !n.probing {
			order = append(order, i)
		}
	}
	var errs []error
	for _, i := range order {
		n := m.nodes[i]
		t, err := m.fetchFrom(m.ctx, n)
		if err != nil {
			if m.ctx.Err() != nil {
				return nil, nil, m.ctx.Err()
			}
			errs = append(errs, err)
			m.markUnhealthy(n, err)
			continue
		}
		m.markHealthy(n)
		m.setActive(i)
		return t, n, nil
	}
	if len(errs) == 0 {
		return nil, nil, errors.New("every node is being probed")
	}
	return nil, nil, errors.Join(errs...)
}

func (m *Manager) markUnhealthy(n *node, err error) {
	if n.healthy {
		n.healthy = false
		m.log.Warn("node unhealthy", zap.String("node", n.o.Name), zap.Error(err))
	}
}

func (m *Manager) markHealthy(n *node) {
	if !n.healthy {
		n.healthy = true
		m.log.Warn("node healthy again", zap.String("node", n.o.Name))
	}
}

// setActive switches the active node; a long poll on the old node is
// cancelled so that it restarts on the new one.
func (m *Manager) setActive(i int) {
	old := int(m.active.Swap(int32(i)))
	if old == i {
		return
	}
	m.log.Warn("switched node", zap.String("from", m.nodes[old].o.Name), zap.String("to", m.nodes[i].o.Name))
	m.lpMu.Lock()
	if m.lpCancel != nil {
		m.lpCancel()
	}
	m.lpMu.Unlock()
}

// probeUnhealthy checks unhealthy nodes in the background, so that a node
// that hangs never delays the manager's goroutine.
func (m *Manager) probeUnhealthy() {
	for i, n := range m.nodes {
		if n.healthy || n.probing {
			continue
		}
		n.probing = true
		m.goRun(func() {
			_, err := m.fetchFrom(m.ctx, n)
			select {
			case m.probed <- probeResult{node: i, err: err}:
			case <-m.ctx.Done():
			}
		})
	}
}

// handleProbe records a probe; a recovered node preferred over the active
// one becomes active again.
func (m *Manager) handleProbe(p probeResult) {
	n := m.nodes[p.node]
	n.probing = false
	if p.err != nil {
		m.log.Debug("node still unhealthy", zap.String("node", n.o.Name), zap.Error(p.err))
		return
	}
	m.markHealthy(n)
	a := int(m.active.Load())
	if p.node < a || !m.nodes[a].healthy {
		m.update(trigger{source: "failback"})
	}
}
