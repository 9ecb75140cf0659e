package payout_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tarbela-pool/tarbela/payout"
)

// TestClassifyMaturityOnNode proves Classify's rule on real nodes: block 1
// is pending at 99 confirmations, and the node refuses a transaction that
// spends its coinbase as an immature spend; at exactly 100 confirmations it
// is mature, the node takes the same transaction into its mempool, and the
// next block holds it.
func TestClassifyMaturityOnNode(t *testing.T) {
	onEachNode(t, func(t *testing.T, n *testNode) {
		ctx := testCtx(t)
		hashes := n.mineN(t, ctx, 99)
		block1 := hashes[0]
		prev, value := coinbaseOutput(t, ctx, n, block1)
		tx := spend(t, prev, value, 2, 1000)

		v, err := payout.Classify(ctx, n.chain, block1, 1, payout.CoinbaseMaturity)
		if want := (payout.Verdict{State: payout.BlockPending, Confirmations: 99, Tip: 99}); err != nil || v != want {
			t.Fatalf("Classify at 99 confirmations = %+v, %v; want %+v", v, err, want)
		}
		_, err = n.chain.SendRawTransaction(ctx, tx)
		wantBroadcastCode(t, "spend at 99 confirmations", err, payout.BroadcastImmature)

		n.mineN(t, ctx, 1)
		v, err = payout.Classify(ctx, n.chain, block1, 1, payout.CoinbaseMaturity)
		if want := (payout.Verdict{State: payout.BlockMature, Confirmations: 100, Tip: 100}); err != nil || v != want {
			t.Fatalf("Classify at 100 confirmations = %+v, %v; want %+v", v, err, want)
		}
		txid, err := n.chain.SendRawTransaction(ctx, tx)
		if err != nil {
			t.Fatalf("spend at 100 confirmations: %v; want the node to take it", err)
		}
		// A larger maturity holds the block back.
		v, err = payout.Classify(ctx, n.chain, block1, 1, 101)
		if err != nil || v.State != payout.BlockPending || v.Confirmations != 100 {
			t.Fatalf("Classify with maturity 101 at 100 confirmations = %+v, %v; want pending", v, err)
		}

		mined := n.mineN(t, ctx, 1)[0]
		st, found, err := n.chain.TxStatus(ctx, txid, 100)
		if err != nil || !found || st.BlockHash != mined {
			t.Fatalf("TxStatus of the spend = %+v, %v, %v; want it in block 101 %s", st, found, err, mined)
		}
	})
}

