// Package wallet holds the pool's payout key and makes the transactions of
// payout batches (docs/payout.md, "Batches"): Build spends the matured
// coinbase outputs the caller chose, in its order, to a batch of accounts
// in its order with the change to payout_address last, sized exactly for
// P2WPKH and P2PKH inputs with the largest signatures so that the fee,
// ceil(vsize × rate), never falls short; change below the dust limit goes
// to the fee. In hot mode Sign signs it with the key (LoadKey: a WIF in a
// file only its owner may read, or in TARBELA_PAYOUT_KEY) and checks every
// signature with the script engine. In cold mode NewPSBT hands it to an
// offline signer as a BIP 174 PSBT, and FinalizePSBT takes the signed PSBT
// back, refuses it unless it pays exactly the batch (naming each
// difference), checks every signature with the script engine and returns
// the network transaction. The cold mode spends P2WPKH inputs only (a P2PKH
// input would need its whole previous transaction in the PSBT); the hot
// mode signs P2WPKH and P2PKH. Amounts are int64 satoshis throughout, and
// no error or String method ever shows the key.
//
// PSBT: the package reads and writes the subset of BIP 174 version 0 it
// needs itself (psbt.go: the global unsigned transaction, per input the
// witness UTXO, partial signatures, sighash type and final witness, every
// other pair carried along unread and written back as read; the BIP's test
// vectors in testdata/bip174.json) instead of using
// github.com/btcsuite/btcd/btcutil/psbt. That module's latest version,
// v1.1.8, imports the pre-split packages github.com/btcsuite/btcd/wire,
// txscript and chaincfg, which btcd v0.26.2 (the version this module pins,
// also as its btcd tool) no longer contains: `go get` of it fails with
// "cannot find module providing package github.com/btcsuite/btcd/wire".
// Using it would take btcd downgraded below the split, a second set of
// transaction types (its wire.MsgTx is not wire/v2's MsgTx) and a trip
// through bytes at every call; the subset is a few hundred lines with a
// reader that checks every length before it allocates.
package wallet
