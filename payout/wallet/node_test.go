package wallet

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/localnet/localnettest"
)

// These tests pay batches on real regtest nodes: btcd, which the module
// pins as a tool, and Bitcoin Core where the machine has it.

// node is what the tests use of a regtest node (localnet's Btcd and
// Bitcoind).
type node interface {
	Call(ctx context.Context, method string, params ...any) (json.RawMessage, error)
}

// call makes an RPC call and decodes its result into out (when not nil).
func call(t *testing.T, n node, out any, method string, params ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	raw, err := n.Call(ctx, method, params...)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: result %s: %v", method, raw, err)
		}
	}
}

// block returns the block with hash, read as the payout job reads it
// (getblock <hash> 0, decoded with wire).
func block(t *testing.T, n node, hash string) *wire.MsgBlock {
	t.Helper()
	var h string
	call(t, n, &h, "getblock", hash, 0)
	raw, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var b wire.MsgBlock
	if err := b.Deserialize(bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	return &b
}

// coinbase returns output 0 of the coinbase of the block at height.
func coinbase(t *testing.T, n node, height int) UTXO {
	t.Helper()
	var hash string
	call(t, n, &hash, "getblockhash", height)
	cb := block(t, n, hash).Transactions[0]
	return UTXO{TxID: cb.TxHash().String(), Vout: 0, Value: cb.TxOut[0].Value, PkScript: cb.TxOut[0].PkScript}
}

// outputOf is output vout of a transaction the tests made.
func outputOf(msg *wire.MsgTx, vout uint32) UTXO {
	o := msg.TxOut[vout]
	return UTXO{TxID: msg.TxHash().String(), Vout: vout, Value: o.Value, PkScript: o.PkScript}
}

func txHex(t *testing.T, msg *wire.MsgTx) string { return hex.EncodeToString(serialize(t, msg)) }

// send broadcasts msg with sendrawtransaction and checks the txid.
func send(t *testing.T, n node, msg *wire.MsgTx) {
	t.Helper()
	var txid string
	call(t, n, &txid, "sendrawtransaction", txHex(t, msg))
	if txid != msg.TxHash().String() {
		t.Fatalf("the node took %s, the transaction is %s", txid, msg.TxHash())
	}
}

// confirmed checks that the block at hash holds msg as the node has it, and
// that each account of tx received exactly its amount at its address and
// the fee is tx.Fee.
func confirmed(t *testing.T, n node, hash string, tx *Tx, msg *wire.MsgTx) {
	t.Helper()
	var got *wire.MsgTx
	for _, btx := range block(t, n, hash).Transactions {
		if btx.TxHash() == msg.TxHash() {
			got = btx
		}
	}
	if got == nil {
		t.Fatalf("block %s does not hold %s", hash, msg.TxHash())
	}
	if !bytes.Equal(serialize(t, got), serialize(t, msg)) {
		t.Error("the transaction in the block differs from the one sent")
	}
	var out int64
	for i, o := range tx.Outputs {
		if got.TxOut[i].Value != o.Amount || !bytes.Equal(got.TxOut[i].PkScript, scriptOf(t, o.Address)) {
			t.Errorf("account %s: the block pays %d sat to %x, want %d sat to %s", o.Account, got.TxOut[i].Value, got.TxOut[i].PkScript, o.Amount, o.Address)
		}
		out += got.TxOut[i].Value
	}
	if tx.Change > 0 {
		out += got.TxOut[len(tx.Outputs)].Value
	}
	var in int64
	for _, u := range tx.Inputs {
		in += u.Value
	}
	if in-out != tx.Fee {
		t.Errorf("fee on chain %d sat, computed %d", in-out, tx.Fee)
	}
}

// checkVSize compares the node's virtual size of the signed transaction
// with the estimate its fee was computed for: never above it, and a real
// signature is at most 3 bytes shorter than the largest (P2PKH: that many
// vbytes; P2WPKH: a quarter).
func checkVSize(t *testing.T, tx *Tx, nodeVSize int64) {
	t.Helper()
	var slack int64
	for _, u := range tx.Inputs {
		if k, _ := spendKind(u.PkScript); k == kindP2PKH {
			slack += 3
		} else {
			slack++
		}
	}
	t.Logf("%s: %d vB at the node, %d vB estimated, fee %d sat", tx.Msg.TxHash(), nodeVSize, tx.VSize, tx.Fee)
	if nodeVSize > tx.VSize || tx.VSize-nodeVSize > slack {
		t.Errorf("the node sizes the transaction at %d vB, the estimate is %d vB (slack %d)", nodeVSize, tx.VSize, slack)
	}
}

// TestBatchOnBtcd pays batches on a btcd regtest node that mines to the
// payout key: three accounts from matured coinbase outputs (hot mode), then
// P2PKH and mixed inputs, then a batch through a PSBT (cold mode).
func TestBatchOnBtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts btcd")
	}
	key := testKey(t, 1)
	b := localnettest.StartBtcd(t, localnet.BtcdOptions{MiningAddr: key.Address()})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// 104 blocks: the coinbases of heights 1 to 5 can be spent in block 105.
	if _, err := b.Generate(ctx, 104); err != nil {
		t.Fatal(err)
	}
	mine := func() string {
		h, err := b.Generate(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		return h[0]
	}
	mempoolVSize := func(msg *wire.MsgTx) int64 {
		var r struct{ Vsize int64 }
		call(t, b, &r, "getrawtransaction", msg.TxHash().String(), 1)
		return r.Vsize
	}
	hot := func(inputs []UTXO, outputs []Output, rate float64) *Tx {
		t.Helper()
		tx, err := Build(inputs, outputs, key.Address(), rate, regtest)
		if err != nil {
			t.Fatal(err)
		}
		if err := Sign(tx, key); err != nil {
			t.Fatal(err)
		}
		send(t, b, tx.Msg)
		checkVSize(t, tx, mempoolVSize(tx.Msg))
		confirmed(t, b, mine(), tx, tx.Msg)
		return tx
	}

	var change UTXO
	t.Run("three accounts from coinbases", func(t *testing.T) {
		in := []UTXO{coinbase(t, b, 1), coinbase(t, b, 2)}
		for _, u := range in {
			if u.Value != 50*coin || !bytes.Equal(u.PkScript, scriptOf(t, key.Address())) {
				t.Fatalf("coinbase %s pays %d sat to %x, want 50 BTC to the key", u, u.Value, u.PkScript)
			}
		}
		tx := hot(in, []Output{
			{Account: "alice", Address: addrOf(t, "p2wpkh", 2, regtest), Amount: 150_000_000},
			{Account: "bob", Address: addrOf(t, "p2pkh", 3, regtest), Amount: 30_000_000},
			{Account: "carol", Address: addrOf(t, "p2tr", 4, regtest), Amount: 2_000_000},
		}, 2.5)
		if want := int64(math.Ceil(float64(tx.VSize) * 2.5)); tx.Fee != want || tx.Change <= 0 {
			t.Errorf("fee %d change %d, want fee %d and change", tx.Fee, tx.Change, want)
		}
		change = outputOf(tx.Msg, 3)
	})
	t.Run("P2PKH and mixed inputs", func(t *testing.T) {
		if change.TxID == "" {
			t.Skip("no change from the first batch")
		}
		// Pay the key's own P2PKH address, then spend that output with a
		// P2WPKH one.
		legacy := addrOf(t, "p2pkh", 1, regtest)
		tx := hot([]UTXO{change, coinbase(t, b, 3)}, []Output{{Account: "legacy", Address: legacy, Amount: 5 * coin}}, 1)
		tx2 := hot([]UTXO{outputOf(tx.Msg, 0), outputOf(tx.Msg, 1)}, []Output{
			{Account: "dave", Address: addrOf(t, "p2wsh", 5, regtest), Amount: coin},
			{Account: "erin", Address: addrOf(t, "p2sh", 6, regtest), Amount: coin / 2},
		}, 3)
		if len(tx2.Msg.TxIn[0].SignatureScript) == 0 || len(tx2.Msg.TxIn[1].Witness) != 2 {
			t.Error("the mixed batch was not signed with a scriptSig and a witness")
		}
	})
	t.Run("PSBT", func(t *testing.T) {
		tx, err := Build([]UTXO{coinbase(t, b, 4), coinbase(t, b, 5)}, []Output{
			{Account: "frank", Address: addrOf(t, "p2wpkh", 7, regtest), Amount: 7 * coin},
			{Account: "grace", Address: addrOf(t, "p2tr", 8, regtest), Amount: 3 * coin},
		}, key.Address(), 2, regtest)
		if err != nil {
			t.Fatal(err)
		}
		psbt, err := NewPSBT(tx)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := FinalizePSBT(offlineSign(t, psbt, key, partialSigs, txscript.SigHashAll), tx)
		if err != nil {
			t.Fatal(err)
		}
		send(t, b, msg)
		checkVSize(t, tx, mempoolVSize(msg))
		confirmed(t, b, mine(), tx, msg)
	})
}

