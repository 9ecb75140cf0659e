// Package hasher computes Bitcoin's SHA-256d (double SHA-256) for the pool's
// hot paths: the 80-byte block header hash, the 64-byte merkle node hash used
// when folding a coinbase up its merkle branch, batches of headers, and nonce
// scanning from a precomputed midstate.
//
// All hashes are in internal byte order, the order in which SHA-256 produces
// them (as btcd's chainhash.Hash stores them); the familiar display order of
// block hashes is this order reversed. A hash compared against a target is
// read as a little-endian 256-bit integer: byte 31 is the most significant.
//
// The package imports nothing else of this module so that every other
// package can depend on it.
package hasher
