// Package wallet holds the pool's payout key and makes the transactions of
// payout batches (docs/payout.md, "Batches"). The key is read by LoadKey
// from a file only its owner may read, or from TARBELA_PAYOUT_KEY; no error
// or String method ever shows it.
package wallet