// TestClassifyOrphanOnNode orphans a block on real nodes with
// invalidateblock (both btcd and Core have it): while the tip is below the
// block's height the verdict is unknown, once another block holds the
// height it is orphaned; BlockInfo reports the block off the main chain
// with confirmations -1 on both nodes (btcd answers an error there, which
// BlockInfo normalises).
func TestClassifyOrphanOnNode(t *testing.T) {
	onEachNode(t, func(t *testing.T, n *testNode) {
		ctx := testCtx(t)
		hashes := n.mineN(t, ctx, 101)
		orphan := hashes[100]
		v, err := payout.Classify(ctx, n.chain, orphan, 101, payout.CoinbaseMaturity)
		if want := (payout.Verdict{State: payout.BlockPending, Confirmations: 1, Tip: 101}); err != nil || v != want {
			t.Fatalf("Classify(tip) = %+v, %v; want %+v", v, err, want)
		}

		if err := n.raw(ctx, "invalidateblock", orphan); err != nil {
			t.Fatalf("invalidateblock: %v", err)
		}
		v, err = payout.Classify(ctx, n.chain, orphan, 101, payout.CoinbaseMaturity)
		if want := (payout.Verdict{State: payout.BlockUnknown, Tip: 100}); err != nil || v != want {
			t.Fatalf("Classify with the tip below the block = %+v, %v; want %+v", v, err, want)
		}
		wantOffChain(t, ctx, n, orphan, 101)

		// The replacement holds a transaction, so that it cannot be the
		// invalidated block mined again.
		prev, value := coinbaseOutput(t, ctx, n, hashes[0])
		if _, err := n.chain.SendRawTransaction(ctx, spend(t, prev, value, 2, 1000)); err != nil {
			t.Fatalf("SendRawTransaction: %v", err)
		}
		replacement := n.mineN(t, ctx, 1)[0]
		if replacement == orphan {
			t.Fatal("the node mined the invalidated block again")
		}
		v, err = payout.Classify(ctx, n.chain, orphan, 101, payout.CoinbaseMaturity)
		if want := (payout.Verdict{State: payout.BlockOrphaned, Tip: 101}); err != nil || v != want {
			t.Fatalf("Classify(orphan) = %+v, %v; want %+v", v, err, want)
		}
		wantOffChain(t, ctx, n, orphan, 101)
		v, err = payout.Classify(ctx, n.chain, replacement, 101, payout.CoinbaseMaturity)
		if err != nil || v.State != payout.BlockPending || v.Confirmations != 1 {
			t.Fatalf("Classify(replacement) = %+v, %v; want pending with 1 confirmation", v, err)
		}
		// A block the node never knew, at a height its chain has.
		v, err = payout.Classify(ctx, n.chain, unknownHash, 50, payout.CoinbaseMaturity)
		if err != nil || v.State != payout.BlockOrphaned {
			t.Fatalf("Classify(unknown block at 50) = %+v, %v; want orphaned", v, err)
		}

		// A side branch two blocks long: btcd's heights come from walking
		// back to the main chain. The new block 102 again holds a
		// transaction (block 2's coinbase is mature at tip 101).
		branch := n.mineN(t, ctx, 2)
		if err := n.raw(ctx, "invalidateblock", branch[0]); err != nil {
			t.Fatalf("invalidateblock: %v", err)
		}
		prev, value = coinbaseOutput(t, ctx, n, hashes[1])
		if _, err := n.chain.SendRawTransaction(ctx, spend(t, prev, value, 2, 1000)); err != nil {
			t.Fatalf("SendRawTransaction: %v", err)
		}
		n.mineN(t, ctx, 1)
		wantOffChain(t, ctx, n, branch[0], 102)
		wantOffChain(t, ctx, n, branch[1], 103)
	})
}

// wantOffChain fails t unless BlockInfo says the block with hash is known
// at height, off the main chain.
func wantOffChain(t *testing.T, ctx context.Context, n *testNode, hash string, height int64) {
	t.Helper()
	info, found, err := n.chain.BlockInfo(ctx, hash)
	if want := (payout.BlockInfo{Height: height, Confirmations: -1}); err != nil || !found || info != want {
		t.Fatalf("BlockInfo(block %d off the main chain) = %+v, %v, %v; want %+v", height, info, found, err, want)
	}
}

// fakeChain is a node for Classify's unit tests: a main chain of hashes
// by height, and errors to answer with.
type fakeChain struct {
	hashes  []string // hashes[h] is the block at height h; the tip is the last
	tipErr  error
	hashErr error
}

func (f *fakeChain) Tip(context.Context) (int64, string, error) {
	if f.tipErr != nil {
		return 0, "", f.tipErr
	}
	return int64(len(f.hashes) - 1), f.hashes[len(f.hashes)-1], nil
}

func (f *fakeChain) BlockHash(_ context.Context, h int64) (string, error) {
	if f.hashErr != nil {
		return "", f.hashErr
	}
	if h >= int64(len(f.hashes)) {
		return "", payout.ErrAboveTip
	}
	return f.hashes[h], nil
}

// chainOf returns a fake main chain from height 0 to tip, whose block at
// height h has the hash hashAt(h).
func chainOf(tip int) *fakeChain {
	f := &fakeChain{}
	for h := range tip + 1 {
		f.hashes = append(f.hashes, hashAt(h))
	}
	return f
}

func hashAt(h int) string { return fmt.Sprintf("abcd%060x", h) }

