package payout

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/btcsuite/btcd/wire/v2"

	"github.com/tarbela-pool/tarbela/pool"
)

// DefaultScanLimit is how many blocks one TxStatus call reads at most: a
// week of blocks. A payout transaction is normally found within a few
// blocks of its broadcast; the bound keeps a run that comes long after
// from reading the chain without end.
const DefaultScanLimit = 1008

// btcdMaxFeeTarget is the largest confirmation target btcd's estimatefee
// answers; FeeRate asks btcd for at most this.
const btcdMaxFeeTarget = 25

// sideBranchWalk bounds how many parents BlockInfo reads to find the height
// of a block off btcd's main chain (btcd's verbose header answer has no
// height for such a block).
const sideBranchWalk = 100

// JSON-RPC error codes the chain calls test for, beyond those of package
// pool.
const (
	// rpcErrNotFound is the code of an unknown block or transaction, and
	// of Core's "Transaction not in mempool" (RPC_INVALID_ADDRESS_OR_KEY).
	rpcErrNotFound = pool.RPCErrBlockNotFound
	// rpcErrMisc is btcd's code for "Command unimplemented" and for a
	// getblockhash height out of range.
	rpcErrMisc = -1
	// rpcErrInvalidParameter is Core's code for a getblockhash height out
	// of range.
	rpcErrInvalidParameter = -8
	// rpcErrDeserialization is a transaction that does not decode.
	rpcErrDeserialization = -22
	// rpcErrVerify is a transaction the node refuses (Core: missing or
	// spent inputs, max fee exceeded; btcd: orphan).
	rpcErrVerify = -25
	// rpcErrVerifyRejected is a transaction refused by consensus or
	// policy.
	rpcErrVerifyRejected = -26
	// rpcErrVerifyAlreadyInChain is a transaction whose outputs are
	// already in the node's UTXO set.
	rpcErrVerifyAlreadyInChain = -27
	// rpcErrInternal is btcd's code for "block … is not in the main
	// chain" (verbose getblockheader and getblock).
	rpcErrInternal = -32603
	// rpcErrInvalidRequest is what btcd answers for a handler's error
	// that has no code of its own ("Invalid request: malformed"), among
	// them estimatefee's "not enough blocks have been observed".
	rpcErrInvalidRequest = -32600
)

// Chain is the node as the payout job sees it: the calls of the unlocker,
// the reconciler and the broadcaster, each answered the same way by Bitcoin
// Core and btcd (where the two nodes differ, the method says what it does
// about it). It is safe for concurrent use.
type Chain struct {
	rpc  *pool.RPCClient
	node string
	// btcd is set once a call showed the node to be btcd (no
	// estimatesmartfee, no getmempoolentry): later calls go straight to
	// btcd's methods.
	btcd      atomic.Bool
	scanLimit atomic.Int64
}

// NewChain returns the payout job's view of the node that c talks to.
func NewChain(c *pool.RPCClient) *Chain {
	ch := &Chain{rpc: c, node: c.Name()}
	ch.scanLimit.Store(DefaultScanLimit)
	return ch
}

// SetScanLimit sets how many blocks one TxStatus call reads at most
// (DefaultScanLimit until then); n below 1 counts as 1.
func (c *Chain) SetScanLimit(n int64) { c.scanLimit.Store(max(n, 1)) }

