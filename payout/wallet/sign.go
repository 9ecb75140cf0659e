package wallet

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// ErrBadSignature: a signature does not verify against the input it signs.
var ErrBadSignature = errors.New("signature does not verify")

// Sign signs every input of tx with key (hot mode): BIP143 for P2WPKH
// inputs, the legacy signature hash for P2PKH inputs, SIGHASH_ALL, and
// deterministic signatures (RFC 6979), so signing the same Tx again gives
// the same transaction. It refuses an input whose script the key cannot
// sign, and checks every signature with the script engine before
// returning. On error tx's signatures are cleared.
func Sign(tx *Tx, key *Key) error {
	if key == nil {
		return errors.New("payout/wallet: sign: no key")
	}
	if err := tx.check(); err != nil {
		return fmt.Errorf("payout/wallet: sign: %w", err)
	}
	msg := tx.Msg
	for i, u := range tx.Inputs {
		if kind, hash := spendKind(u.PkScript); kind == kindOther || !bytes.Equal(hash, key.hash) {
			return fmt.Errorf("payout/wallet: sign: input %d (%s) pays %s, which the payout key (%s) cannot sign",
				i, u, scriptName(u.PkScript, tx.net), key.Address())
		}
	}
	clearSignatures(msg)
	fetcher := prevOutFetcher(tx)
	hashes := txscript.NewTxSigHashes(msg, fetcher)
	for i, u := range tx.Inputs {
		var err error
		switch kind, _ := spendKind(u.PkScript); kind {
		case kindP2WPKH:
			msg.TxIn[i].Witness, err = txscript.WitnessSignature(msg, hashes, i, u.Value, u.PkScript, txscript.SigHashAll, key.priv, true)
		case kindP2PKH:
			msg.TxIn[i].SignatureScript, err = txscript.SignatureScript(msg, i, u.PkScript, txscript.SigHashAll, key.priv, true)
		}
		if err != nil {
			clearSignatures(msg)
			return fmt.Errorf("payout/wallet: sign: input %d (%s): %w", i, u, err)
		}
	}
	if err := verify(tx, msg, fetcher, hashes); err != nil {
		clearSignatures(msg)
		return fmt.Errorf("payout/wallet: sign: %w", err)
	}
	return nil
}

// clearSignatures empties every input's scriptSig and witness.
func clearSignatures(msg *wire.MsgTx) {
	for _, in := range msg.TxIn {
		in.SignatureScript, in.Witness = nil, nil
	}
}

// prevOutFetcher gives the script engine and the sighash the outputs tx
// spends.
func prevOutFetcher(tx *Tx) *txscript.MultiPrevOutFetcher {
	f := txscript.NewMultiPrevOutFetcher(nil)
	for i, u := range tx.Inputs {
		f.AddPrevOut(tx.Msg.TxIn[i].PreviousOutPoint, wire.NewTxOut(u.Value, u.PkScript))
	}
	return f
}

// verify runs every input of msg, which spends tx's inputs, through the
// script engine with the standard flags, and checks that msg is no larger
// than the virtual size its fee was computed for.
func verify(tx *Tx, msg *wire.MsgTx, fetcher txscript.PrevOutputFetcher, hashes *txscript.TxSigHashes) error {
	if hashes == nil {
		hashes = txscript.NewTxSigHashes(msg, fetcher)
	}
	for i, u := range tx.Inputs {
		vm, err := txscript.NewEngine(u.PkScript, msg, i, txscript.StandardVerifyFlags, nil, hashes, u.Value, fetcher)
		if err == nil {
			err = vm.Execute()
		}
		if err != nil {
			return fmt.Errorf("%w: input %d (%s): %v", ErrBadSignature, i, u, err)
		}
	}
	if vs := signedVSize(msg); vs > tx.VSize {
		return fmt.Errorf("the signed transaction is %d vB, larger than the %d vB its fee was computed for", vs, tx.VSize)
	}
	return nil
}
