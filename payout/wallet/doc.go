// Package wallet holds the pool's payout key and makes the transactions of
// payout batches (docs/payout.md, "Batches"): Build spends the matured
// coinbase outputs the caller chose, in its order, to a batch of accounts
// in its order with the change to payout_address last, sized exactly for
// P2WPKH and P2PKH inputs with the largest signatures so that the fee,
// ceil(vsize × rate), never falls short; change below the dust limit goes
// to the fee. In hot mode Sign signs it with the key (LoadKey: a WIF in a
// file only its owner may read, or in TARBELA_PAYOUT_KEY) and checks every
// signature with the script engine. Amounts are int64 satoshis throughout,
// and no error or String method ever shows the key.
package wallet
