package redisstore_test

import (
	"context"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

func usedMemory(b *testing.B, c *redis.Client) int64 {
	b.Helper()
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatalf("INFO memory: %v", err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatalf("used_memory %q: %v", v, err)
			}
			return n
		}
	}
	b.Fatalf("INFO memory has no used_memory")
	return 0
}

// redisCPU returns redis-server's CPU time (user + system) from INFO cpu.
func redisCPU(b *testing.B, c *redis.Client) time.Duration {
	b.Helper()
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		b.Fatalf("INFO cpu: %v", err)
	}
	var sec float64
	for _, line := range strings.Split(info, "\r\n") {
		for _, k := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(line, k); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatalf("%s %q: %v", k, v, err)
				}
				sec += f
			}
		}
	}
	return time.Duration(sec * float64(time.Second))
}

// processCPU returns this process's CPU time (user + system).
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAddShare measures shares/s from AddShare until Redis confirmed
// them (Flush), over 1,000 workers in 100 accounts, and the Redis memory
// each share kept (none: the PPLNS window keeps work per account and
// slice, and the shares here fall in one slice).
func BenchmarkAddShare(b *testing.B) {
	r := startRedis(b)
	c := client(b, r)
	s := newStore(b, r, redisstore.Options{})
	measureAddShare(b, s, c, benchRecords(0))
}

// benchRecords returns 1,000 shares of 1,000 workers in 100 accounts;
// with sites > 0 the workers are spread over that many energy sites.
func benchRecords(sites int) []share.Record {
	recs := make([]share.Record, 1000)
	for i := range recs {
		acct := "bc1qbenchaccount" + strconv.Itoa(i%100)
		recs[i] = share.Record{Node: 1, Worker: acct + ".rig" + strconv.Itoa(i), Account: acct,
			Difficulty: 65536, ShareDifficulty: 70000, Height: 900000, JobID: "1a2b",
			NetDifficulty: 1.2e14, CoinbaseValue: 320_000_000}
		if sites > 0 {
			recs[i].Site = "site-" + strconv.Itoa(i%sites)
		}
	}
	return recs
}

// measureAddShare adds recs to s round robin b.N times and reports the
// rate, Redis memory and CPU per share.
func measureAddShare(b *testing.B, s *redisstore.Store, c *redis.Client, recs []share.Record) {
	ctx := context.Background()
	// Warm up: script loaded, buckets and round hashes created.
	for i := range 2000 {
		_ = s.AddShare(recs[i%len(recs)])
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatalf("Flush: %v", err)
	}
	before := usedMemory(b, c)
	recorded := s.SharesRecorded()
	cpuRedis, cpuGo := redisCPU(b, c), processCPU(b)
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		rec := recs[i%len(recs)]
		rec.Seq = uint64(i)
		rec.Time = now
		for s.AddShare(rec) != nil {
			// ErrBacklog: the writer is behind; a pool would count the
			// share as not recorded, the benchmark waits.
			time.Sleep(time.Millisecond)
		}
	}
	if err := s.Flush(ctx); err != nil {
		b.Fatalf("Flush: %v", err)
	}
	b.StopTimer()
	cpuRedis, cpuGo = redisCPU(b, c)-cpuRedis, processCPU(b)-cpuGo
	if got := s.SharesRecorded() - recorded; got != uint64(b.N) {
		b.Fatalf("recorded %d shares, want %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "shares/s")
	b.ReportMetric(float64(usedMemory(b, c)-before)/float64(b.N), "redis-bytes/share")
	// CPU per share, unlike shares/s, does not depend on what else the
	// (shared) machine runs: redis-server is one thread, so 1e6 over its
	// figure bounds the rate one Redis takes; the sum of both bounds what
	// one machine does with Redis beside the pool.
	b.ReportMetric(float64(cpuRedis.Microseconds())/float64(b.N), "redis-cpu-µs/share")
	b.ReportMetric(float64(cpuGo.Microseconds())/float64(b.N), "pool-cpu-µs/share")
	if v := c.Info(ctx, "commandstats").Val(); testing.Verbose() {
		b.Log(v)
	}
}

// latencyHist counts latencies in 10 µs buckets up to one second (the last
// bucket takes everything above), for percentiles without keeping samples.
type latencyHist struct {
	buckets [100_001]atomic.Int64
	n       atomic.Int64
}

func (h *latencyHist) add(d time.Duration) {
	i := min(int(d/(10*time.Microsecond)), len(h.buckets)-1)
	h.buckets[i].Add(1)
	h.n.Add(1)
}

// quantile returns the upper edge of the bucket holding quantile q, in ms.
func (h *latencyHist) quantile(q float64) float64 {
	want := int64(math.Ceil(q * float64(h.n.Load())))
	var seen int64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= want {
			return float64(i+1) * 0.01
		}
	}
	return math.Inf(1)
}

// BenchmarkAddShareWait measures the acknowledgement rule's latency: each
// op is one share queued by AddShareWait and waited for until its batch is
// in Redis, with 64 concurrent waiters (connections). It reports the mean,
// median and 99th percentile wait per share for several batch intervals.
func BenchmarkAddShareWait(b *testing.B) {
	for _, interval := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond} {
		b.Run("interval="+interval.String(), func(b *testing.B) {
			r := startRedis(b)
			s := newStore(b, r, redisstore.Options{BatchInterval: interval})
			benchAckLatency(b, s)
		})
	}
}

// benchAckLatency runs b.N shares through s.AddShareWait from 64
// concurrent waiters (connections) and reports the mean, median and 99th
// percentile wait per share until its acknowledgement.
func benchAckLatency(b *testing.B, s *redisstore.Store) {
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
}
