// Package tlscert makes the self-signed certificates that Tarbela's devnet
// serves Stratum over TLS with, and that the tests of the TLS listener and
// of the miner use: an ECDSA P-256 key and a certificate for the loopback
// names, PEM encoded. A production pool serves a certificate from its own
// authority (or a public one) instead; see README.md, "Stratum over TLS".
package tlscert
