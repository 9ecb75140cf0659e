package payout

import (
	"errors"
	"fmt"
)

// Errors of the chain calls that callers test for with errors.Is.
var (
	// ErrUnknownBlock is returned (wrapped) by RawBlock for a block hash
	// the node does not know.
	ErrUnknownBlock = errors.New("the node does not know the block")
	// ErrAboveTip is returned (wrapped) by BlockHash for a height above the
	// node's tip: the node is behind, or its chain got shorter since the
	// caller read the tip.
	ErrAboveTip = errors.New("no block at that height: above the node's tip")
	// ErrScanLimit is matched by a *ScanLimitError.
	ErrScanLimit = errors.New("block scan limit reached")
)

// ScanLimitError is TxStatus's answer when the transaction is neither in
// the mempool nor in the blocks it scanned, and the blocks from From to the
// tip were more than the scan limit: it scanned From..To only. The caller
// continues with fromHeight To+1 (a later run, say). It matches
// ErrScanLimit.
type ScanLimitError struct {
	Txid     string
	From, To int64
	// Tip is the height of the node's tip when the scan began.
	Tip int64
}

func (e *ScanLimitError) Error() string {
	return fmt.Sprintf("transaction %s is not in blocks %d..%d, and blocks %d..%d were not scanned (scan limit)",
		e.Txid, e.From, e.To, e.To+1, e.Tip)
}

// Is makes errors.Is(err, ErrScanLimit) hold.
func (e *ScanLimitError) Is(target error) bool { return target == ErrScanLimit }

// BroadcastCode says how a node answered sendrawtransaction when it did not
// simply take the transaction.
type BroadcastCode int

// Broadcast codes. InMempool and InChain are not failures: the node has the
// transaction already (a retry rebroadcasts the same transaction, so this is
// the answer to expect after a crash).
const (
	// BroadcastRejected is any other refusal: policy (fee too low, not
	// standard), an invalid signature, a transaction that does not decode.
	BroadcastRejected BroadcastCode = iota
	// BroadcastInMempool: the same transaction is in the node's mempool.
	// btcd says so; Bitcoin Core answers with the txid instead, as for a
	// transaction it takes, so SendRawTransaction returns no error there.
	BroadcastInMempool
	// BroadcastInChain: the transaction is in a block of the main chain
	// (the node sees at least one of its outputs unspent in its UTXO set).
	BroadcastInChain
	// BroadcastInputsMissing: an input is unknown to the node or spent by
	// a transaction in a block. A transaction that is in a block itself
	// and whose outputs are all spent gets this answer as well: ask
	// TxStatus first.
	BroadcastInputsMissing
	// BroadcastConflict: an input is spent by another transaction in the
	// node's mempool (Core: also a replacement it refuses).
	BroadcastConflict
	// BroadcastImmature: the transaction spends a coinbase output that has
	// fewer than 100 confirmations.
	BroadcastImmature
	numBroadcastCodes
)

var broadcastCodeNames = [numBroadcastCodes]string{
	BroadcastRejected:      "rejected",
	BroadcastInMempool:     "already-in-mempool",
	BroadcastInChain:       "already-in-chain",
	BroadcastInputsMissing: "inputs-missing-or-spent",
	BroadcastConflict:      "mempool-conflict",
	BroadcastImmature:      "immature-coinbase-spend",
}

// String returns the code's stable name.
func (c BroadcastCode) String() string {
	if c >= 0 && c < numBroadcastCodes {
		return broadcastCodeNames[c]
	}
	return fmt.Sprintf("BroadcastCode(%d)", int(c))
}

// BroadcastError is a node's answer to sendrawtransaction other than
// taking the transaction: the node is alive and said no, or said it has
// the transaction already. Callers switch on Code.
type BroadcastError struct {
	Code BroadcastCode
	// Txid is the transaction's id.
	Txid string
	// Node names the node that answered.
	Node string
	// RPCCode and Message are the node's own JSON-RPC error.
	RPCCode int
	Message string
}

func (e *BroadcastError) Error() string {
	return fmt.Sprintf("transaction %s: node %s: %s (rpc error %d: %s)", e.Txid, e.Node, e.Code, e.RPCCode, e.Message)
}

// AlreadyKnown reports whether the node already has the transaction, in its
// mempool or in a block.
func (e *BroadcastError) AlreadyKnown() bool {
	return e.Code == BroadcastInMempool || e.Code == BroadcastInChain
}

// AlreadyKnown reports whether err is a *BroadcastError saying that the node
// already has the transaction: a rebroadcast that needs nothing more.
func AlreadyKnown(err error) bool {
	var be *BroadcastError
	return errors.As(err, &be) && be.AlreadyKnown()
}
