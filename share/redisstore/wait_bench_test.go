package redisstore_test

import (
	"fmt"
	"testing"
	"time"

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
				benchAckLatency(b, s)
				// A share acknowledged from the journal did not wait for
				// the replica: the figures would not be WAIT's.
				b.ReportMetric(float64(obs.journaled.Load()), "journaled")
			})
		}
	}
}
