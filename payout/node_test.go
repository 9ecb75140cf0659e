package payout_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/localnet/localnettest"
	"github.com/tarbela-pool/tarbela/payout"
	"github.com/tarbela-pool/tarbela/pool"
)

// minerSeed is the key the test nodes' coinbases pay
// (localnet.RegtestAddress(minerSeed)), so that the tests can spend them.
const minerSeed = 7

// regtestHalving is regtest's subsidy halving interval.
var regtestHalving = int64(chaincfg.RegressionNetParams.SubsidyReductionInterval)

// testNode is a real regtest node, btcd or Bitcoin Core, with the payout
// job's view of it.
type testNode struct {
	name  string
	rpc   *pool.RPCClient
	chain *payout.Chain
	// raw makes a call the payout job does not make (invalidateblock).
	raw func(ctx context.Context, method string, params ...any) error
	// mine mines n blocks paying RegtestAddress(minerSeed).
	mine func(ctx context.Context, n int) ([]string, error)
}

// onEachNode runs f as subtest "btcd" against a fresh btcd regtest node,
// then as subtest "core" against a fresh Bitcoin Core regtest node (skipped
// where the machine has no bitcoind).
func onEachNode(t *testing.T, f func(t *testing.T, n *testNode)) {
	t.Run("btcd", func(t *testing.T) { f(t, startBtcd(t)) })
	t.Run("core", func(t *testing.T) {
		if testing.Short() {
			t.Skip("skipping the Bitcoin Core test in -short mode")
		}
		f(t, startCore(t))
	})
}

func startBtcd(t *testing.T) *testNode {
	t.Helper()
	b := localnettest.StartBtcd(t, localnet.BtcdOptions{MiningAddr: localnet.RegtestAddress(minerSeed)})
	c, err := pool.NewRPCClient("btcd", b.URL(), b.User, b.Pass, 30*time.Second)
	if err != nil {
		t.Fatalf("NewRPCClient: %v", err)
	}
	t.Cleanup(c.Close)
	return &testNode{
		name: "btcd", rpc: c, chain: payout.NewChain(c),
		raw: func(ctx context.Context, method string, params ...any) error {
			_, err := b.Call(ctx, method, params...)
			return err
		},
		mine: c.Generate,
	}
}

func startCore(t *testing.T) *testNode {
	t.Helper()
	b := localnettest.StartBitcoind(t, localnet.BitcoindOptions{})
	c, err := pool.NewCookieRPCClient("core", b.URL(), b.CookieFile, 30*time.Second)
	if err != nil {
		t.Fatalf("NewCookieRPCClient: %v", err)
	}
	t.Cleanup(c.Close)
	addr := localnet.RegtestAddress(minerSeed)
	return &testNode{
		name: "core", rpc: c, chain: payout.NewChain(c),
		raw: func(ctx context.Context, method string, params ...any) error {
			_, err := b.Call(ctx, method, params...)
			return err
		},
		mine: func(ctx context.Context, n int) ([]string, error) { return c.GenerateToAddress(ctx, n, addr) },
	}
}

// mineN mines n blocks and returns their hashes.
func (n *testNode) mineN(t *testing.T, ctx context.Context, count int) []string {
	t.Helper()
	hashes, err := n.mine(ctx, count)
	if err != nil || len(hashes) != count {
		t.Fatalf("%s: mine %d blocks: %d hashes, %v", n.name, count, len(hashes), err)
	}
	return hashes
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// coinbaseOutput returns output 0 of the coinbase of the block with hash,
// which pays the test key.
func coinbaseOutput(t *testing.T, ctx context.Context, n *testNode, hash string) (wire.OutPoint, int64) {
	t.Helper()
	b, err := n.chain.RawBlock(ctx, hash)
	if err != nil {
		t.Fatalf("RawBlock(%s): %v", hash, err)
	}
	cb := b.Transactions[0]
	if !bytes.Equal(cb.TxOut[0].PkScript, p2wpkh(minerSeed)) {
		t.Fatalf("block %s: coinbase output 0 pays %x, not the test key", hash, cb.TxOut[0].PkScript)
	}
	return wire.OutPoint{Hash: cb.TxHash(), Index: 0}, cb.TxOut[0].Value
}

// spend returns a transaction, signed with the test key, that spends prev
// (value satoshis paying the test key) to RegtestAddress(toSeed), leaving
// fee satoshis to the miner. It is the smallest P2WPKH spend the tests
// need, not the pool's wallet.
func spend(t *testing.T, prev wire.OutPoint, value int64, toSeed byte, fee int64) *wire.MsgTx {
	t.Helper()
	prevScript := p2wpkh(minerSeed)
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&prev, nil, nil))
	tx.AddTxOut(wire.NewTxOut(value-fee, p2wpkh(toSeed)))
	hashes := txscript.NewTxSigHashes(tx, txscript.NewCannedPrevOutputFetcher(prevScript, value))
	wit, err := txscript.WitnessSignature(tx, hashes, 0, value, prevScript, txscript.SigHashAll, localnet.RegtestKey(minerSeed), true)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	tx.TxIn[0].Witness = wit
	return tx
}

// p2wpkh returns the output script that pays RegtestAddress(seed).
func p2wpkh(seed byte) []byte {
	h := address.Hash160(localnet.RegtestKey(seed).PubKey().SerializeCompressed())
	return append([]byte{txscript.OP_0, txscript.OP_DATA_20}, h...)
}