// TestBatchOnBitcoinCore pays batches on Bitcoin Core (skipped where the
// machine has none): hot mode with a P2PKH and a P2WPKH coinbase, a PSBT
// Core reads and accepts once signed, and a PSBT Core itself signs as the
// offline signer (descriptorprocesspsbt with the key's descriptor).
func TestBatchOnBitcoinCore(t *testing.T) {
	if testing.Short() {
		t.Skip("starts bitcoind")
	}
	c := localnettest.StartBitcoind(t, localnet.BitcoindOptions{})
	key := testKey(t, 1)
	legacy := addrOf(t, "p2pkh", 1, regtest)
	call(t, c, nil, "generatetoaddress", 1, legacy)
	// 105 blocks: the coinbases of heights 1 to 6 can be spent in block 106.
	call(t, c, nil, "generatetoaddress", 104, key.Address())
	mine := func() string {
		var h []string
		call(t, c, &h, "generatetoaddress", 1, key.Address())
		return h[0]
	}
	accept := func(msg *wire.MsgTx) int64 {
		t.Helper()
		var r []struct {
			Allowed      bool
			Vsize        int64
			RejectReason string `json:"reject-reason"`
		}
		call(t, c, &r, "testmempoolaccept", []string{txHex(t, msg)})
		if len(r) != 1 || !r[0].Allowed {
			t.Fatalf("testmempoolaccept: %+v", r)
		}
		return r[0].Vsize
	}
	build := func(inputs []UTXO, outputs []Output) *Tx {
		t.Helper()
		tx, err := Build(inputs, outputs, key.Address(), 4, regtest)
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}

	t.Run("hot, P2PKH and P2WPKH coinbases", func(t *testing.T) {
		in := []UTXO{coinbase(t, c, 1), coinbase(t, c, 2)}
		if !bytes.Equal(in[0].PkScript, scriptOf(t, legacy)) {
			t.Fatalf("coinbase 1 pays %x, want the key's P2PKH", in[0].PkScript)
		}
		tx := build(in, []Output{
			{Account: "alice", Address: addrOf(t, "p2wpkh", 2, regtest), Amount: 150_000_000},
			{Account: "bob", Address: addrOf(t, "p2pkh", 3, regtest), Amount: 30_000_000},
			{Account: "carol", Address: addrOf(t, "p2tr", 4, regtest), Amount: 2_000_000},
		})
		if err := Sign(tx, key); err != nil {
			t.Fatal(err)
		}
		checkVSize(t, tx, accept(tx.Msg))
		send(t, c, tx.Msg)
		confirmed(t, c, mine(), tx, tx.Msg)
	})
	t.Run("PSBT signed offline", func(t *testing.T) {
		tx := build([]UTXO{coinbase(t, c, 3)}, []Output{{Account: "dave", Address: addrOf(t, "p2wsh", 5, regtest), Amount: coin}})
		psbt, err := NewPSBT(tx)
		if err != nil {
			t.Fatal(err)
		}
		// Core reads the PSBT as the batch.
		var d struct {
			Tx     struct{ Txid string }
			Inputs []struct {
				WitnessUTXO struct{ Amount float64 } `json:"witness_utxo"`
			}
			Fee float64
		}
		call(t, c, &d, "decodepsbt", base64.StdEncoding.EncodeToString(psbt))
		if d.Tx.Txid != tx.Msg.TxHash().String() || len(d.Inputs) != 1 ||
			d.Inputs[0].WitnessUTXO.Amount != 50 || int64(math.Round(d.Fee*coin)) != tx.Fee {
			t.Errorf("decodepsbt: %+v; want txid %s, one input of 50 BTC, fee %d sat", d, tx.Msg.TxHash(), tx.Fee)
		}
		msg, err := FinalizePSBT(offlineSign(t, psbt, key, partialSigs, txscript.SigHashAll), tx)
		if err != nil {
			t.Fatal(err)
		}
		checkVSize(t, tx, accept(msg))
	})
	t.Run("PSBT signed by Core", func(t *testing.T) {
		tx := build([]UTXO{coinbase(t, c, 4), coinbase(t, c, 5)}, []Output{
			{Account: "erin", Address: addrOf(t, "p2sh", 6, regtest), Amount: 2 * coin},
			{Account: "frank", Address: addrOf(t, "p2wpkh", 7, regtest), Amount: coin},
		})
		psbt, err := NewPSBT(tx)
		if err != nil {
			t.Fatal(err)
		}
		desc := "wpkh(" + testWIF(t, 1, regtest, true) + ")"
		var info struct{ Checksum string }
		call(t, c, &info, "getdescriptorinfo", desc)
		desc += "#" + info.Checksum
		var txs []*wire.MsgTx
		for _, finalize := range []bool{false, true} {
			var r struct {
				PSBT     string
				Complete bool
				Hex      string
			}
			call(t, c, &r, "descriptorprocesspsbt", base64.StdEncoding.EncodeToString(psbt), []string{desc}, "ALL", true, finalize)
			if r.Complete != finalize {
				t.Fatalf("finalize %v: complete %v", finalize, r.Complete)
			}
			msg, err := FinalizePSBT([]byte(r.PSBT), tx)
			if err != nil {
				t.Fatalf("finalize %v: %v", finalize, err)
			}
			if finalize && txHex(t, msg) != r.Hex {
				t.Errorf("Core extracts %s, FinalizePSBT %s", r.Hex, txHex(t, msg))
			}
			checkVSize(t, tx, accept(msg))
			txs = append(txs, msg)
		}
		if txs[0].WitnessHash() != txs[1].WitnessHash() {
			t.Error("Core's partial and final signatures finalize to different transactions")
		}
		send(t, c, txs[1])
		confirmed(t, c, mine(), tx, txs[1])
	})
}
