package payout

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// CoinbaseMaturity is the consensus coinbase maturity: a coinbase output
// may be spent by a transaction in a block at least this many blocks above
// the coinbase's own (chaincfg's CoinbaseMaturity on every network). It is
// the smallest maturity Classify takes.
const CoinbaseMaturity = 100

// ChainReader is what Classify asks of the node; *Chain has it.
type ChainReader interface {
	Tip(ctx context.Context) (height int64, hash string, err error)
	BlockHash(ctx context.Context, height int64) (string, error)
}

var _ ChainReader = (*Chain)(nil)

// BlockState is the unlocker's verdict on a block the pool found.
type BlockState int

// Block states.
const (
	// BlockUnknown: the node's tip is below the block's height (the node
	// is behind, or restarted on a shorter chain); nothing can be said
	// yet: wait.
	BlockUnknown BlockState = iota
	// BlockPending: in the main chain, with fewer confirmations than the
	// maturity.
	BlockPending
	// BlockMature: in the main chain, with at least the maturity's
	// confirmations: its coinbase can be spent, and it is credited.
	BlockMature
	// BlockOrphaned: the node's main chain reaches the block's height
	// with another block there.
	BlockOrphaned
)

// String returns the state's name as the ledger's block records and the
// logs spell it.
func (s BlockState) String() string {
	switch s {
	case BlockUnknown:
		return "unknown"
	case BlockPending:
		return "pending"
	case BlockMature:
		return "mature"
	case BlockOrphaned:
		return "orphaned"
	}
	return fmt.Sprintf("BlockState(%d)", int(s))
}

// Verdict is Classify's answer.
type Verdict struct {
	State BlockState
	// Confirmations is tip − height + 1 for a block in the main chain
	// (pending or mature), 0 otherwise.
	Confirmations int64
	// Tip is the height of the node's tip the verdict was made at.
	Tip int64
}

// Classify judges the block with hash that the pool found at height, with
// the rule of docs/payout.md "Unlocking", on the node's word:
//
//   - tip < height: BlockUnknown (the node cannot know the block yet);
//   - getblockhash(height) = hash: in the main chain with confirmations =
//     tip − height + 1; BlockMature when confirmations ≥ maturity, else
//     BlockPending;
//   - getblockhash(height) ≠ hash, the tip being at or above height:
//     BlockOrphaned (whether the node knows the block off its main chain
//     or not at all).
//
// Why confirmations ≥ maturity is the spendable point: both nodes let a
// transaction in the block at height s spend a coinbase from height h when
// s − h ≥ 100 (Core's COINBASE_MATURITY, btcd's CoinbaseMaturity); a
// transaction sent now goes into block tip + 1 at the earliest, and
// tip + 1 − h = confirmations. So at 100 confirmations the node's mempool
// takes a spend of the coinbase, and at 99 it refuses it (the tests prove
// both on btcd and on Bitcoin Core).
//
// maturity below CoinbaseMaturity is an error. The tip is read before the
// block hash: blocks found in between only make the confirmations an
// underestimate, and a chain that got shorter in between (getblockhash
// above the tip) gives BlockUnknown.
func Classify(ctx context.Context, chain ChainReader, hash string, height int64, maturity int64) (Verdict, error) {
	if maturity < CoinbaseMaturity {
		return Verdict{}, fmt.Errorf("payout: classify: maturity %d is below the coinbase maturity %d", maturity, CoinbaseMaturity)
	}
	if height < 0 {
		return Verdict{}, fmt.Errorf("payout: classify: height %d is negative", height)
	}
	hash, err := checkHash(hash)
	if err != nil {
		return Verdict{}, fmt.Errorf("payout: classify: block hash: %w", err)
	}
	tip, _, err := chain.Tip(ctx)
	if err != nil {
		return Verdict{}, fmt.Errorf("payout: classify %s: %w", hash, err)
	}
	if tip < height {
		return Verdict{State: BlockUnknown, Tip: tip}, nil
	}
	atHeight, err := chain.BlockHash(ctx, height)
	if errors.Is(err, ErrAboveTip) {
		return Verdict{State: BlockUnknown, Tip: tip}, nil
	}
	if err != nil {
		return Verdict{}, fmt.Errorf("payout: classify %s: %w", hash, err)
	}
	if !strings.EqualFold(atHeight, hash) {
		return Verdict{State: BlockOrphaned, Tip: tip}, nil
	}
	conf := tip - height + 1
	if conf >= maturity {
		return Verdict{State: BlockMature, Confirmations: conf, Tip: tip}, nil
	}
	return Verdict{State: BlockPending, Confirmations: conf, Tip: tip}, nil
}
