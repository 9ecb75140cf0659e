// Package localnet starts real local processes for Tarbela's tests and its
// devnet command: a btcd regtest node with a fresh data directory, its RPC on
// a free loopback port and a mining address derived from a fixed key
// (btcd.go), a redis-server (redis.go), and a Bitcoin Core regtest node with
// its cookie authentication (bitcoind.go) where the machine has Core.
//
// Nothing here is a fake: the processes are the same binaries the pool talks
// to in production-like setups, so tests that use them exercise the real
// protocol. btcd is an explicit path or the TARBELA_BTCD variable, else the
// btcd on PATH, else, in the source tree, the module's pinned tool
// (`go tool -n btcd`), else the version this binary was built against,
// built once into the user's cache directory (FindBtcd). Both processes can
// be restarted in place after they exit (Restart), for the devnet's
// supervisor. Test helpers that fail (never skip) a test when a process
// cannot start live in localnettest.
package localnet
