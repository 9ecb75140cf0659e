// Package devnet runs a complete local Tarbela network for development and
// demonstrations: a fresh btcd regtest node, a redis-server on a free port,
// the pool itself and N in-process CPU miners, with a status line every few
// seconds. A supervisor goroutine per service restarts btcd or redis-server
// on its port and directory when it exits, with a backoff, while the pool
// goes on (shares wait in the journal while Redis is away). `tarbela devnet`
// is a thin wrapper around Run.
package devnet
