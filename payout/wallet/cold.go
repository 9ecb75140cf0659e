package wallet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// ErrPSBTMismatch: a signed PSBT's transaction is not the batch's: it
// spends or pays something else.
var ErrPSBTMismatch = errors.New("the PSBT does not pay the batch")

// NewPSBT returns the unsigned PSBT (BIP 174 version 0, binary) of tx for
// the cold mode: the unsigned transaction, and for each input its witness
// UTXO (amount and script, which the BIP 143 signature commits to) and
// SIGHASH_ALL as its sighash type. The cold mode spends P2WPKH inputs only:
// a P2PKH input would need its whole previous transaction in the PSBT,
// which a UTXO does not carry. The PSBT names no BIP 32 derivation: the
// signer finds the key by its script (Bitcoin Core's walletprocesspsbt and
// descriptorprocesspsbt do). base64.StdEncoding of the result is the text
// form Core's RPCs take.
func NewPSBT(tx *Tx) ([]byte, error) {
	if err := tx.check(); err != nil {
		return nil, fmt.Errorf("payout/wallet: psbt: %w", err)
	}
	if err := coldInputs(tx); err != nil {
		return nil, fmt.Errorf("payout/wallet: psbt: %w", err)
	}
	unsigned := unsignedCopy(tx.Msg)
	var txBuf bytes.Buffer
	if err := unsigned.SerializeNoWitness(&txBuf); err != nil {
		return nil, fmt.Errorf("payout/wallet: psbt: %w", err)
	}
	p := &packet{
		tx:      unsigned,
		global:  []pair{{key: []byte{globalUnsignedTx}, value: txBuf.Bytes()}},
		inputs:  make([][]pair, len(tx.Inputs)),
		outputs: make([][]pair, len(unsigned.TxOut)),
	}
	sighash := binary.LittleEndian.AppendUint32(nil, uint32(txscript.SigHashAll))
	for i, u := range tx.Inputs {
		var out bytes.Buffer
		_ = wire.WriteTxOut(&out, 0, 0, wire.NewTxOut(u.Value, u.PkScript))
		p.inputs[i] = []pair{
			{key: []byte{inWitnessUTXO}, value: out.Bytes()},
			{key: []byte{inSighashType}, value: sighash},
		}
	}
	return p.encode(), nil
}

// coldInputs refuses the inputs the cold mode cannot spend.
func coldInputs(tx *Tx) error {
	for i, u := range tx.Inputs {
		if kind, _ := spendKind(u.PkScript); kind != kindP2WPKH {
			return fmt.Errorf("input %d (%s) pays %s: the cold mode spends P2WPKH outputs only "+
				"(a P2PKH input needs its whole previous transaction in the PSBT); pay the coinbase to a bech32 P2WPKH payout_address",
				i, u, scriptName(u.PkScript, tx.net))
		}
	}
	return nil
}

// unsignedCopy returns msg without scriptSigs and witnesses.
func unsignedCopy(msg *wire.MsgTx) *wire.MsgTx {
	c := msg.Copy()
	clearSignatures(c)
	return c
}

// FinalizePSBT reads a PSBT that an offline signer returned (binary or
// base64), checks that its transaction is exactly want's (the same inputs,
// the same outputs with the same amounts, the same change: anything else
// is an error naming each difference), takes each input's signature (a
// partial signature by the key its P2WPKH script names, or the final
// witness when the signer finalized), checks it with the script engine
// against want's amounts and scripts, and returns the signed network
// transaction. want is not modified.
func FinalizePSBT(signed []byte, want *Tx) (*wire.MsgTx, error) {
	if err := want.check(); err != nil {
		return nil, fmt.Errorf("payout/wallet: finalize: %w", err)
	}
	if err := coldInputs(want); err != nil {
		return nil, fmt.Errorf("payout/wallet: finalize: %w", err)
	}
	p, err := decodePSBT(signed)
	if err != nil {
		return nil, fmt.Errorf("payout/wallet: finalize: %w", err)
	}
	if diffs := txDiff(p.tx, want); len(diffs) > 0 {
		return nil, fmt.Errorf("payout/wallet: finalize: %w: %s", ErrPSBTMismatch, strings.Join(diffs, "; "))
	}
	final := unsignedCopy(want.Msg)
	for i, u := range want.Inputs {
		in, err := readInput(p.inputs[i])
		if err != nil {
			return nil, fmt.Errorf("payout/wallet: finalize: input %d: %w", i, err)
		}
		w, err := inputWitness(in, u)
		if err != nil {
			return nil, fmt.Errorf("payout/wallet: finalize: input %d (%s): %w", i, u, err)
		}
		final.TxIn[i].Witness = w
	}
	if err := verify(want, final, prevOutFetcher(want), nil); err != nil {
		return nil, fmt.Errorf("payout/wallet: finalize: %w", err)
	}
	return final, nil
}

