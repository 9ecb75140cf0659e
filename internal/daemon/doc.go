// Package daemon wires Tarbela's packages into a running pool node: the
// template manager's work feed into the Stratum server, the share validator
// to the Redis store and the block submitter, and the metrics endpoint. It
// converts the one typed config into each package's small options struct.
// cmd/tarbela and the devnet use it; integration tests start it in-process.
package daemon
