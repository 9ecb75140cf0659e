// Package share owns what a mining share is and how it is judged.
//
// A Job is the read-only unit of work the template manager (package pool)
// publishes: coinbase halves, merkle branch, version, nbits, ntime and the
// network target. An Assignment is a job as one connection received it,
// carrying the difficulty that was in force when it was sent, so a late share
// is judged by the rules it was mined under. Check rebuilds the coinbase,
// folds the branch, builds the 80-byte header (with BIP310 version bits),
// hashes it with package hasher and compares it with the share and network
// targets as 256-bit integers.
//
// Validator ties a judged share to the rest of the pool: accepted shares go
// to a Store (a batching writer that never blocks the caller on Redis), solved
// blocks to a BlockSink (satisfied by package pool). Rejections are typed
// (Reason) and map to the Stratum error codes 20-25.
//
// The package knows nothing of sockets or RPC.
package share
