package pool

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/wire/v2"
	"go.uber.org/zap"
)

// New-block notifications besides long polling: btcd's websocket
// notifyblocks, Bitcoin Core's ZMQ hashblock, and the best-block poll that is
// the safety net for both.

// poll is the safety net: the active node's best block hash every
// PollInterval. An error triggers a fetch, which fails over if needed.
func (m *Manager) poll() {
	t := time.NewTicker(m.o.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		n := m.nodes[m.active.Load()]
		h, err := n.rpc.GetBestBlockHash(m.ctx)
		if err != nil {
			if m.ctx.Err() != nil {
				return
			}
			m.log.Debug("best block poll failed", zap.String("node", n.o.Name), zap.Error(err))
			m.trigger(trigger{source: "poll"})
			continue
		}
		m.newTip("poll", h)
	}
}

// watchWebsocket subscribes to btcd's block notifications on node i and
// redials with backoff when the connection drops; every (re)connection
// triggers a fetch to catch up on what was missed. rpcclient's own
// reconnect loop is off because it sleeps up to a minute without noticing
// Shutdown, which would hold up Stop.
func (m *Manager) watchWebsocket(i int) {
	n := m.nodes[i]
	host, tls, _ := wsHost(n.o.URL) // validated by NewManager
	cfg := &rpcclient.ConnConfig{
		Host: host, Endpoint: "ws", User: n.o.User, Pass: n.o.Password, DisableTLS: !tls,
		DisableAutoReconnect: true,
	}
	handlers := &rpcclient.NotificationHandlers{
		OnClientConnected: func() { m.trigger(trigger{source: "websocket"}) },
		OnBlockConnected: func(hash *chainhash.Hash, _ int32, _ time.Time) {
			m.newTip("websocket", hash.String())
		},
		OnFilteredBlockConnected: func(_ int32, h *wire.BlockHeader, _ []*btcutil.Tx) {
			hash := h.BlockHash()
			m.newTip("websocket", hash.String())
		},
	}
	log := m.log.With(zap.String("node", n.o.Name))
	backoff := 500 * time.Millisecond
	down := false
	for m.ctx.Err() == nil {
		c, err := m.dialWebsocket(cfg, handlers)
		if err == nil {
			// Shutdown also fails a NotifyBlocks that the node never answers.
			stop := context.AfterFunc(m.ctx, c.Shutdown)
			if err = c.NotifyBlocks(); err == nil {
				if down {
					log.Warn("websocket block notifications restored")
				}
				down, backoff = false, 500*time.Millisecond
				// Without auto-reconnect the client shuts itself down
				// when the connection drops.
				lost := make(chan struct{})
				go func() {
					c.WaitForShutdown()
					close(lost)
				}()
				select {
				case <-m.ctx.Done():
				case <-lost:
					err = errors.New("websocket connection lost")
				}
			}
			stop()
			c.Shutdown()
			c.WaitForShutdown()
		}
		if m.ctx.Err() != nil {
			return
		}
		if !down {
			log.Warn("websocket block notifications unavailable, retrying", zap.Error(err))
			down = true
		} else {
			log.Debug("websocket redial failed", zap.Error(err))
		}
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, m.o.RetryInterval)
	}
}

// dialWebsocket runs rpcclient.New, which has no dial timeout, in a goroutine
// of its own so that Stop never waits on a node that accepts TCP but does not
// answer; a client that connects after Stop is shut down at once.
func (m *Manager) dialWebsocket(cfg *rpcclient.ConnConfig, h *rpcclient.NotificationHandlers) (*rpcclient.Client, error) {
	type result struct {
		c   *rpcclient.Client
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := rpcclient.New(cfg, h)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("websocket %s: %w", cfg.Host, r.err)
		}
		// Stop may have come while the result was being sent.
		if m.ctx.Err() != nil {
			r.c.Shutdown()
			return nil, m.ctx.Err()
		}
		return r.c, nil
	case <-m.ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Shutdown()
			}
		}()
		return nil, m.ctx.Err()
	}
}

// watchZMQ subscribes to Core's hashblock on node i.
func (m *Manager) watchZMQ(i int) {
	n := m.nodes[i]
	_ = RunZMQSubscriber(m.ctx, ZMQSubscriberOptions{
		Endpoint: n.o.ZMQHashBlock,
		Topics:   []string{"hashblock"},
		OnMessage: func(msg ZMQMessage) {
			if msg.Topic != "hashblock" || len(msg.Body) != 32 {
				m.log.Debug("zmq message ignored", zap.String("topic", msg.Topic), zap.Int("bytes", len(msg.Body)))
				return
			}
			// Core publishes the hash in display order.
			m.newTip("zmq", hex.EncodeToString(msg.Body))
		},
		OnConnect:  func() { m.trigger(trigger{source: "zmq"}) },
		MaxBackoff: m.o.RetryInterval,
		Log:        m.log.With(zap.String("node", n.o.Name)),
	})
}
