// Package vectors loads the shared test vectors in the module's testdata/
// directory (real sessions, headers and a Bitcoin Core getblocktemplate,
// each with its source named in the file) for the tests of every package.
package vectors
