package redisstore_test

import (
	"testing"

	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// BenchmarkAddShareSites is BenchmarkAddShare with the shares spread over
// 100 energy sites (1,000 workers, 10 per site): the energy section's cost
// with many site-hours per batch. Compare it with BenchmarkAddShare (all
// workers unassigned) and with BenchmarkAddShare on the commit before the
// energy section (BENCHMARKS.md, "energy").
func BenchmarkAddShareSites(b *testing.B) {
	r := startRedis(b)
	c := client(b, r)
	s := newStore(b, r, redisstore.Options{})
	measureAddShare(b, s, c, benchRecords(100))
}
