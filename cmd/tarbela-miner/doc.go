// Command tarbela-miner is a multi-threaded Stratum v1 CPU miner. It mines
// for any Stratum v1 pool (version rolling when the pool offers it) and
// prints accepted/rejected counts and the hash rate; with --benchmark it
// mines a synthetic job without a pool and prints MH/s per thread and in
// total. The logic lives in package cpuminer (internal/cpuminer); this
// command only reads flags.
package main
