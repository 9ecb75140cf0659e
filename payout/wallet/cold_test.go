package wallet

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// signMode is how offlineSign leaves its signatures.
type signMode int

const (
	partialSigs signMode = iota // PSBT_IN_PARTIAL_SIG, as a signer
	finalized                   // PSBT_IN_FINAL_SCRIPTWITNESS, as a signer that also finalizes
)

// offlineSign signs every input of a PSBT with key as an offline signer
// would: from the PSBT alone (its transaction and witness UTXOs), BIP 143,
// with the sighash type given.
func offlineSign(t testing.TB, psbt []byte, key *Key, mode signMode, hashType txscript.SigHashType) []byte {
	t.Helper()
	p, err := decodePSBT(psbt)
	if err != nil {
		t.Fatal(err)
	}
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	utxos := make([]*wire.TxOut, len(p.inputs))
	for i, m := range p.inputs {
		in, err := readInput(m)
		if err != nil || in.witnessUTXO == nil {
			t.Fatalf("input %d: %v, witness UTXO %v", i, err, in)
		}
		utxos[i] = in.witnessUTXO
		fetcher.AddPrevOut(p.tx.TxIn[i].PreviousOutPoint, in.witnessUTXO)
	}
	hashes := txscript.NewTxSigHashes(p.tx, fetcher)
	for i, u := range utxos {
		sig, err := txscript.RawTxInWitnessSignature(p.tx, hashes, i, u.Value, u.PkScript, hashType, key.priv)
		if err != nil {
			t.Fatal(err)
		}
		switch mode {
		case partialSigs:
			p.inputs[i] = append(p.inputs[i], pair{key: append([]byte{inPartialSig}, key.pub...), value: sig})
		case finalized:
			p.inputs[i] = append(p.inputs[i], pair{key: []byte{inFinalWitness}, value: witnessBytes(sig, key.pub)})
		}
	}
	return p.encode()
}

// witnessBytes serializes a script witness as PSBT_IN_FINAL_SCRIPTWITNESS
// holds it.
func witnessBytes(items ...[]byte) []byte {
	var b bytes.Buffer
	_ = wire.WriteVarInt(&b, 0, uint64(len(items)))
	for _, it := range items {
		writeBytes(&b, it)
	}
	return b.Bytes()
}