// inputWitness returns the witness that spends the P2WPKH output u, from
// what the signer put in the input's map.
func inputWitness(in *psbtInput, u UTXO) (wire.TxWitness, error) {
	if in.witnessUTXO != nil && (in.witnessUTXO.Value != u.Value || !bytes.Equal(in.witnessUTXO.PkScript, u.PkScript)) {
		return nil, fmt.Errorf("%w: its witness UTXO says %d sat to script %x, the batch spends %d sat of %x",
			ErrPSBTMismatch, in.witnessUTXO.Value, in.witnessUTXO.PkScript, u.Value, u.PkScript)
	}
	if in.sighashType != nil && *in.sighashType != uint32(txscript.SigHashAll) {
		return nil, fmt.Errorf("sighash type 0x%x: the batch is signed with SIGHASH_ALL only", *in.sighashType)
	}
	if in.hasFinalSig && len(in.finalSig) > 0 {
		return nil, errors.New("a final scriptSig: a P2WPKH input has none")
	}
	var w wire.TxWitness
	_, hash := spendKind(u.PkScript)
	switch {
	case in.hasWitness:
		w = in.finalWitness
		if len(w) != 2 {
			return nil, fmt.Errorf("a final witness of %d items: a P2WPKH witness is a signature and a key", len(w))
		}
	default:
		var others int
		for _, ps := range in.partialSigs {
			if bytes.Equal(address.Hash160(ps.pubKey), hash) {
				w = wire.TxWitness{ps.sig, ps.pubKey}
				break
			}
			others++
		}
		if w == nil {
			if others > 0 {
				return nil, fmt.Errorf("not signed by the payout key, only by %d other key(s)", others)
			}
			return nil, errors.New("not signed")
		}
	}
	if sig := w[0]; len(sig) == 0 || txscript.SigHashType(sig[len(sig)-1]) != txscript.SigHashAll {
		return nil, errors.New("the signature is not SIGHASH_ALL: the batch is signed with SIGHASH_ALL only")
	}
	return w, nil
}

