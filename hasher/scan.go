package hasher

import (
	"encoding/binary"
	"math/bits"
)

// candMax is the size of a kernel's candidate buffer. A kernel stops when
// fewer than 8 free slots remain, so one group of lanes always fits.
const candMax = 32

// scanJob is what the SHA-NI scan kernels read; offsets are fixed in
// asm_gen.go. States are in SHA-NI's ABEF/CDGH layout.
type scanJob struct {
	mid     [8]uint32 // state after header bytes 0..63
	pre     [8]uint32 // state after rounds 0, 1 of block 2 (constant words)
	w       [4]uint32 // W0..W3 of block 2; W3 (the nonce) is set per try
	targTop uint32    // top 32 bits of the target
	ncand   uint32
	cand    [candMax]uint32 // nonces whose hash's top 32 bits pass targTop
}

// avxScanJob is what avx2Scan8 reads and writes; offsets are fixed in
// asm_gen_avx2.go. Every word is replicated over the eight lanes.
type avxScanJob struct {
	pre3   [8][8]uint32  // state after rounds 0..2 of block 2
	mid    [8][8]uint32  // midstate
	w      [64][8]uint32 // block 2 schedule; W0..W2 set by Reset
	ow     [64][8]uint32 // outer schedule scratch
	target [8]uint32     // targTop ^ 0x80000000 (for a signed compare)
	ncand  uint32
	cand   [candMax]uint32
}

// Scanner tries nonces on one header: the midstate of the first 64 header
// bytes, and the rounds of the second block that do not depend on the
// nonce, are computed once by NewScanner or Reset. A Scanner is not safe
// for concurrent use; give each mining goroutine its own.
type Scanner struct {
	header [80]byte
	mid    [8]uint32 // natural order
	w      [64]uint32
	pre3   [8]uint32
	job    scanJob
	avx    avxScanJob
}

// NewScanner returns a Scanner for header; header bytes 76..79 (the nonce)
// are ignored.
func NewScanner(header *[80]byte) *Scanner {
	s := new(Scanner)
	s.Reset(header)
	return s
}

// Reset points s at a new header without allocating.
func (s *Scanner) Reset(header *[80]byte) {
	s.header = *header
	s.mid = midstate(header)
	s.w = [64]uint32{}
	for i := 0; i < 4; i++ {
		s.w[i] = binary.BigEndian.Uint32(header[64+4*i:])
	}
	copy(s.w[4:16], headerPad[:])
	pre2 := s.mid
	rounds(&pre2, &s.w, 0, 2)
	s.pre3 = pre2
	rounds(&s.pre3, &s.w, 2, 3)

	s.job.mid = shaniLayout(&s.mid)
	s.job.pre = shaniLayout(&pre2)
	copy(s.job.w[:], s.w[:4])
	for i := 0; i < 8; i++ {
		s.avx.pre3[i] = lanes(s.pre3[i])
		s.avx.mid[i] = lanes(s.mid[i])
	}
	for i := 0; i < 3; i++ {
		s.avx.w[i] = lanes(s.w[i])
	}
}

func lanes(v uint32) [8]uint32 { return [8]uint32{v, v, v, v, v, v, v, v} }

// shaniLayout arranges a state as SHA256RNDS2 takes it: ABEF then CDGH,
// each with dword 0 the last letter.
func shaniLayout(s *[8]uint32) [8]uint32 {
	return [8]uint32{s[5], s[4], s[1], s[0], s[7], s[6], s[3], s[2]}
}

// Scan tries nonces start, start+1, ..., start+count-1 (mod 2^32), written
// little-endian into header bytes 76..79, and appends to found every nonce
// whose header hash, read as a little-endian 256-bit integer, is <= target.
// target is in the same byte order as hashes (byte 31 most significant).
//
// The kernels compare only the hash's top 32 bits (computing the outer
// hash's last word three rounds early); every candidate is then checked
// with a full HeaderHash, so found holds exactly the qualifying nonces.
func (s *Scanner) Scan(start, count uint32, target *[32]byte, found []uint32) []uint32 {
	top := binary.LittleEndian.Uint32(target[28:])
	s.job.targTop = top
	s.avx.target = lanes(top ^ 0x80000000)
	for count > 0 {
		var done uint32
		var cand []uint32
		switch n := count &^ 7; {
		case multi == kAVX2 && n > 0:
			s.avx.ncand = 0
			done = avx2Scan8(&s.avx, start, n)
			cand = s.avx.cand[:s.avx.ncand]
		case multi == kSHANI2 && count >= 2:
			s.job.ncand = 0
			done = shaniScan2(&s.job, start, count&^1)
			cand = s.job.cand[:s.job.ncand]
		case multi != kGeneric && hasSHANI:
			s.job.ncand = 0
			done = shaniScan1(&s.job, start, count)
			cand = s.job.cand[:s.job.ncand]
		default:
			s.job.ncand = 0
			done = s.scanGeneric(start, count)
			cand = s.job.cand[:s.job.ncand]
		}
		for _, n := range cand {
			if s.check(n, target) {
				found = append(found, n)
			}
		}
		start += done
		count -= done
	}
	return found
}

// check verifies a candidate nonce with the full header hash.
func (s *Scanner) check(nonce uint32, target *[32]byte) bool {
	h := s.header
	binary.LittleEndian.PutUint32(h[76:], nonce)
	hash := HeaderHash(&h)
	return hashLE(&hash, target)
}

// scanGeneric is the pure Go scan kernel, with the same contract as the
// assembly ones: it records candidates in s.job and stops when the buffer
// is nearly full, returning the number of nonces tried.
func (s *Scanner) scanGeneric(start, count uint32) uint32 {
	w := s.w
	var o [64]uint32
	copy(o[8:16], outerPad[:])
	top := s.job.targTop
	var i uint32
	for ; i < count && s.job.ncand <= candMax-8; i++ {
		n := start + i
		w[3] = bits.ReverseBytes32(n)
		expand(&w)
		st := s.pre3
		rounds(&st, &w, 3, 64)
		for j := range st {
			o[j] = st[j] + s.mid[j]
		}
		expand(&o)
		st = iv
		rounds(&st, &o, 0, 61)
		// e after round 60 is h after round 63.
		if bits.ReverseBytes32(st[4]+iv[7]) <= top {
			s.job.cand[s.job.ncand] = n
			s.job.ncand++
		}
	}
	return i
}
