package pool

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/share"
)

// DefaultSubmitTimeout bounds one node's submitblock and confirmation. A
// full block takes the node a few seconds to validate at most.
const DefaultSubmitTimeout = 30 * time.Second

// BlockRejectedError is a node's verdict against a solved block: btcd's
// "rejected: …" result, Core's result strings such as "high-hash" or
// "inconclusive", a JSON-RPC error, or a block the node did not put in its
// main chain (btcd reports an orphan as success).
type BlockRejectedError struct {
	// Hash is the block hash in display order.
	Hash string
	// Node is the node that gave the verdict.
	Node string
	// Reason is the node's own words.
	Reason string
}

func (e *BlockRejectedError) Error() string {
	return fmt.Sprintf("block %s rejected by node %s: %s", e.Hash, e.Node, e.Reason)
}

// Submitter assembles solved blocks and submits them to the nodes; it
// implements share.BlockSink.
type Submitter struct {
	m       *Manager
	log     *zap.Logger
	timeout time.Duration
}

var _ share.BlockSink = (*Submitter)(nil)

// NewSubmitter returns a Submitter sending blocks to m's nodes. log may be
// nil.
func NewSubmitter(m *Manager, log *zap.Logger) *Submitter {
	if log == nil {
		log = zap.NewNop()
	}
	return &Submitter{m: m, log: log, timeout: DefaultSubmitTimeout}
}

// submitAnswer is one node's reply to submitblock.
type submitAnswer struct {
	c       *RPCClient
	verdict string
	err     error
}

// SubmitBlock assembles the block and submits it to every node at once (the
// active node's answer counts first, the others spread the block). It
// returns nil only when a node that accepted the block confirms it is in its
// main chain; a node's verdict against it is a *BlockRejectedError. After an
// accepted block the manager fetches the template on the new tip.
func (s *Submitter) SubmitBlock(ctx context.Context, sol *share.Solved) error {
	hash := share.DisplayHex(&sol.Hash)
	raw, err := AssembleBlock(sol)
	if err != nil {
		return fmt.Errorf("block %s: %w", hash, err)
	}
	hexBlock := hex.EncodeToString(raw)

	clients := s.m.Clients()
	answers := make([]submitAnswer, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, s.timeout)
			defer cancel()
			v, err := c.SubmitBlock(cctx, hexBlock)
			answers[i] = submitAnswer{c: c, verdict: v, err: err}
		}()
	}
	wg.Wait()

	var rejected *BlockRejectedError
	var errs []error
	for _, a := range answers {
		log := s.log.With(zap.String("node", a.c.Name()), zap.String("hash", hash))
		var re *RPCError
		switch {
		case a.err != nil && errors.As(a.err, &re):
			log.Debug("submitblock: node returned an error", zap.Error(a.err))
			if rejected == nil {
				rejected = &BlockRejectedError{Hash: hash, Node: a.c.Name(), Reason: re.Message}
			}
		case a.err != nil:
			log.Warn("submitblock: node did not answer", zap.Error(a.err))
			errs = append(errs, a.err)
		case a.verdict == "" || a.verdict == "duplicate":
			// "duplicate" is Core's word for a block it already has (it
			// may have arrived from a peer first): confirmation decides.
			cctx, cancel := context.WithTimeout(ctx, s.timeout)
			err := confirmBlock(cctx, a.c, hash)
			cancel()
			if err == nil {
				log.Debug("block accepted and confirmed", zap.String("verdict", a.verdict))
				s.m.newTip("submitblock", hash)
				return nil
			}
			log.Debug("block not confirmed", zap.Error(err))
			var be *BlockRejectedError
			if errors.As(err, &be) {
				if rejected == nil {
					rejected = be
				}
			} else {
				errs = append(errs, err)
			}
		default:
			log.Debug("submitblock: node rejected the block", zap.String("verdict", a.verdict))
			if rejected == nil {
				rejected = &BlockRejectedError{Hash: hash, Node: a.c.Name(), Reason: a.verdict}
			}
		}
	}
	if rejected != nil {
		return rejected
	}
	return fmt.Errorf("block %s: no node answered submitblock: %w", hash, errors.Join(errs...))
}

// confirmBlock asks the node whether the block is in its main chain: btcd
// answers submitblock with null for an orphan too, and a block can lose a
// race to a competing one at the same height.
func confirmBlock(ctx context.Context, c *RPCClient, hash string) error {
	h, err := c.GetBlockHeader(ctx, hash)
	if err != nil {
		var re *RPCError
		if errors.As(err, &re) {
			return &BlockRejectedError{Hash: hash, Node: c.Name(),
				Reason: "not in the node's main chain after submitblock (orphan or unknown): " + re.Message}
		}
		return fmt.Errorf("block %s: confirm with node %s: %w", hash, c.Name(), err)
	}
	if h.Confirmations < 1 {
		return &BlockRejectedError{Hash: hash, Node: c.Name(),
			Reason: fmt.Sprintf("not in the node's main chain (confirmations %d)", h.Confirmations)}
	}
	return nil
}