// coldBatch is a batch of three accounts spending two P2WPKH outputs of
// key seed 1.
func coldBatch(t testing.TB, edit func(in []UTXO, out []Output) ([]UTXO, []Output)) *Tx {
	t.Helper()
	key := testKey(t, 1)
	in := []UTXO{fakeUTXO(t, 1, 50*coin, key.Address()), fakeUTXO(t, 2, 50*coin, key.Address())}
	out := []Output{
		{Account: "alice", Address: addrOf(t, "p2wpkh", 2, regtest), Amount: 12 * coin},
		{Account: "bob", Address: addrOf(t, "p2pkh", 3, regtest), Amount: 3 * coin},
		{Account: "carol", Address: addrOf(t, "p2tr", 4, regtest), Amount: 70_000},
	}
	if edit != nil {
		in, out = edit(in, out)
	}
	tx, err := Build(in, out, key.Address(), 2, regtest)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func newPSBT(t testing.TB, tx *Tx) []byte {
	t.Helper()
	b, err := NewPSBT(tx)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewPSBT(t *testing.T) {
	tx := coldBatch(t, nil)
	b := newPSBT(t, tx)
	p, err := parsePSBT(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.tx.TxHash() != tx.Msg.TxHash() {
		t.Errorf("the PSBT's transaction is %s, the batch's %s", p.tx.TxHash(), tx.Msg.TxHash())
	}
	for i, m := range p.inputs {
		in, err := readInput(m)
		if err != nil {
			t.Fatal(err)
		}
		if in.witnessUTXO == nil || in.witnessUTXO.Value != tx.Inputs[i].Value || !bytes.Equal(in.witnessUTXO.PkScript, tx.Inputs[i].PkScript) {
			t.Errorf("input %d: witness UTXO %v, want %d sat to %x", i, in.witnessUTXO, tx.Inputs[i].Value, tx.Inputs[i].PkScript)
		}
		if in.sighashType == nil || *in.sighashType != uint32(txscript.SigHashAll) {
			t.Errorf("input %d: sighash type %v, want SIGHASH_ALL", i, in.sighashType)
		}
	}
	if len(p.outputs) != len(tx.Msg.TxOut) {
		t.Errorf("%d output maps, want %d", len(p.outputs), len(tx.Msg.TxOut))
	}
	// Signing the batch in hot mode leaves the PSBT of the batch the same.
	if err := Sign(tx, testKey(t, 1)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(newPSBT(t, tx), b) {
		t.Error("the PSBT of the signed batch differs")
	}
}

func TestNewPSBTRefusesP2PKH(t *testing.T) {
	tx, _ := mixedBatch(t)
	_, err := NewPSBT(tx)
	wantErr(t, err, nil, "input 1 ("+tx.Inputs[1].String()+") pays "+addrOf(t, "p2pkh", 1, regtest), "P2WPKH outputs only")
	_, err = FinalizePSBT(nil, tx)
	wantErr(t, err, nil, "P2WPKH outputs only")
}

// TestFinalizePSBT: a PSBT signed offline finalizes to the transaction the
// hot mode signs, whether the signer left partial signatures or finalized,
// in binary or base64.
func TestFinalizePSBT(t *testing.T) {
	key := testKey(t, 1)
	hot := coldBatch(t, nil)
	if err := Sign(hot, key); err != nil {
		t.Fatal(err)
	}
	want := serialize(t, hot.Msg)
	for _, mode := range []signMode{partialSigs, finalized} {
		tx := coldBatch(t, nil)
		signed := offlineSign(t, newPSBT(t, tx), key, mode, txscript.SigHashAll)
		for _, in := range [][]byte{signed, []byte(base64.StdEncoding.EncodeToString(signed) + "\n")} {
			msg, err := FinalizePSBT(in, tx)
			if err != nil {
				t.Fatal(err)
			}
			if got := serialize(t, msg); !bytes.Equal(got, want) {
				t.Errorf("mode %d: finalized to %x, hot mode signs %x", mode, got, want)
			}
		}
		if len(tx.Msg.TxIn[0].Witness) != 0 {
			t.Error("FinalizePSBT signed want")
		}
	}
}

// TestFinalizePSBTRefuses: a PSBT that is not exactly the batch, or whose
// signatures do not hold, is refused with the difference named.
func TestFinalizePSBTRefuses(t *testing.T) {
	key := testKey(t, 1)
	want := coldBatch(t, nil)
	bob, carol := want.Outputs[1], want.Outputs[2]
	mallory := addrOf(t, "p2wpkh", 66, regtest)
	signedOther := func(edit func(in []UTXO, out []Output) ([]UTXO, []Output)) []byte {
		return offlineSign(t, newPSBT(t, coldBatch(t, edit)), key, partialSigs, txscript.SigHashAll)
	}
	signedWant := func(edit func(p *packet)) []byte {
		p, err := parsePSBT(offlineSign(t, newPSBT(t, want), key, partialSigs, txscript.SigHashAll))
		if err != nil {
			t.Fatal(err)
		}
		edit(p)
		return p.encode()
	}
	cases := []struct {
		name string
		psbt []byte
		is   error
		want []string
	}{
		{"pays another address", signedOther(func(in []UTXO, out []Output) ([]UTXO, []Output) {
			out[1].Address = mallory
			return in, out
		}), ErrPSBTMismatch, []string{fmt.Sprintf("output 1 pays %d sat to %s, the batch %d sat to %s (account \"bob\")", bob.Amount, mallory, bob.Amount, bob.Address)}},
		{"pays another amount", signedOther(func(in []UTXO, out []Output) ([]UTXO, []Output) {
			out[2].Amount++
			return in, out
		}), ErrPSBTMismatch, []string{fmt.Sprintf("output 2 pays %d sat to %s, the batch %d sat", carol.Amount+1, carol.Address, carol.Amount),
			"output 3 pays", "sat to " + key.Address() + " (change)"}},
		{"drops an output", signedOther(func(in []UTXO, out []Output) ([]UTXO, []Output) {
			return in, out[:2]
		}), ErrPSBTMismatch, []string{"3 outputs, the batch 4", "output 3 is missing: the batch pays", "(change)"}},
		{"adds an output", signedOther(func(in []UTXO, out []Output) ([]UTXO, []Output) {
			return in, append(out, Output{Account: "mallory", Address: mallory, Amount: coin})
		}), ErrPSBTMismatch, []string{"5 outputs, the batch 4", fmt.Sprintf("output 3 pays %d sat to %s, the batch", coin, mallory),
			"output 4 pays", "not in the batch"}},
		{"spends another input", signedOther(func(in []UTXO, out []Output) ([]UTXO, []Output) {
			in[1] = fakeUTXO(t, 5, 50*coin, key.Address())
			return in, out
		}), ErrPSBTMismatch, []string{"input 1 spends " + fakeUTXO(t, 5, 0, key.Address()).String() + ", the batch's " + want.Inputs[1].String()}},
		{"drops an input", signedOther(func(in []UTXO, out []Output) ([]UTXO, []Output) {
			return in[:1], out
		}), ErrPSBTMismatch, []string{"1 inputs, the batch 2", "input 1 (" + want.Inputs[1].String() + ") of the batch is missing"}},
		{"bad signature", signedWant(func(p *packet) {
			sig := p.inputs[1][len(p.inputs[1])-1].value
			sig[12] ^= 1
		}), ErrBadSignature, []string{"input 1 (" + want.Inputs[1].String() + ")"}},
		{"witness UTXO of another amount", signedWant(func(p *packet) {
			p.inputs[0][0].value[0] ^= 1
		}), ErrPSBTMismatch, []string{"input 0 (" + want.Inputs[0].String() + ")", "witness UTXO says 5000000001 sat"}},
		{"signed by another key", offlineSign(t, newPSBT(t, want), testKey(t, 9), partialSigs, txscript.SigHashAll),
			nil, []string{"input 0", "not signed by the payout key, only by 1 other key(s)"}},
		{"not signed", newPSBT(t, want), nil, []string{"input 0", "not signed"}},
		{"signed with SIGHASH_NONE", offlineSign(t, newPSBT(t, want), key, partialSigs, txscript.SigHashNone),
			nil, []string{"not SIGHASH_ALL"}},
		{"sighash type field ANYONECANPAY", signedWant(func(p *packet) {
			p.inputs[0][1].value[0] = byte(txscript.SigHashAll | txscript.SigHashAnyOneCanPay)
		}), nil, []string{"sighash type 0x81"}},
		{"a final witness of three items", func() []byte {
			p, _ := parsePSBT(newPSBT(t, want))
			p.inputs[0] = append(p.inputs[0], pair{key: []byte{inFinalWitness}, value: witnessBytes([]byte{1}, []byte{2}, []byte{3})})
			return p.encode()
		}(), nil, []string{"a final witness of 3 items"}},
		{"a final scriptSig", signedWant(func(p *packet) {
			p.inputs[0] = append(p.inputs[0], pair{key: []byte{inFinalScriptSig}, value: []byte{txscript.OP_TRUE}})
		}), nil, []string{"a final scriptSig"}},
		{"not a PSBT", []byte("hello"), ErrNotPSBT, nil},
		{"a network transaction", serialize(t, want.Msg), ErrNotPSBT, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := FinalizePSBT(tc.psbt, want)
			if err == nil {
				t.Fatalf("FinalizePSBT accepted it: %s", msg.TxHash())
			}
			wantErr(t, err, tc.is, tc.want...)
		})
	}
}

// TestSignPSBT: the offline signer's PSBT finalizes to the transaction hot
// mode would send; another key's signer is refused, naming the key.
func TestSignPSBT(t *testing.T) {
	tx := coldBatch(t, nil)
	signed, err := SignPSBT(newPSBT(t, tx), testKey(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	got, err := FinalizePSBT(signed, tx)
	if err != nil {
		t.Fatalf("FinalizePSBT: %v", err)
	}
	hot := *tx
	hot.Msg = tx.Msg.Copy()
	if err := Sign(&hot, testKey(t, 1)); err != nil {
		t.Fatal(err)
	}
	if got.TxHash() != hot.Msg.TxHash() || got.WitnessHash() != hot.Msg.WitnessHash() {
		t.Fatal("the offline signer's transaction differs from hot mode's")
	}
	if _, err := SignPSBT(newPSBT(t, tx), testKey(t, 9)); err == nil || !strings.Contains(err.Error(), "cannot sign") {
		t.Fatalf("another key: %v, want a refusal", err)
	}
}
