package hasher

import (
	"encoding/binary"
	"math/bits"
)

// Kernel families. single picks the kernel for one hash at a time
// (DoubleSHA256, HeaderHash, MerkleRoot); multi picks the one for nonce
// scanning and batches. Both are chosen once at start-up from the CPU's
// features; tests switch them to cover every path the machine supports.
const (
	kGeneric = iota // pure Go
	kSHANI          // SHA-NI, one stream
	kSHANI2         // SHA-NI, two interleaved streams
	kAVX2           // AVX2, eight lanes
)

var single, multi = defaultKernels()

// defaultKernels picks the fastest kernels measured on the target CPU
// (see BENCHMARKS.md): two interleaved SHA-NI streams beat eight AVX2
// lanes on AMD Zen, and AVX2 beats pure Go where SHA-NI is missing.
func defaultKernels() (s, m int) {
	s, m = kGeneric, kGeneric
	if hasAVX2 {
		m = kAVX2
	}
	if hasSHANI {
		s, m = kSHANI, kSHANI2
	}
	return s, m
}

// DoubleSHA256 returns sha256(sha256(b)) for input of any length.
func DoubleSHA256(b []byte) [32]byte {
	if single != kGeneric {
		return doubleSHANI(b)
	}
	return doubleGeneric(b)
}

func doubleSHANI(b []byte) (out [32]byte) {
	h := iv
	n := len(b) >> 6
	if n > 0 {
		shaniBlocks(&h, &b[0], n)
	}
	var tail [128]byte
	t := copy(tail[:], b[n<<6:])
	tail[t] = 0x80
	nt := 1
	if t >= 56 {
		nt = 2
	}
	binary.BigEndian.PutUint64(tail[nt*64-8:], uint64(len(b))<<3)
	shaniBlocksOuter(&out, &h, &tail[0], nt)
	return out
}

// HeaderHash returns the SHA-256d of an 80-byte block header.
func HeaderHash(header *[80]byte) (out [32]byte) {
	if single != kGeneric {
		shaniHeader(&out, header)
	} else {
		headerGeneric(&out, header)
	}
	return out
}

// MerkleRoot folds leaf up a merkle branch: acc = leaf, then for every node
// acc = sha256d(acc || node). It is how a share's coinbase txid becomes the
// header's merkle root.
func MerkleRoot(leaf [32]byte, branch [][32]byte) [32]byte {
	acc := leaf
	if len(branch) == 0 {
		return acc
	}
	if single != kGeneric {
		shaniMerkle(&acc, &branch[0], len(branch))
	} else {
		merkleGeneric(&acc, branch)
	}
	return acc
}

// HeaderHashBatch sets out[i] = HeaderHash(&headers[i]) for every header,
// hashing several headers at once where the CPU allows. out must be at
// least as long as headers.
func HeaderHashBatch(headers [][80]byte, out [][32]byte) {
	out = out[:len(headers)]
	i := 0
	switch multi {
	case kAVX2:
		if len(headers) >= 8 {
			var j avxBatchJob
			for ; i+8 <= len(headers); i += 8 {
				j.load((*[8][80]byte)(headers[i : i+8]))
				avx2Header8(&j)
				j.store((*[8][32]byte)(out[i : i+8]))
			}
		}
	case kSHANI2:
		for ; i+2 <= len(headers); i += 2 {
			shaniHeader2((*[2][32]byte)(out[i:i+2]), &headers[i], &headers[i+1])
		}
	}
	for ; i < len(headers); i++ {
		out[i] = HeaderHash(&headers[i])
	}
}

// avxBatchJob is the word-major (transposed) working set of avx2Header8;
// the offsets are fixed in asm_gen_avx2.go.
type avxBatchJob struct {
	w   [64][8]uint32 // block 1 W0..W15, then scratch
	w2  [4][8]uint32  // block 2 W0..W3
	mid [8][8]uint32
	out [8][8]uint32
}

func (j *avxBatchJob) load(h *[8][80]byte) {
	for l := range h {
		for i := 0; i < 16; i++ {
			j.w[i][l] = binary.BigEndian.Uint32(h[l][4*i:])
		}
		for i := 0; i < 4; i++ {
			j.w2[i][l] = binary.BigEndian.Uint32(h[l][64+4*i:])
		}
	}
}

func (j *avxBatchJob) store(out *[8][32]byte) {
	for l := range out {
		for i := 0; i < 8; i++ {
			binary.BigEndian.PutUint32(out[l][4*i:], j.out[i][l])
		}
	}
}

// hashLE reports whether hash <= target as little-endian 256-bit integers.
func hashLE(hash, target *[32]byte) bool {
	for i := 31; i >= 0; i-- {
		if hash[i] != target[i] {
			return hash[i] < target[i]
		}
	}
	return true
}

// rounds runs rounds [from, to) over the schedule w (without K) on s.
func rounds(s *[8]uint32, w *[64]uint32, from, to int) {
	a, b, c, d, e, f, g, h := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
	for i := from; i < to; i++ {
		t1 := h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) +
			((e & f) ^ (^e & g)) + k[i&63] + w[i&63]
		t2 := (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) +
			((a & b) ^ (a & c) ^ (b & c))
		h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
	}
	*s = [8]uint32{a, b, c, d, e, f, g, h}
}
