package hasher

import (
	"encoding/binary"
	"math/bits"
)

// iv is SHA-256's initial state.
var iv = [8]uint32{
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
}

// k holds SHA-256's round constants.
var k = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

// Padding words of the blocks whose shape never changes. A block's words are
// W0..W15; the names give the first constant word.
var (
	// headerPad is W4..W15 of a header's second block: bytes 64..79 of the
	// header are W0..W3, then 0x80, zeros and the bit length 640.
	headerPad = [12]uint32{0x80000000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 640}
	// outerPad is W8..W15 of the outer hash of a double SHA-256: the inner
	// digest is W0..W7, then 0x80, zeros and the bit length 256.
	outerPad = [8]uint32{0x80000000, 0, 0, 0, 0, 0, 0, 256}
	// pad64KW is K[i]+W[i] of the second block of a 64-byte message (a
	// merkle node): it carries no data, so its whole schedule is constant.
	pad64KW = func() (kw [64]uint32) {
		kw[0] = 0x80000000
		kw[15] = 512
		expand(&kw)
		addK(&kw)
		return kw
	}()
)

// expand computes the message schedule W16..W63 from W0..W15.
func expand(w *[64]uint32) {
	for i := 16; i < 64; i++ {
		v1 := w[i-2]
		t1 := bits.RotateLeft32(v1, -17) ^ bits.RotateLeft32(v1, -19) ^ (v1 >> 10)
		v2 := w[i-15]
		t2 := bits.RotateLeft32(v2, -7) ^ bits.RotateLeft32(v2, -18) ^ (v2 >> 3)
		w[i] = t1 + w[i-7] + t2 + w[i-16]
	}
}

// addK turns a schedule into K[i]+W[i], the form compress takes.
func addK(w *[64]uint32) {
	for i := range w {
		w[i] += k[i]
	}
}

// compress runs the 64 rounds over kw (K[i]+W[i]) and adds the result into h.
func compress(h *[8]uint32, kw *[64]uint32) {
	a, b, c, d, e, f, g, hh := h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
	for i := 0; i < 64; i++ {
		t1 := hh + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) +
			((e & f) ^ (^e & g)) + kw[i]
		t2 := (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) +
			((a & b) ^ (a & c) ^ (b & c))
		hh, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
	}
	h[0] += a
	h[1] += b
	h[2] += c
	h[3] += d
	h[4] += e
	h[5] += f
	h[6] += g
	h[7] += hh
}

// blockGeneric compresses the 64-byte block p into h.
func blockGeneric(h *[8]uint32, p []byte) {
	var w [64]uint32
	_ = p[63]
	for i := 0; i < 16; i++ {
		w[i] = binary.BigEndian.Uint32(p[4*i:])
	}
	expand(&w)
	addK(&w)
	compress(h, &w)
}

// outerGeneric writes sha256 of the 32-byte digest whose state is s.
func outerGeneric(out *[32]byte, s *[8]uint32) {
	var w [64]uint32
	copy(w[:8], s[:])
	copy(w[8:16], outerPad[:])
	expand(&w)
	addK(&w)
	t := iv
	compress(&t, &w)
	putState(out, &t)
}

// putState writes a state as a digest (big-endian words).
func putState(out *[32]byte, s *[8]uint32) {
	for i, v := range s {
		binary.BigEndian.PutUint32(out[4*i:], v)
	}
}

// midstate returns the state after the first 64 bytes of a header.
func midstate(header *[80]byte) [8]uint32 {
	s := iv
	blockGeneric(&s, header[:64])
	return s
}

func doubleGeneric(b []byte) [32]byte {
	s := iv
	n := len(b) &^ 63
	for i := 0; i < n; i += 64 {
		blockGeneric(&s, b[i:i+64])
	}
	var tail [128]byte
	t := copy(tail[:], b[n:])
	tail[t] = 0x80
	end := 64
	if t >= 56 {
		end = 128
	}
	binary.BigEndian.PutUint64(tail[end-8:], uint64(len(b))<<3)
	blockGeneric(&s, tail[:64])
	if end == 128 {
		blockGeneric(&s, tail[64:])
	}
	var out [32]byte
	outerGeneric(&out, &s)
	return out
}

func headerGeneric(out *[32]byte, header *[80]byte) {
	s := midstate(header)
	var w [64]uint32
	for i := 0; i < 4; i++ {
		w[i] = binary.BigEndian.Uint32(header[64+4*i:])
	}
	copy(w[4:16], headerPad[:])
	expand(&w)
	addK(&w)
	compress(&s, &w)
	outerGeneric(out, &s)
}

func merkleGeneric(acc *[32]byte, branch [][32]byte) {
	var w [64]uint32
	for j := range branch {
		for i := 0; i < 8; i++ {
			w[i] = binary.BigEndian.Uint32(acc[4*i:])
			w[8+i] = binary.BigEndian.Uint32(branch[j][4*i:])
		}
		expand(&w)
		addK(&w)
		s := iv
		compress(&s, &w)
		compress(&s, &pad64KW)
		outerGeneric(acc, &s)
	}
}
