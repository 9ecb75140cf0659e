// Package loadgen is the engine of tarbela-bench, a Stratum v1 load generator
// that works against any Stratum v1 pool.
//
// Run dials N simulated miners from many loopback source addresses
// (127.0.0.2, 127.0.0.3, …) so that a pool's per-address limits and the
// kernel's ephemeral ports per source address are not what is measured. Each
// miner subscribes (optionally negotiating BIP310 version rolling),
// authorizes, follows mining.set_difficulty and mining.notify, and submits
// real shares at a set rate: the header is rebuilt from the notify exactly as
// a miner does (coinbase, merkle root, version bits) and a nonce meeting the
// pool's share target is searched with package hasher, so the tool is honest
// at any low difficulty. The pool is expected to run at a very low
// difficulty, where the first nonce or two meet the target.
//
// A Report holds what was measured: connect, subscribe and authorize counts,
// accepted and rejected shares per second (rejects by Stratum error code),
// submit-to-reply latency percentiles from a bounded log-linear Histogram,
// the fan-out of clean_jobs notifies (first to last miner for the same
// prevhash, optionally timed from a block the tool generates itself through
// the node's RPC), and the pool's resident memory per connected miner read
// from /proc. Reports are JSON so that several processes (each capped at
// 20,000 open files here) can be combined with Merge (MergeFiles reads
// them from WriteJSON's files).
//
// StartPool runs a Tarbela Stratum server in process with a synthetic job
// whose network target no share meets, for share-rate measurements that are
// not drowned in regtest blocks; StartBare runs the fan-out floor to compare
// it with. Serve runs either with status lines, as `tarbela-bench pool` does,
// and can serve the HTTP API beside the pool (APIOptions). Poll requests
// every public route of the API (PollRoutes) at a fixed rate, an open loop
// with a cap on requests in flight, and reports answers, errors by cause and
// latency per route.
//
// Everything is bounded: the run stops by itself after Options.Duration, each
// miner keeps a small fixed set of pending submits, lines are capped, and
// nothing spins while waiting.
package loadgen
