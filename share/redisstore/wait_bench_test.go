package redisstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// BenchmarkAddShareWaitReplica is the cost of WAIT: BenchmarkAddShareWait's
// 64 concurrent waiters against a primary with one replica (both real
// redis-server processes on this machine), without WAIT (wait=0) and with
// WAIT 1 after every batch (wait=1, what WaitAuto does with a replica).
// The two run on the same primary and replica, one after the other, for
// each batch interval; compare them within one run.
func BenchmarkAddShareWaitReplica(b *testing.B) {
	primary := startRedis(b)
	startReplica(b, primary)
	for _, interval := range []time.Duration{time.Millisecond, 10 * time.Millisecond} {
		for _, wait := range []int{0, 1} {
			b.Run(fmt.Sprintf("interval=%v/wait=%d", interval, wait), func(b *testing.B) {
				obs := &observer{}
				s := newStore(b, primary, redisstore.Options{BatchInterval: interval, WaitReplicas: wait,
					JournalPath: b.TempDir() + "/journal.log", Observer: obs})
				b.ReportAllocs()
				b.SetParallelism(32) // 64 goroutines on 2 cores
				ctx := context.Background()
				var total atomic.Int64
				hist := new(latencyHist)
				b.RunParallel(func(pb *testing.PB) {
					rec := share.Record{Node: 1, Worker: "acct.rig", Account: "acct", Difficulty: 1}
					for pb.Next() {
						rec.Time = time.Now()
						if err := s.AddShareWait(ctx, rec); err != nil {
							b.Error(err)
							return
						}
						d := time.Since(rec.Time)
						total.Add(int64(d))
						hist.add(d)
					}
				})
				b.ReportMetric(float64(total.Load())/float64(b.N)/1e6, "ms/ack")
				b.ReportMetric(hist.quantile(0.5), "p50-ms")
				b.ReportMetric(hist.quantile(0.99), "p99-ms")
				// A share acknowledged from the journal did not wait for
				// the replica: the figures would not be WAIT's.
				b.ReportMetric(float64(obs.journaled.Load()), "journaled")
			})
		}
	}
}
