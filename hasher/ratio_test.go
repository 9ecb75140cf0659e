package hasher

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"testing"
	"time"
)

// BenchmarkRatio measures the speed requirements as ratios against
// crypto/sha256 on a shared, noisy machine: every op times one short window
// of the standard-library code and one of this package's default kernels,
// back to back, and the fastest window of each side is kept (contention only
// ever adds time). The metric "x" is stdlib time / hasher time for the same
// work; ns/op is the time of one window pair and means little.
func BenchmarkRatio(b *testing.B) {
	h := benchHeader()
	branch := make([][32]byte, 12)
	for i := range branch {
		branch[i][0] = byte(i)
	}
	headers := make([][80]byte, batchSize)
	for i := range headers {
		headers[i] = benchHeader()
		headers[i][0] = byte(i)
	}
	out := make([][32]byte, batchSize)
	target := leadingZeroTarget(32)
	scanner := NewScanner(&h)
	found := make([]uint32, 0, 16)
	var nonce uint32

	const scanWindow = 4096
	cases := []struct {
		name         string
		work         float64 // units of work per window, for per-unit metrics
		unit         string
		stdlib, fast func()
	}{
		{"HeaderHash", 1000, "ns/header",
			func() {
				for i := 0; i < 1000; i++ {
					x := sha256.Sum256(h[:])
					sink = sha256.Sum256(x[:])
				}
			},
			func() {
				for i := 0; i < 1000; i++ {
					sink = HeaderHash(&h)
				}
			}},
		{"MerkleRoot12", 50, "ns/fold",
			func() {
				var buf [64]byte
				for i := 0; i < 50; i++ {
					var acc [32]byte
					for j := range branch {
						copy(buf[:32], acc[:])
						copy(buf[32:], branch[j][:])
						x := sha256.Sum256(buf[:])
						acc = sha256.Sum256(x[:])
					}
					sink = acc
				}
			},
			func() {
				for i := 0; i < 50; i++ {
					sink = MerkleRoot([32]byte{}, branch)
				}
			}},
		{"HeaderHashBatch", 8 * batchSize, "ns/header",
			func() {
				for i := 0; i < 8; i++ {
					for j := range headers {
						x := sha256.Sum256(headers[j][:])
						out[j] = sha256.Sum256(x[:])
					}
				}
			},
			func() {
				for i := 0; i < 8; i++ {
					HeaderHashBatch(headers, out)
				}
			}},
		{"Scan", scanWindow, "ns/nonce",
			func() {
				hdr := h
				for i := uint32(0); i < scanWindow; i++ {
					binary.LittleEndian.PutUint32(hdr[76:], nonce+i)
					x := sha256.Sum256(hdr[:])
					x = sha256.Sum256(x[:])
					if hashLE(&x, target) {
						found = append(found, nonce+i)
					}
				}
				nonce += scanWindow
			},
			func() {
				found = scanner.Scan(nonce, scanWindow, target, found[:0])
				nonce += scanWindow
			}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			c.stdlib() // warm up
			c.fast()
			bestStd, bestFast := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				c.stdlib()
				t1 := time.Now()
				c.fast()
				t2 := time.Now()
				bestStd = min(bestStd, t1.Sub(t0))
				bestFast = min(bestFast, t2.Sub(t1))
			}
			b.ReportMetric(float64(bestStd)/float64(bestFast), "x")
			b.ReportMetric(float64(bestStd.Nanoseconds())/c.work, "stdlib-"+c.unit)
			b.ReportMetric(float64(bestFast.Nanoseconds())/c.work, c.unit)
			if c.name == "Scan" {
				b.ReportMetric(c.work/bestStd.Seconds()/1e6, "stdlib-MH/s")
				b.ReportMetric(c.work/bestFast.Seconds()/1e6, "MH/s")
			}
		})
	}
}
