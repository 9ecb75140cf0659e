// Package config is the one typed configuration of the Tarbela daemon.
//
// A deployment is described by a single TOML file (config/tarbela.sample.toml
// is the commented reference, valid as-is for a local regtest devnet once the
// node password is in the environment). Parse starts from Default, decodes the
// file strictly — a key this package does not know is an error naming its path
// and line, because a misspelt key silently left at its default is the kind of
// mistake that costs a pool a block — then applies secrets from the
// environment and validates the result.
//
// Validation never stops at the first mistake: every bad field is reported at
// once as a Problem naming its path (for example "stratum.difficulty.min" or
// "nodes[1].rpc_url") and what to do about it, collected in a
// *ValidationError. Decoding problems (wrong TOML type, unparseable duration)
// are reported the same way, together with the validation problems.
//
// Only cmd/tarbela imports this package; it converts Config into each
// package's own small options struct. The package does no I/O beyond reading
// the file in Load: addresses are checked against the configured network with
// btcd's pure decoding, never with a network round trip.
package config
