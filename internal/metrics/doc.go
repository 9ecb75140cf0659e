// Package metrics exposes Tarbela's Prometheus metrics: share and block
// outcomes (it implements share.Observer), connections, and a pool hashrate
// estimate from the difficulty of accepted shares.
package metrics
