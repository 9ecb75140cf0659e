// Package storetest is the conformance suite every share store must pass
// (share.Store plus the reads payout accounting needs), run against a real
// backend. Package redisstore runs it against a real redis-server.
package storetest