// TestClassify covers the rule with a stand-in node: every state, the
// boundaries of maturity, and the errors.
func TestClassify(t *testing.T) {
	nodeDown := errors.New("connection refused")
	ours := hashAt(500)
	other := strings.Repeat("f", 64)
	tests := []struct {
		name     string
		chain    *fakeChain
		hash     string
		height   int64
		maturity int64
		want     payout.Verdict
		wantErr  bool
	}{
		{name: "node behind", chain: chainOf(499), hash: ours, height: 500, maturity: 100,
			want: payout.Verdict{State: payout.BlockUnknown, Tip: 499}},
		{name: "tip is the block", chain: chainOf(500), hash: ours, height: 500, maturity: 100,
			want: payout.Verdict{State: payout.BlockPending, Confirmations: 1, Tip: 500}},
		{name: "one short of maturity", chain: chainOf(598), hash: ours, height: 500, maturity: 100,
			want: payout.Verdict{State: payout.BlockPending, Confirmations: 99, Tip: 598}},
		{name: "exactly maturity", chain: chainOf(599), hash: ours, height: 500, maturity: 100,
			want: payout.Verdict{State: payout.BlockMature, Confirmations: 100, Tip: 599}},
		{name: "beyond maturity", chain: chainOf(700), hash: ours, height: 500, maturity: 100,
			want: payout.Verdict{State: payout.BlockMature, Confirmations: 201, Tip: 700}},
		{name: "larger maturity", chain: chainOf(599), hash: ours, height: 500, maturity: 120,
			want: payout.Verdict{State: payout.BlockPending, Confirmations: 100, Tip: 599}},
		{name: "hash in upper case", chain: chainOf(599), hash: strings.ToUpper(ours), height: 500, maturity: 100,
			want: payout.Verdict{State: payout.BlockMature, Confirmations: 100, Tip: 599}},
		{name: "another block at the height", chain: chainOf(500), hash: other, height: 500, maturity: 100,
			want: payout.Verdict{State: payout.BlockOrphaned, Tip: 500}},
		{name: "another block, deep", chain: chainOf(900), hash: other, height: 500, maturity: 100,
			want: payout.Verdict{State: payout.BlockOrphaned, Tip: 900}},
		{name: "chain shortened between the calls", chain: &fakeChain{hashes: []string{hashAt(0)}, hashErr: payout.ErrAboveTip},
			hash: ours, height: 0, maturity: 100, want: payout.Verdict{State: payout.BlockUnknown, Tip: 0}},
		{name: "maturity below consensus", chain: chainOf(700), hash: ours, height: 500, maturity: 99, wantErr: true},
		{name: "negative height", chain: chainOf(700), hash: ours, height: -1, maturity: 100, wantErr: true},
		{name: "not a hash", chain: chainOf(700), hash: "xyz", height: 500, maturity: 100, wantErr: true},
		{name: "tip fails", chain: &fakeChain{tipErr: nodeDown}, hash: ours, height: 500, maturity: 100, wantErr: true},
		{name: "block hash fails", chain: &fakeChain{hashes: chainOf(600).hashes, hashErr: nodeDown}, hash: ours, height: 500, maturity: 100, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := payout.Classify(context.Background(), tc.chain, tc.hash, tc.height, tc.maturity)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Classify = %+v; want an error", v)
				}
				return
			}
			if err != nil || v != tc.want {
				t.Fatalf("Classify = %+v, %v; want %+v", v, err, tc.want)
			}
		})
	}
}

func TestBlockStateString(t *testing.T) {
	for s, want := range map[payout.BlockState]string{
		payout.BlockUnknown: "unknown", payout.BlockPending: "pending", payout.BlockMature: "mature",
		payout.BlockOrphaned: "orphaned", payout.BlockState(9): "BlockState(9)",
	} {
		if got := s.String(); got != want {
			t.Errorf("BlockState(%d).String() = %q; want %q", int(s), got, want)
		}
	}
}
