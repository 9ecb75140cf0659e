package payout_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/tarbela-pool/tarbela/payout"
)

// unknownHash is a hash no regtest node knows.
var unknownHash = strings.Repeat("ab", 32)

// TestChainBlocks reads the tip, block hashes, headers and raw blocks of a
// real node, and checks the coinbase values against Subsidy across regtest's
// first halving (height 150).
func TestChainBlocks(t *testing.T) {
	onEachNode(t, func(t *testing.T, n *testNode) {
		ctx := testCtx(t)
		hashes := n.mineN(t, ctx, 151)

		height, hash, err := n.chain.Tip(ctx)
		if err != nil || height != 151 || hash != hashes[150] {
			t.Fatalf("Tip = %d, %s, %v; want 151, %s", height, hash, err, hashes[150])
		}
		for _, h := range []int64{1, 75, 151} {
			got, err := n.chain.BlockHash(ctx, h)
			if err != nil || got != hashes[h-1] {
				t.Fatalf("BlockHash(%d) = %s, %v; want %s", h, got, err, hashes[h-1])
			}
		}
		if got, err := n.chain.BlockHash(ctx, 152); !errors.Is(err, payout.ErrAboveTip) {
			t.Fatalf("BlockHash(tip+1) = %q, %v; want ErrAboveTip", got, err)
		}

		info, found, err := n.chain.BlockInfo(ctx, hashes[9])
		if want := (payout.BlockInfo{Height: 10, Confirmations: 142, InMainChain: true}); err != nil || !found || info != want {
			t.Fatalf("BlockInfo(block 10) = %+v, %v, %v; want %+v", info, found, err, want)
		}
		info, found, err = n.chain.BlockInfo(ctx, strings.ToUpper(hashes[150]))
		if want := (payout.BlockInfo{Height: 151, Confirmations: 1, InMainChain: true}); err != nil || !found || info != want {
			t.Fatalf("BlockInfo(tip, upper case) = %+v, %v, %v; want %+v", info, found, err, want)
		}
		if info, found, err := n.chain.BlockInfo(ctx, unknownHash); err != nil || found {
			t.Fatalf("BlockInfo(unknown) = %+v, %v, %v; want not found and no error", info, found, err)
		}

		for _, h := range []int64{1, 149, 150, 151} {
			b, err := n.chain.RawBlock(ctx, hashes[h-1])
			if err != nil {
				t.Fatalf("RawBlock(block %d): %v", h, err)
			}
			if got := b.BlockHash().String(); got != hashes[h-1] {
				t.Fatalf("RawBlock(block %d) decoded to block %s", h, got)
			}
			var value int64
			for _, out := range b.Transactions[0].TxOut {
				value += out.Value
			}
			if want := payout.Subsidy(h, regtestHalving); value != want {
				t.Errorf("block %d: coinbase pays %d sat; Subsidy says %d", h, value, want)
			}
		}
		if _, err := n.chain.RawBlock(ctx, unknownHash); !errors.Is(err, payout.ErrUnknownBlock) {
			t.Fatalf("RawBlock(unknown) error = %v; want ErrUnknownBlock", err)
		}
	})
}

// TestChainFeeRate: regtest nodes have no fee estimate, before any block
// and after some; that is ok=false on both (Core: estimatesmartfee's errors
// field; btcd: "not enough blocks" and then a zero rate). A target below 1
// is the caller's error.
func TestChainFeeRate(t *testing.T) {
	onEachNode(t, func(t *testing.T, n *testNode) {
		ctx := testCtx(t)
		for _, blocks := range []int{0, 5} {
			if blocks > 0 {
				n.mineN(t, ctx, blocks)
			}
			for _, target := range []int{1, 6, 144} {
				rate, ok, err := n.chain.FeeRate(ctx, target)
				if err != nil || ok {
					t.Errorf("after %d blocks: FeeRate(%d) = %v, %v, %v; want no estimate and no error", blocks, target, rate, ok, err)
				}
			}
		}
		if _, _, err := n.chain.FeeRate(ctx, 0); err == nil {
			t.Error("FeeRate(0) succeeded; want an error")
		}
	})
}

