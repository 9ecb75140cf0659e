package loadgen

import (
	"math"
	"testing"
	"time"
)

// TestBucketRange checks that every value falls inside the range of its own
// bucket and that ranges are at most 1/64 of their value wide.
func TestBucketRange(t *testing.T) {
	values := []uint64{0, 1, 63, 64, 127, 128, 129, 255, 256, 1000, 12345, 1 << 20, 1<<20 + 1,
		999_999_999, 1 << 40, math.MaxUint64 - 1, math.MaxUint64}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0,%d)", v, i, histBuckets)
		}
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Errorf("value %d in bucket %d = [%d,%d]", v, i, lo, hi)
		}
		if v >= 128 && float64(hi-lo+1) > float64(lo)/64+1 {
			t.Errorf("bucket %d = [%d,%d] wider than 1/64 of its value", i, lo, hi)
		}
	}
	for i := 1; i < histBuckets; i++ { // buckets tile the line without gaps
		_, prevHi := bucketRange(i - 1)
		lo, _ := bucketRange(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ends at %d", i, lo, prevHi)
		}
	}
}

// TestQuantiles checks percentiles on known data.
func TestQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values []uint64 // microseconds
		q      float64
		want   uint64
		tol    float64 // relative
	}{
		{name: "empty", q: 0.5, want: 0},
		{name: "single value", values: []uint64{777}, q: 0.99, want: 777, tol: 0},
		{name: "exact range median", values: seq(1, 100), q: 0.5, want: 50},
		{name: "exact range p99", values: seq(1, 100), q: 0.99, want: 99},
		{name: "uniform 1..100000 p50", values: seq(1, 100000), q: 0.5, want: 50000, tol: 1.0 / 64},
		{name: "uniform 1..100000 p99", values: seq(1, 100000), q: 0.99, want: 99000, tol: 1.0 / 64},
		{name: "uniform 1..100000 p99.9", values: seq(1, 100000), q: 0.999, want: 99900, tol: 1.0 / 64},
		{name: "max is exact", values: seq(1, 100000), q: 1, want: 100000},
		{name: "outlier tail", values: append(repeat(200, 999), 5_000_000), q: 0.999, want: 200, tol: 1.0 / 64},
		{name: "outlier at p100", values: append(repeat(200, 999), 5_000_000), q: 1, want: 5_000_000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tc.values {
				h.RecordMicros(v)
			}
			d := h.Snapshot()
			if d.Count != uint64(len(tc.values)) {
				t.Fatalf("count %d, want %d", d.Count, len(tc.values))
			}
			got := d.Quantile(tc.q)
			if diff := math.Abs(float64(got) - float64(tc.want)); diff > tc.tol*float64(tc.want) {
				t.Errorf("quantile %g = %d, want %d ± %.1f%%", tc.q, got, tc.want, 100*tc.tol)
			}
		})
	}
}

// TestHistogramMerge checks that merged snapshots equal one histogram that
// recorded everything.
func TestHistogramMerge(t *testing.T) {
	var a, b, all Histogram
	for i := range uint64(5000) {
		v := i * i % 100003
		if i%3 == 0 {
			a.RecordMicros(v)
		} else {
			b.RecordMicros(v)
		}
		all.RecordMicros(v)
	}
	m := a.Snapshot()
	m.Merge(b.Snapshot())
	want := all.Snapshot()
	if m.Count != want.Count || m.MaxMicros != want.MaxMicros || len(m.Buckets) != len(want.Buckets) {
		t.Fatalf("merged count/max/buckets %d/%d/%d, want %d/%d/%d",
			m.Count, m.MaxMicros, len(m.Buckets), want.Count, want.MaxMicros, len(want.Buckets))
	}
	for i := range m.Buckets {
		if m.Buckets[i] != want.Buckets[i] {
			t.Fatalf("bucket %d: %v, want %v", i, m.Buckets[i], want.Buckets[i])
		}
	}
	for _, q := range []float64{0.5, 0.99, 0.999} {
		if m.Quantile(q) != want.Quantile(q) {
			t.Errorf("q%g: merged %d, want %d", q, m.Quantile(q), want.Quantile(q))
		}
	}
}

// TestRecordDuration checks the conversion to microseconds.
func TestRecordDuration(t *testing.T) {
	var h Histogram
	h.Record(-time.Second)
	h.Record(1500 * time.Microsecond)
	d := h.Snapshot()
	if d.Count != 2 || d.MaxMicros != 1500 || d.Quantile(0.5) != 0 {
		t.Errorf("got count %d max %d p50 %d, want 2, 1500, 0", d.Count, d.MaxMicros, d.Quantile(0.5))
	}
	if s := d.Summary(); s.Max != 1.5 {
		t.Errorf("summary max %g ms, want 1.5", s.Max)
	}
}

func seq(from, to uint64) []uint64 {
	var out []uint64
	for v := from; v <= to; v++ {
		out = append(out, v)
	}
	return out
}

func repeat(v uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// BenchmarkHistogramRecord measures the cost of recording one latency.
func BenchmarkHistogramRecord(b *testing.B) {
	b.ReportAllocs()
	var h Histogram
	for i := 0; b.Loop(); i++ {
		h.RecordMicros(uint64(i) & 0xfffff)
	}
}
