// Package localnet starts real local processes for Tarbela's tests and its
// devnet command: a btcd regtest node with a fresh data directory, its RPC on
// a free loopback port and a mining address derived from a fixed key
// (btcd.go), a redis-server (redis.go), and a Bitcoin Core regtest node with
// its cookie authentication (bitcoind.go) where the machine has Core.
//
// Nothing here is a fake: the processes are the same binaries the pool talks
// to in production-like setups, so tests that use them exercise the real
// protocol. btcd is found through the module's pinned tool
// (`go tool -n btcd`), an explicit path, or the TARBELA_BTCD variable. Test
// helpers that fail (never skip) a test when a process cannot start live in
// localnettest.
package localnet
