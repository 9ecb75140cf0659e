// Package wallet holds the pool's payout key and makes the transactions of
// payout batches (docs/payout.md, "Batches"): Build spends the matured
// coinbase outputs the caller chose, in its order, to a batch of accounts
// in its order with the change to payout_address last, sized exactly for
// P2WPKH and P2PKH inputs with the largest signatures so that the fee,
// ceil(vsize × rate), never falls short; change below the dust limit goes
// to the fee. Amounts are int64 satoshis throughout. The key is read by
// LoadKey from a file only its owner may read, or from TARBELA_PAYOUT_KEY;
// no error or String method ever shows it.
package wallet