// call makes one call and keeps the raw result; errors name the node and
// the method (those of pool.RPCClient do already).
func (c *Chain) call(ctx context.Context, method string, params ...any) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := c.rpc.Call(ctx, method, params, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// bad names the node and the method in a decoding error.
func (c *Chain) bad(method string, err error) error {
	return fmt.Errorf("node %s: %s: %w", c.node, method, err)
}

// Tip returns the height and hash of the node's best block, read together
// (getblockchaininfo) so that they belong to the same block.
func (c *Chain) Tip(ctx context.Context) (height int64, hash string, err error) {
	raw, err := c.call(ctx, "getblockchaininfo")
	if err != nil {
		return 0, "", fmt.Errorf("payout: tip: %w", err)
	}
	if height, hash, err = decodeTip(raw); err != nil {
		return 0, "", fmt.Errorf("payout: tip: %w", c.bad("getblockchaininfo", err))
	}
	return height, hash, nil
}

// BlockHash returns the hash of the main-chain block at height. A height
// above the node's tip is an error that wraps ErrAboveTip.
func (c *Chain) BlockHash(ctx context.Context, height int64) (string, error) {
	if height < 0 {
		return "", fmt.Errorf("payout: block hash: height %d is negative", height)
	}
	raw, err := c.call(ctx, "getblockhash", height)
	if isOutOfRange(err) {
		return "", fmt.Errorf("payout: block hash at height %d: %w (%w)", height, ErrAboveTip, err)
	}
	if err != nil {
		return "", fmt.Errorf("payout: block hash at height %d: %w", height, err)
	}
	hash, err := decodeHash(raw)
	if err != nil {
		return "", fmt.Errorf("payout: block hash at height %d: %w", height, c.bad("getblockhash", err))
	}
	return hash, nil
}

// isOutOfRange reports whether err is getblockhash's answer for a height
// above the tip: Core -8 "Block height out of range", btcd -1 "Block number
// out of range".
func isOutOfRange(err error) bool {
	var re *pool.RPCError
	return errors.As(err, &re) && (re.Code == rpcErrInvalidParameter || re.Code == rpcErrMisc) &&
		strings.Contains(strings.ToLower(re.Message), "out of range")
}

// BlockInfo is where a block stands in the node's chain.
type BlockInfo struct {
	// Height is the block's height; -1 when the node does not say (btcd,
	// for a block more than 100 blocks deep into a side branch).
	Height int64
	// Confirmations is tip − Height + 1 in the main chain, and -1 off it
	// (on both nodes).
	Confirmations int64
	// InMainChain says whether the block is in the node's main chain.
	InMainChain bool
}

// BlockInfo returns where the block with hash stands (getblockheader,
// verbose). A block the node does not know is found=false, not an error.
// Off the main chain Core answers confirmations -1; btcd answers an error
// ("block … is not in the main chain") instead, which BlockInfo turns into
// the same answer, finding the height through the block's parents.
func (c *Chain) BlockInfo(ctx context.Context, hash string) (info BlockInfo, found bool, err error) {
	hash, err = checkHash(hash)
	if err != nil {
		return BlockInfo{}, false, fmt.Errorf("payout: block info: %w", err)
	}
	raw, err := c.call(ctx, "getblockheader", hash, true)
	switch {
	case pool.IsRPCError(err, pool.RPCErrBlockNotFound):
		return BlockInfo{}, false, nil
	case isOffMainChain(err):
		return c.sideBranchInfo(ctx, hash)
	case err != nil:
		return BlockInfo{}, false, fmt.Errorf("payout: block info %s: %w", hash, err)
	}
	if info, err = decodeHeaderInfo(raw, hash); err != nil {
		return BlockInfo{}, false, fmt.Errorf("payout: block info %s: %w", hash, c.bad("getblockheader", err))
	}
	return info, true, nil
}

// isOffMainChain reports whether err is btcd's answer to a verbose
// getblockheader or getblock for a block it knows off its main chain.
func isOffMainChain(err error) bool {
	var re *pool.RPCError
	return errors.As(err, &re) && re.Code == rpcErrInternal && strings.Contains(re.Message, "not in the main chain")
}

// sideBranchInfo answers BlockInfo for a block that btcd knows off its main
// chain: it reads raw headers back through the block's parents until one is
// in the main chain, whose height gives the block's.
func (c *Chain) sideBranchInfo(ctx context.Context, hash string) (BlockInfo, bool, error) {
	cur := hash
	for depth := int64(1); depth <= sideBranchWalk; depth++ {
		raw, err := c.call(ctx, "getblockheader", cur, false)
		if pool.IsRPCError(err, pool.RPCErrBlockNotFound) && cur == hash {
			return BlockInfo{}, false, nil
		}
		if err != nil {
			return BlockInfo{}, false, fmt.Errorf("payout: block info %s: header of %s: %w", hash, cur, err)
		}
		parent, err := decodeRawHeaderParent(raw)
		if err != nil {
			return BlockInfo{}, false, fmt.Errorf("payout: block info %s: %w", hash, c.bad("getblockheader", err))
		}
		raw, err = c.call(ctx, "getblockheader", parent, true)
		if isOffMainChain(err) {
			cur = parent
			continue
		}
		if err != nil {
			return BlockInfo{}, false, fmt.Errorf("payout: block info %s: parent %s: %w", hash, parent, err)
		}
		p, err := decodeHeaderInfo(raw, parent)
		if err != nil {
			return BlockInfo{}, false, fmt.Errorf("payout: block info %s: %w", hash, c.bad("getblockheader", err))
		}
		if !p.InMainChain {
			return BlockInfo{}, false, fmt.Errorf("payout: block info %s: node %s: getblockheader: parent %s off the main chain without saying so", hash, c.node, parent)
		}
		return BlockInfo{Height: p.Height + depth, Confirmations: -1}, true, nil
	}
	return BlockInfo{Height: -1, Confirmations: -1}, true, nil
}

// RawBlock returns the block with hash as the node serializes it (getblock
// with verbosity 0), witnesses included. A block the node does not know is
// an error that wraps ErrUnknownBlock; an answer that is not the block
// asked for is an error.
func (c *Chain) RawBlock(ctx context.Context, hash string) (*wire.MsgBlock, error) {
	hash, err := checkHash(hash)
	if err != nil {
		return nil, fmt.Errorf("payout: raw block: %w", err)
	}
	raw, err := c.call(ctx, "getblock", hash, 0)
	if pool.IsRPCError(err, pool.RPCErrBlockNotFound) {
		return nil, fmt.Errorf("payout: raw block %s: %w (%w)", hash, ErrUnknownBlock, err)
	}
	if err != nil {
		return nil, fmt.Errorf("payout: raw block %s: %w", hash, err)
	}
	b, err := decodeRawBlock(raw, hash)
	if err != nil {
		return nil, fmt.Errorf("payout: raw block %s: %w", hash, c.bad("getblock", err))
	}
	return b, nil
}

// FeeRate returns the node's fee rate estimate, in satoshis per virtual
// byte, for a transaction to confirm within confTarget blocks. Core answers
// estimatesmartfee (BTC per 1000 virtual bytes); btcd has no such method
// and answers estimatefee (BTC per 1000 bytes, for targets up to 25 blocks:
// a larger target asks btcd for 25). The rate is rounded to a whole
// satoshi per 1000 bytes, the unit both nodes count in. A node without an
// estimate (too few blocks or transactions seen, as on regtest) is
// ok=false, not an error.
func (c *Chain) FeeRate(ctx context.Context, confTarget int) (satPerVByte float64, ok bool, err error) {
	if confTarget < 1 {
		return 0, false, fmt.Errorf("payout: fee rate: confirmation target %d is below 1", confTarget)
	}
	if !c.btcd.Load() {
		raw, err := c.call(ctx, "estimatesmartfee", confTarget)
		if err == nil {
			if satPerVByte, ok, err = decodeSmartFee(raw); err != nil {
				return 0, false, fmt.Errorf("payout: fee rate: %w", c.bad("estimatesmartfee", err))
			}
			return satPerVByte, ok, nil
		}
		if !pool.IsRPCError(err, pool.RPCErrMethodNotFound) {
			return 0, false, fmt.Errorf("payout: fee rate: %w", err)
		}
		c.btcd.Store(true)
	}
	raw, err := c.call(ctx, "estimatefee", min(confTarget, btcdMaxFeeTarget))
	if pool.IsRPCError(err, rpcErrInvalidRequest) {
		// btcd's estimator has too few blocks (or is off); btcd sends
		// any error without a code of its own as "Invalid request:
		// malformed".
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("payout: fee rate: %w", err)
	}
	if satPerVByte, ok, err = decodeEstimateFee(raw); err != nil {
		return 0, false, fmt.Errorf("payout: fee rate: %w", c.bad("estimatefee", err))
	}
	return satPerVByte, ok, nil
}

// SendRawTransaction broadcasts tx (serialized with its witnesses) and
// returns its txid. When the node does not simply take it, the error is a
// *BroadcastError whose Code says why; a node that has the transaction
// already (a rebroadcast) is one of them: test with AlreadyKnown. Bitcoin
// Core answers a transaction already in its mempool like one it takes
// (no error). txid is returned in every case: it is the transaction's own
// id, whatever the node said.
func (c *Chain) SendRawTransaction(ctx context.Context, tx *wire.MsgTx) (txid string, err error) {
	if tx == nil {
		return "", errors.New("payout: send transaction: nil transaction")
	}
	txid = tx.TxHash().String()
	var buf bytes.Buffer
	buf.Grow(tx.SerializeSize())
	if err := tx.Serialize(&buf); err != nil {
		return txid, fmt.Errorf("payout: send transaction %s: serialize: %w", txid, err)
	}
	raw, err := c.call(ctx, "sendrawtransaction", hex.EncodeToString(buf.Bytes()))
	if err != nil {
		var re *pool.RPCError
		if errors.As(err, &re) {
			if be := classifyBroadcast(re, txid, c.node); be != nil {
				return txid, fmt.Errorf("payout: send transaction: %w", be)
			}
		}
		return txid, fmt.Errorf("payout: send transaction %s: %w", txid, err)
	}
	got, err := decodeHash(raw)
	if err != nil {
		return txid, fmt.Errorf("payout: send transaction %s: %w", txid, c.bad("sendrawtransaction", err))
	}
	if got != txid {
		return txid, fmt.Errorf("payout: send transaction %s: node %s: sendrawtransaction answered txid %s", txid, c.node, got)
	}
	return txid, nil
}

// classifyBroadcast turns a node's JSON-RPC error to sendrawtransaction into
// a *BroadcastError, or returns nil when the error is no verdict on the
// transaction (the node is warming up, an internal error) and the caller
// should simply try again later. It reads the code and the node's words,
// which are stable: Core's reject reasons ("bad-txns-…", "txn-…") and
// btcd's mempool messages.
func classifyBroadcast(re *pool.RPCError, txid, node string) *BroadcastError {
	switch re.Code {
	case rpcErrDeserialization, rpcErrVerify, rpcErrVerifyRejected, rpcErrVerifyAlreadyInChain:
	default:
		return nil
	}
	msg := strings.ToLower(re.Message)
	has := func(words ...string) bool {
		return slices.ContainsFunc(words, func(w string) bool { return strings.Contains(msg, w) })
	}
	code := BroadcastRejected
	switch {
	case re.Code == rpcErrVerifyAlreadyInChain:
		code = BroadcastInChain
	case has("already have transaction", "txn-already-in-mempool", "txn-already-known"):
		code = BroadcastInMempool
	case has("premature-spend-of-coinbase", "before required maturity"):
		code = BroadcastImmature
	case has("txn-mempool-conflict", "already spent in mempool", "rejecting replacement"):
		code = BroadcastConflict
	case has("missingorspent", "missing inputs", "orphan transaction", "has already been spent"):
		code = BroadcastInputsMissing
	}
	return &BroadcastError{Code: code, Txid: txid, Node: node, RPCCode: re.Code, Message: re.Message}
}

// TxStatus is where a transaction stands.
type TxStatus struct {
	// InMempool says the transaction waits in the node's mempool.
	InMempool bool
	// BlockHash and Height are the main-chain block that holds it, when
	// it is in one.
	BlockHash string
	Height    int64
	// Confirmations counts that block and those on top of it.
	Confirmations int64
}

// TxStatus finds the transaction txid in the node's mempool
// (getmempoolentry on Core; btcd lacks it and lists its mempool with
// getrawmempool) or else in the main-chain blocks from fromHeight to the tip
// (getblock with verbosity 1, whose transaction ids need no transaction
// index on either node). A transaction in neither is found=false. The scan
// reads at most the scan limit of blocks (SetScanLimit): when the blocks to
// the tip are more and the transaction is not among those read, the error
// is a *ScanLimitError that says where to go on. The mempool is read first,
// so a transaction mined meanwhile is still found in its block.
func (c *Chain) TxStatus(ctx context.Context, txid string, fromHeight int64) (status TxStatus, found bool, err error) {
	txid, err = checkHash(txid)
	if err != nil {
		return TxStatus{}, false, fmt.Errorf("payout: transaction status: %w", err)
	}
	if fromHeight < 0 {
		return TxStatus{}, false, fmt.Errorf("payout: transaction status %s: from height %d is negative", txid, fromHeight)
	}
	in, err := c.inMempool(ctx, txid)
	if err != nil {
		return TxStatus{}, false, fmt.Errorf("payout: transaction status %s: %w", txid, err)
	}
	if in {
		return TxStatus{InMempool: true}, true, nil
	}
	tip, _, err := c.Tip(ctx)
	if err != nil {
		return TxStatus{}, false, fmt.Errorf("payout: transaction status %s: %w", txid, err)
	}
	to := tip
	if limit := c.scanLimit.Load(); tip-fromHeight+1 > limit {
		to = fromHeight + limit - 1
	}
	for h := fromHeight; h <= to; h++ {
		if err := ctx.Err(); err != nil {
			return TxStatus{}, false, fmt.Errorf("payout: transaction status %s: scan at height %d: %w", txid, h, err)
		}
		hash, err := c.BlockHash(ctx, h)
		if err != nil {
			return TxStatus{}, false, fmt.Errorf("payout: transaction status %s: %w", txid, err)
		}
		raw, err := c.call(ctx, "getblock", hash, 1)
		if err != nil {
			return TxStatus{}, false, fmt.Errorf("payout: transaction status %s: block %s: %w", txid, hash, err)
		}
		b, err := decodeBlockTxids(raw, hash)
		if err != nil {
			return TxStatus{}, false, fmt.Errorf("payout: transaction status %s: %w", txid, c.bad("getblock", err))
		}
		if b.height != h || b.confirmations < 1 {
			// A reorganization between getblockhash and getblock.
			return TxStatus{}, false, fmt.Errorf("payout: transaction status %s: block %s left height %d of the main chain during the scan", txid, hash, h)
		}
		if slices.Contains(b.txids, txid) {
			return TxStatus{BlockHash: hash, Height: h, Confirmations: b.confirmations}, true, nil
		}
	}
	if to < tip {
		return TxStatus{}, false, fmt.Errorf("payout: transaction status: %w", &ScanLimitError{Txid: txid, From: fromHeight, To: to, Tip: tip})
	}
	return TxStatus{}, false, nil
}

// inMempool reports whether txid is in the node's mempool.
func (c *Chain) inMempool(ctx context.Context, txid string) (bool, error) {
	if !c.btcd.Load() {
		raw, err := c.call(ctx, "getmempoolentry", txid)
		switch {
		case err == nil:
			if err := decodeObject(raw); err != nil {
				return false, c.bad("getmempoolentry", err)
			}
			return true, nil
		case pool.IsRPCError(err, rpcErrNotFound): // "Transaction not in mempool"
			return false, nil
		case !isUnimplemented(err):
			return false, err
		}
		c.btcd.Store(true)
	}
	raw, err := c.call(ctx, "getrawmempool", false)
	if err != nil {
		return false, err
	}
	txids, err := decodeHashList(raw)
	if err != nil {
		return false, c.bad("getrawmempool", err)
	}
	return slices.Contains(txids, txid), nil
}

// isUnimplemented reports whether err says the node lacks the method: an
// unknown method, or btcd's "Command unimplemented" for the methods it
// knows by name only.
func isUnimplemented(err error) bool {
	var re *pool.RPCError
	return errors.As(err, &re) && (re.Code == pool.RPCErrMethodNotFound ||
		re.Code == rpcErrMisc && strings.Contains(strings.ToLower(re.Message), "unimplemented"))
}

// OutputUnspent reports whether output vout of transaction txid is unspent
// (gettxout with the mempool included): false when it is spent, or the
// node knows no such output. Core also counts an output that a mempool
// transaction spends as spent; btcd does not (it reads only the UTXO set of
// its chain, and a mempool transaction's own outputs), so on btcd such an
// output reads unspent and a transaction spending it again is refused with
// BroadcastConflict.
func (c *Chain) OutputUnspent(ctx context.Context, txid string, vout uint32) (bool, error) {
	txid, err := checkHash(txid)
	if err != nil {
		return false, fmt.Errorf("payout: output unspent: %w", err)
	}
	raw, err := c.call(ctx, "gettxout", txid, vout, true)
	if pool.IsRPCError(err, rpcErrNotFound) {
		// btcd: "No information available about transaction".
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("payout: output %s:%d unspent: %w", txid, vout, err)
	}
	unspent, err := decodeTxOut(raw)
	if err != nil {
		return false, fmt.Errorf("payout: output %s:%d unspent: %w", txid, vout, c.bad("gettxout", err))
	}
	return unspent, nil
}
