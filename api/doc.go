// Package api is Tarbela's HTTP JSON API: the public, read-only routes a
// dashboard or a miner reads (pool figures, hashrate series, blocks,
// accounts) and the admin routes behind a bearer token (this node's
// connections, kicks, bans, reload, a worker's difficulty). docs/api.md is
// its contract and openapi.yaml, embedded and served at
// /api/v1/openapi.yaml, its machine-readable description; a test keeps the
// file and the routes the server registers the same.
//
// The package holds routing, JSON, input validation and the token check;
// it knows neither Redis nor sessions. It takes two interfaces, declared
// here where they are consumed: Pool for the reads (figures every node
// answers alike, from Redis and the node) and Admin for this node's live
// sessions. internal/daemon implements both, over the share store, the
// payout ledger, the template manager and the Stratum server.
//
// Bad input is answered 400 with a JSON error naming the field ({"error":
// "limit: must be 1..1000 (got 0)", "field": "limit"}), unknown routes and
// accounts 404, a missing or wrong token 401 (compared in constant time),
// admin routes without a configured token 403, and the pool's own faults
// 5xx (503 when its data store does not answer). Request bodies are
// bounded (64 KiB) and the server has read and write timeouts.
package api
