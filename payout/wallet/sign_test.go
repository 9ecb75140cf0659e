package wallet

import (
	"bytes"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"
)

// mixedBatch builds a batch spending a P2WPKH and a P2PKH output of key
// seed 1, paying three accounts.
func mixedBatch(t testing.TB) (*Tx, *Key) {
	t.Helper()
	key := testKey(t, 1)
	inputs := []UTXO{
		fakeUTXO(t, 1, 50*coin, key.Address()),
		fakeUTXO(t, 2, 50*coin, addrOf(t, "p2pkh", 1, regtest)),
	}
	outputs := []Output{
		{Account: "alice", Address: addrOf(t, "p2wpkh", 2, regtest), Amount: 12 * coin},
		{Account: "bob", Address: addrOf(t, "p2pkh", 3, regtest), Amount: 3 * coin},
		{Account: "carol", Address: addrOf(t, "p2tr", 4, regtest), Amount: 70_000},
	}
	tx, err := Build(inputs, outputs, key.Address(), 3, regtest)
	if err != nil {
		t.Fatal(err)
	}
	return tx, key
}

func serialize(t testing.TB, msg *wire.MsgTx) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := msg.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSign(t *testing.T) {
	tx, key := mixedBatch(t)
	if err := Sign(tx, key); err != nil {
		t.Fatal(err)
	}
	if len(tx.Msg.TxIn[0].Witness) != 2 || len(tx.Msg.TxIn[0].SignatureScript) != 0 {
		t.Error("the P2WPKH input has no witness of two items, or a scriptSig")
	}
	if len(tx.Msg.TxIn[1].Witness) != 0 || len(tx.Msg.TxIn[1].SignatureScript) == 0 {
		t.Error("the P2PKH input has a witness, or no scriptSig")
	}
	// At most VSize, and the largest signatures cost at most 2 bytes more
	// per scriptSig and half a byte more per witness than real ones.
	if vs := signedVSize(tx.Msg); vs > tx.VSize || tx.VSize-vs > 3 {
		t.Errorf("signed %d vB, estimated %d vB", vs, tx.VSize)
	}
}

// TestSignDeterministic: signing the same batch twice, or a batch built
// again from the same inputs, gives the same transaction, byte for byte.
func TestSignDeterministic(t *testing.T) {
	tx, key := mixedBatch(t)
	if err := Sign(tx, key); err != nil {
		t.Fatal(err)
	}
	first := serialize(t, tx.Msg)
	txid, wtxid := tx.Msg.TxHash(), tx.Msg.WitnessHash()
	if err := Sign(tx, key); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(serialize(t, tx.Msg), first) {
		t.Error("signing the same Tx again changed it")
	}
	again, _ := mixedBatch(t)
	if err := Sign(again, key); err != nil {
		t.Fatal(err)
	}
	if again.Msg.TxHash() != txid || again.Msg.WitnessHash() != wtxid || !bytes.Equal(serialize(t, again.Msg), first) {
		t.Errorf("the rebuilt batch signs to %s, the first to %s", again.Msg.TxHash(), txid)
	}
}

func TestSignRefuses(t *testing.T) {
	cases := []struct {
		name   string
		change func(tx *Tx) *Key
		is     error
		want   []string
	}{
		{"another key", func(tx *Tx) *Key { return testKey(t, 7) }, nil,
			[]string{"input 0 (" + fakeUTXO(t, 1, 0, addrOf(t, "p2wpkh", 1, regtest)).String() + ") pays " + addrOf(t, "p2wpkh", 1, regtest),
				"which the payout key (" + addrOf(t, "p2wpkh", 7, regtest) + ") cannot sign"}},
		{"no key", func(tx *Tx) *Key { return nil }, nil, []string{"no key"}},
		{"an output changed after Build", func(tx *Tx) *Key {
			tx.Msg.TxOut[0].Value++
			return testKey(t, 1)
		}, nil, []string{"output 0 pays 1200000001 sat, its record 1200000000"}},
		{"an input swapped after Build", func(tx *Tx) *Key {
			tx.Inputs[0], tx.Inputs[1] = tx.Inputs[1], tx.Inputs[0]
			return testKey(t, 1)
		}, nil, []string{"input 0 spends"}},
		{"an amount spent changed after Build", func(tx *Tx) *Key {
			tx.Inputs[0].Value++
			return testKey(t, 1)
		}, nil, []string{"the recorded fee"}},
		{"a Tx not made by Build", func(tx *Tx) *Key {
			tx.net = nil
			return testKey(t, 1)
		}, nil, []string{"not made by Build"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tx, _ := mixedBatch(t)
			key := tc.change(tx)
			wantErr(t, Sign(tx, key), tc.is, tc.want...)
			for i, in := range tx.Msg.TxIn {
				if len(in.Witness) != 0 || len(in.SignatureScript) != 0 {
					t.Errorf("input %d is left signed", i)
				}
			}
		})
	}
}

// TestVerifyCatchesBadSignature: the check Sign runs after signing refuses a
// transaction whose signature was changed.
func TestVerifyCatchesBadSignature(t *testing.T) {
	tx, key := mixedBatch(t)
	if err := Sign(tx, key); err != nil {
		t.Fatal(err)
	}
	tx.Msg.TxIn[0].Witness[0][10] ^= 1
	wantErr(t, verify(tx, tx.Msg, prevOutFetcher(tx), nil), ErrBadSignature, "input 0 ("+tx.Inputs[0].String()+")")
}