// TestChainFeeRateEstimate gets a real estimate from btcd, whose estimator
// answers after a few blocks of transactions it saw in its mempool: the
// rate lies between the lowest and the highest rate the transactions paid.
// (Core's estimator wants far more transactions than a test sends; its
// answer's conversion is tested on a stand-in node in TestChainAnswers.)
func TestChainFeeRateEstimate(t *testing.T) {
	n := startBtcd(t)
	ctx := testCtx(t)
	hashes := n.mineN(t, ctx, 110)
	lowest, highest := math.Inf(1), 0.0
	for i := range 10 {
		prev, value := coinbaseOutput(t, ctx, n, hashes[i])
		fee := int64(1000 + 200*i)
		tx := spend(t, prev, value, 2, fee)
		if _, err := n.chain.SendRawTransaction(ctx, tx); err != nil {
			t.Fatalf("SendRawTransaction: %v", err)
		}
		// Whichever size the estimator counts, the rate lies between
		// these.
		lowest = min(lowest, float64(fee)/float64(tx.SerializeSize()))
		highest = max(highest, float64(fee)/float64(tx.SerializeSizeStripped()))
		n.mineN(t, ctx, 1)
	}
	for _, target := range []int{1, 6, 144} {
		rate, ok, err := n.chain.FeeRate(ctx, target)
		if err != nil || !ok || rate < lowest || rate > highest {
			t.Errorf("FeeRate(%d) = %v, %v, %v; want a rate in %.3f..%.3f sat/vB", target, rate, ok, err, lowest, highest)
		}
	}
}

