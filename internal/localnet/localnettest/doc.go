// Package localnettest starts localnet processes for tests: each helper
// fails the test (never skips it) when the process cannot be started, and
// stops the process when the test ends.
package localnettest
