package loadgen

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histSubBits sets the histogram's precision: values below 2^histSubBits are
// exact, and above that each power of two is split into 2^(histSubBits-1)
// buckets, a relative error below 1/64.
const histSubBits = 7

// histHalf is the number of buckets per power of two above the exact range.
const histHalf = 1 << (histSubBits - 1)

// histBuckets covers every uint64 value.
const histBuckets = (64-histSubBits+1)*histHalf + histHalf

// Histogram is a log-linear (HDR-style) histogram of durations in
// microseconds with a fixed size (a few tens of KiB) whatever it records. It
// is safe for concurrent use: Record only does atomic adds, so every reader
// goroutine of the tool can share one.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Uint64
}

// bucketOf returns the bucket index of v.
func bucketOf(v uint64) int {
	if v < 1<<histSubBits {
		return int(v)
	}
	e := bits.Len64(v) - histSubBits
	return e*histHalf + int(v>>uint(e))
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 1<<histSubBits {
		return uint64(i), uint64(i)
	}
	e := i/histHalf - 1
	m := uint64(i - e*histHalf)
	lo = m << uint(e)
	return lo, lo + (1 << uint(e)) - 1
}

// Record adds one duration (negative ones count as zero).
func (h *Histogram) Record(d time.Duration) { h.RecordMicros(durMicros(d)) }

// RecordMicros adds one value in microseconds.
func (h *Histogram) RecordMicros(us uint64) {
	h.counts[bucketOf(us)].Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

func durMicros(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(d / time.Microsecond)
}

// Snapshot returns the histogram's counts in the sparse form reports carry.
func (h *Histogram) Snapshot() HistData {
	var d HistData
	for i := range h.counts {
		if n := h.counts[i].Load(); n > 0 {
			d.Buckets = append(d.Buckets, [2]uint64{uint64(i), n})
			d.Count += n
		}
	}
	d.MaxMicros = h.max.Load()
	return d
}

// HistData is a histogram snapshot: the non-empty buckets as
// [index, count] pairs in index order, the total count and the exact
// maximum. Snapshots of the same scheme merge by adding counts.
type HistData struct {
	Buckets   [][2]uint64 `json:"buckets,omitempty"`
	Count     uint64      `json:"count"`
	MaxMicros uint64      `json:"max_us"`
}

// Merge adds o's counts to d.
func (d *HistData) Merge(o HistData) {
	out := make([][2]uint64, 0, len(d.Buckets)+len(o.Buckets))
	i, j := 0, 0
	for i < len(d.Buckets) || j < len(o.Buckets) {
		switch {
		case j == len(o.Buckets) || (i < len(d.Buckets) && d.Buckets[i][0] < o.Buckets[j][0]):
			out = append(out, d.Buckets[i])
			i++
		case i == len(d.Buckets) || o.Buckets[j][0] < d.Buckets[i][0]:
			out = append(out, o.Buckets[j])
			j++
		default:
			out = append(out, [2]uint64{d.Buckets[i][0], d.Buckets[i][1] + o.Buckets[j][1]})
			i++
			j++
		}
	}
	d.Buckets = out
	d.Count += o.Count
	d.MaxMicros = max(d.MaxMicros, o.MaxMicros)
}

// Quantile returns the value (microseconds) at quantile q in [0,1]: the
// midpoint of the bucket holding the ceil(q·count)-th smallest value, never
// above the recorded maximum, which is exact (and is what q = 1 returns). It
// returns 0 for an empty histogram.
func (d *HistData) Quantile(q float64) uint64 {
	if d.Count == 0 {
		return 0
	}
	rank := uint64(q*float64(d.Count) + 0.9999999)
	rank = min(max(rank, 1), d.Count)
	if rank == d.Count {
		return d.MaxMicros
	}
	var seen uint64
	for _, b := range d.Buckets {
		seen += b[1]
		if seen >= rank {
			lo, hi := bucketRange(int(b[0]))
			return min(lo+(hi-lo)/2, d.MaxMicros)
		}
	}
	return d.MaxMicros
}

// Percentiles is the usual summary of a histogram, in milliseconds.
type Percentiles struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// Summary returns p50, p99, p99.9 and the maximum in milliseconds.
func (d *HistData) Summary() Percentiles {
	ms := func(us uint64) float64 { return float64(us) / 1000 }
	return Percentiles{Count: d.Count, P50: ms(d.Quantile(0.5)), P99: ms(d.Quantile(0.99)),
		P999: ms(d.Quantile(0.999)), Max: ms(d.MaxMicros)}
}