// TestChainTransaction follows one real transaction through both nodes:
// broadcast, rebroadcast, a conflicting spend, the mempool, its block, the
// outputs it spends and makes, and the node's refusals of transactions it
// has already or cannot take.
func TestChainTransaction(t *testing.T) {
	onEachNode(t, func(t *testing.T, n *testNode) {
		ctx := testCtx(t)
		// Block 1's coinbase is spendable from the mempool at tip 100.
		hashes := n.mineN(t, ctx, 101)
		prev, value := coinbaseOutput(t, ctx, n, hashes[0])
		tx := spend(t, prev, value, 2, 1000)
		txid := tx.TxHash().String()
		cbid := prev.Hash.String()

		if ok, err := n.chain.OutputUnspent(ctx, cbid, 0); err != nil || !ok {
			t.Fatalf("OutputUnspent(coinbase) before the spend = %v, %v; want true", ok, err)
		}
		if st, found, err := n.chain.TxStatus(ctx, txid, 95); err != nil || found {
			t.Fatalf("TxStatus before the broadcast = %+v, %v, %v; want not found", st, found, err)
		}
		if got, err := n.chain.SendRawTransaction(ctx, tx); err != nil || got != txid {
			t.Fatalf("SendRawTransaction = %s, %v; want %s", got, err, txid)
		}
		if st, found, err := n.chain.TxStatus(ctx, txid, 95); err != nil || !found || st != (payout.TxStatus{InMempool: true}) {
			t.Fatalf("TxStatus in the mempool = %+v, %v, %v", st, found, err)
		}
		// Core counts the coinbase output as spent by the mempool; btcd
		// reads its UTXO set only (see OutputUnspent).
		if ok, err := n.chain.OutputUnspent(ctx, cbid, 0); err != nil || ok != (n.name == "btcd") {
			t.Fatalf("OutputUnspent(coinbase) spent in the mempool = %v, %v; want %v on %s", ok, err, n.name == "btcd", n.name)
		}
		if ok, err := n.chain.OutputUnspent(ctx, txid, 0); err != nil || !ok {
			t.Fatalf("OutputUnspent(mempool transaction's output) = %v, %v; want true", ok, err)
		}

		// A rebroadcast: btcd says it has the transaction, Core takes it
		// as new.
		got, err := n.chain.SendRawTransaction(ctx, tx)
		if n.name == "btcd" {
			wantBroadcastCode(t, "rebroadcast to the mempool", err, payout.BroadcastInMempool)
		} else if err != nil {
			t.Fatalf("rebroadcast to Core's mempool: %v; want no error", err)
		}
		if got != txid {
			t.Fatalf("rebroadcast returned txid %s; want %s", got, txid)
		}
		// Another transaction spending the same coinbase, at the same fee.
		rival := spend(t, prev, value, 3, 1000)
		_, err = n.chain.SendRawTransaction(ctx, rival)
		wantBroadcastCode(t, "conflicting spend", err, payout.BroadcastConflict)

		mined := n.mineN(t, ctx, 1)[0]
		st, found, err := n.chain.TxStatus(ctx, txid, 95)
		if want := (payout.TxStatus{BlockHash: mined, Height: 102, Confirmations: 1}); err != nil || !found || st != want {
			t.Fatalf("TxStatus after a block = %+v, %v, %v; want %+v", st, found, err, want)
		}
		n.mineN(t, ctx, 2)
		st, found, err = n.chain.TxStatus(ctx, txid, 102)
		if want := (payout.TxStatus{BlockHash: mined, Height: 102, Confirmations: 3}); err != nil || !found || st != want {
			t.Fatalf("TxStatus from its own height = %+v, %v, %v; want %+v", st, found, err, want)
		}
		if st, found, err := n.chain.TxStatus(ctx, txid, 103); err != nil || found {
			t.Fatalf("TxStatus from above its block = %+v, %v, %v; want not found", st, found, err)
		}
		if ok, err := n.chain.OutputUnspent(ctx, cbid, 0); err != nil || ok {
			t.Fatalf("OutputUnspent(coinbase) spent in a block = %v, %v; want false", ok, err)
		}
		if ok, err := n.chain.OutputUnspent(ctx, txid, 0); err != nil || !ok {
			t.Fatalf("OutputUnspent(mined output) = %v, %v; want true", ok, err)
		}
		if ok, err := n.chain.OutputUnspent(ctx, txid, 1); err != nil || ok {
			t.Fatalf("OutputUnspent(no such vout) = %v, %v; want false", ok, err)
		}
		if ok, err := n.chain.OutputUnspent(ctx, unknownHash, 0); err != nil || ok {
			t.Fatalf("OutputUnspent(unknown transaction) = %v, %v; want false", ok, err)
		}

		// After the block: the same transaction is in the chain; the rival
		// spends an input that is gone.
		_, err = n.chain.SendRawTransaction(ctx, tx)
		wantBroadcastCode(t, "rebroadcast of a mined transaction", err, payout.BroadcastInChain)
		if !payout.AlreadyKnown(err) {
			t.Fatalf("AlreadyKnown(%v) = false", err)
		}
		_, err = n.chain.SendRawTransaction(ctx, rival)
		wantBroadcastCode(t, "spend of a spent output", err, payout.BroadcastInputsMissing)
		if payout.AlreadyKnown(err) {
			t.Fatalf("AlreadyKnown(%v) = true", err)
		}
		// Paying out more than the input holds.
		prev2, value2 := coinbaseOutput(t, ctx, n, hashes[1])
		_, err = n.chain.SendRawTransaction(ctx, spend(t, prev2, value2, 2, -1))
		wantBroadcastCode(t, "outputs above the inputs", err, payout.BroadcastRejected)

		// A bounded scan: two blocks of the four from 101 to the tip.
		n.chain.SetScanLimit(2)
		_, _, err = n.chain.TxStatus(ctx, unknownHash, 101)
		var sl *payout.ScanLimitError
		if !errors.As(err, &sl) || !errors.Is(err, payout.ErrScanLimit) || sl.From != 101 || sl.To != 102 || sl.Tip != 104 {
			t.Fatalf("TxStatus over the scan limit: %v; want a ScanLimitError for blocks 101..102 of 104", err)
		}
		if st, found, err := n.chain.TxStatus(ctx, txid, 101); err != nil || !found || st.Height != 102 {
			t.Fatalf("TxStatus found within the scan limit = %+v, %v, %v", st, found, err)
		}
		n.chain.SetScanLimit(payout.DefaultScanLimit)
		if st, found, err := n.chain.TxStatus(ctx, unknownHash, 0); err != nil || found {
			t.Fatalf("TxStatus(unknown) over the whole chain = %+v, %v, %v; want not found", st, found, err)
		}
	})
}

// wantBroadcastCode fails t unless err is a *BroadcastError with code.
func wantBroadcastCode(t *testing.T, what string, err error, code payout.BroadcastCode) {
	t.Helper()
	var be *payout.BroadcastError
	if !errors.As(err, &be) {
		t.Fatalf("%s: error %v; want a BroadcastError %s", what, err, code)
	}
	if be.Code != code {
		t.Fatalf("%s: %v; want code %s", what, err, code)
	}
	t.Logf("%s: %v", what, err)
}
