// Package localnettest starts localnet processes for tests: each helper
// fails the test (never skips it) when the process cannot be started, and
// stops the process when the test ends. The one exception is Bitcoin Core,
// which the module cannot build: StartBitcoind skips the test when there is
// no bitcoind binary at all.
package localnettest
