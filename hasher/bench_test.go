package hasher

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

// The benchmarks run every kernel path the machine supports next to a
// crypto/sha256 baseline ("stdlib") so that speed can be reported as a
// ratio measured in one run (the machine is shared and noisy). See
// BENCHMARKS.md for the command and the figures.

// benchPaths returns the named kernel choices for single hashes or for
// multi-hash work (scan, batch).
func benchPaths(multiKernels bool) []struct {
	name string
	p    path
} {
	var ps []struct {
		name string
		p    path
	}
	add := func(name string, p path) {
		ps = append(ps, struct {
			name string
			p    path
		}{name, p})
	}
	best := kGeneric
	if hasSHANI {
		best = kSHANI
	}
	if !multiKernels {
		add("generic", path{kGeneric, kGeneric})
		if hasSHANI {
			add("shani", path{kSHANI, kSHANI})
		}
		return ps
	}
	add("generic", path{best, kGeneric})
	if hasSHANI {
		add("shani", path{best, kSHANI})
		add("shani2", path{best, kSHANI2})
	}
	if hasAVX2 {
		add("avx2", path{best, kAVX2})
	}
	return ps
}

var sink [32]byte

func benchHeader() [80]byte {
	var h [80]byte
	for i := range h {
		h[i] = byte(i * 7)
	}
	return h
}

func BenchmarkHeaderHash(b *testing.B) {
	h := benchHeader()
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			x := sha256.Sum256(h[:])
			sink = sha256.Sum256(x[:])
		}
	})
	for _, bp := range benchPaths(false) {
		b.Run(bp.name, func(b *testing.B) {
			defer use(bp.p)()
			b.ReportAllocs()
			for b.Loop() {
				sink = HeaderHash(&h)
			}
		})
	}
}

func BenchmarkMerkleRoot12(b *testing.B) {
	branch := make([][32]byte, 12)
	for i := range branch {
		branch[i][0] = byte(i)
	}
	var leaf [32]byte
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		var buf [64]byte
		for b.Loop() {
			acc := leaf
			for i := range branch {
				copy(buf[:32], acc[:])
				copy(buf[32:], branch[i][:])
				x := sha256.Sum256(buf[:])
				acc = sha256.Sum256(x[:])
			}
			sink = acc
		}
	})
	for _, bp := range benchPaths(false) {
		b.Run(bp.name, func(b *testing.B) {
			defer use(bp.p)()
			b.ReportAllocs()
			for b.Loop() {
				sink = MerkleRoot(leaf, branch)
			}
		})
	}
}

func BenchmarkDoubleSHA256(b *testing.B) {
	for _, n := range []int{64, 250} {
		data := make([]byte, n)
		b.Run(itoa(n)+"/stdlib", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				x := sha256.Sum256(data)
				sink = sha256.Sum256(x[:])
			}
		})
		for _, bp := range benchPaths(false) {
			b.Run(itoa(n)+"/"+bp.name, func(b *testing.B) {
				defer use(bp.p)()
				b.ReportAllocs()
				b.SetBytes(int64(n))
				for b.Loop() {
					sink = DoubleSHA256(data)
				}
			})
		}
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// batchSize headers are hashed per op; ns/header is reported too.
const batchSize = 64

func BenchmarkHeaderHashBatch(b *testing.B) {
	headers := make([][80]byte, batchSize)
	for i := range headers {
		headers[i] = benchHeader()
		headers[i][0] = byte(i)
	}
	out := make([][32]byte, batchSize)
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batchSize), "ns/header")
	}
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for i := range headers {
				x := sha256.Sum256(headers[i][:])
				out[i] = sha256.Sum256(x[:])
			}
		}
		report(b)
	})
	for _, bp := range benchPaths(true) {
		b.Run(bp.name, func(b *testing.B) {
			defer use(bp.p)()
			b.ReportAllocs()
			for b.Loop() {
				HeaderHashBatch(headers, out)
			}
			report(b)
		})
	}
}

// scanSize nonces are tried per op, at a target with 32 leading zero bits
// (as a real share target: hits are rare).
const scanSize = 1 << 14

func BenchmarkScan(b *testing.B) {
	h := benchHeader()
	target := leadingZeroTarget(32)
	mhs := func(b *testing.B) {
		b.ReportMetric(float64(b.N)*scanSize/b.Elapsed().Seconds()/1e6, "MH/s")
	}
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		hdr := h
		var found []uint32
		var start uint32
		for b.Loop() {
			for i := uint32(0); i < scanSize; i++ {
				binary.LittleEndian.PutUint32(hdr[76:], start+i)
				x := sha256.Sum256(hdr[:])
				x = sha256.Sum256(x[:])
				if hashLE(&x, target) {
					found = append(found, start+i)
				}
			}
			start += scanSize
		}
		mhs(b)
	})
	for _, bp := range benchPaths(true) {
		b.Run(bp.name, func(b *testing.B) {
			defer use(bp.p)()
			s := NewScanner(&h)
			found := make([]uint32, 0, 16)
			var start uint32
			b.ReportAllocs()
			for b.Loop() {
				found = s.Scan(start, scanSize, target, found[:0])
				start += scanSize
			}
			mhs(b)
		})
	}
}
