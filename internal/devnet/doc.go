// Package devnet runs a complete local Tarbela network for development and
// demonstrations: a fresh btcd regtest node, a redis-server on a free port,
// the pool itself and N in-process CPU miners, with a status line every few
// seconds. `tarbela devnet` is a thin wrapper around Run.
package devnet