// txDiff lists how got, a PSBT's unsigned transaction, differs from the
// batch's transaction.
func txDiff(got *wire.MsgTx, want *Tx) []string {
	var d []string
	w := want.Msg
	if got.Version != w.Version {
		d = append(d, fmt.Sprintf("version %d, the batch's %d", got.Version, w.Version))
	}
	if got.LockTime != w.LockTime {
		d = append(d, fmt.Sprintf("lock time %d, the batch's %d", got.LockTime, w.LockTime))
	}
	if len(got.TxIn) != len(w.TxIn) {
		d = append(d, fmt.Sprintf("%d inputs, the batch %d", len(got.TxIn), len(w.TxIn)))
	}
	for i := 0; i < max(len(got.TxIn), len(w.TxIn)); i++ {
		switch {
		case i >= len(got.TxIn):
			d = append(d, fmt.Sprintf("input %d (%s) of the batch is missing", i, want.Inputs[i]))
		case i >= len(w.TxIn):
			d = append(d, fmt.Sprintf("input %d spends %s, not in the batch", i, got.TxIn[i].PreviousOutPoint))
		case got.TxIn[i].PreviousOutPoint != w.TxIn[i].PreviousOutPoint:
			d = append(d, fmt.Sprintf("input %d spends %s, the batch's %s", i, got.TxIn[i].PreviousOutPoint, want.Inputs[i]))
		case got.TxIn[i].Sequence != w.TxIn[i].Sequence:
			d = append(d, fmt.Sprintf("input %d has sequence 0x%x, the batch's 0x%x", i, got.TxIn[i].Sequence, w.TxIn[i].Sequence))
		}
	}
	if len(got.TxOut) != len(w.TxOut) {
		d = append(d, fmt.Sprintf("%d outputs, the batch %d", len(got.TxOut), len(w.TxOut)))
	}
	for i := 0; i < max(len(got.TxOut), len(w.TxOut)); i++ {
		switch {
		case i >= len(got.TxOut):
			d = append(d, fmt.Sprintf("output %d is missing: the batch pays %s", i, want.outputName(i)))
		case i >= len(w.TxOut):
			d = append(d, fmt.Sprintf("output %d pays %d sat to %s, not in the batch", i, got.TxOut[i].Value, scriptName(got.TxOut[i].PkScript, want.net)))
		case got.TxOut[i].Value != w.TxOut[i].Value || !bytes.Equal(got.TxOut[i].PkScript, w.TxOut[i].PkScript):
			d = append(d, fmt.Sprintf("output %d pays %d sat to %s, the batch %s",
				i, got.TxOut[i].Value, scriptName(got.TxOut[i].PkScript, want.net), want.outputName(i)))
		}
	}
	return d
}

// outputName describes output i of the batch: the account and amount, or
// the change.
func (t *Tx) outputName(i int) string {
	if i < len(t.Outputs) {
		o := t.Outputs[i]
		return fmt.Sprintf("%d sat to %s (account %q)", o.Amount, o.Address, o.Account)
	}
	return fmt.Sprintf("%d sat to %s (change)", t.Change, t.changeAddress)
}

// SignPSBT signs every input of a PSBT with key, as the offline signer of
// the cold mode does (`tarbela payout sign` on the machine that holds the
// key): from the PSBT alone (its transaction and each input's witness
// UTXO), BIP 143, SIGHASH_ALL, adding a partial signature per input. An
// input this key cannot sign (another script) is refused, naming it. The
// result is what `tarbela payout submit` takes.
func SignPSBT(psbt []byte, key *Key) ([]byte, error) {
	p, err := decodePSBT(psbt)
	if err != nil {
		return nil, err
	}
	// The P2WPKH script of the key: OP_0 <HASH160(pub)>.
	mine := append([]byte{txscript.OP_0, txscript.OP_DATA_20}, key.hash...)
	fetcher := txscript.NewMultiPrevOutFetcher(nil)
	utxos := make([]*wire.TxOut, len(p.inputs))
	for i, m := range p.inputs {
		in, err := readInput(m)
		if err != nil {
			return nil, fmt.Errorf("%w: input %d: %v", ErrNotPSBT, i, err)
		}
		if in.witnessUTXO == nil {
			return nil, fmt.Errorf("payout/wallet: sign PSBT: input %d has no witness UTXO to sign against", i)
		}
		if !bytes.Equal(in.witnessUTXO.PkScript, mine) {
			return nil, fmt.Errorf("payout/wallet: sign PSBT: input %d pays a script this key (%s) cannot sign", i, key.Address())
		}
		utxos[i] = in.witnessUTXO
		fetcher.AddPrevOut(p.tx.TxIn[i].PreviousOutPoint, in.witnessUTXO)
	}
	hashes := txscript.NewTxSigHashes(p.tx, fetcher)
	for i, u := range utxos {
		sig, err := txscript.RawTxInWitnessSignature(p.tx, hashes, i, u.Value, u.PkScript, txscript.SigHashAll, key.priv)
		if err != nil {
			return nil, fmt.Errorf("payout/wallet: sign PSBT: input %d: %w", i, err)
		}
		p.inputs[i] = append(p.inputs[i], pair{key: append([]byte{inPartialSig}, key.pub...), value: sig})
	}
	return p.encode(), nil
}
