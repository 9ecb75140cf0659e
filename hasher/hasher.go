package hasher

import (
	"crypto/sha256"
	"encoding/binary"
)

// DoubleSHA256 returns sha256(sha256(b)) for input of any length.
func DoubleSHA256(b []byte) [32]byte {
	h := sha256.Sum256(b)
	return sha256.Sum256(h[:])
}

// HeaderHash returns the SHA-256d of an 80-byte block header.
func HeaderHash(header *[80]byte) [32]byte {
	return DoubleSHA256(header[:])
}

// MerkleRoot folds leaf up a merkle branch: acc = leaf, then for every node
// acc = sha256d(acc || node). It is how a share's coinbase txid becomes the
// header's merkle root.
func MerkleRoot(leaf [32]byte, branch [][32]byte) [32]byte {
	var buf [64]byte
	acc := leaf
	for i := range branch {
		copy(buf[:32], acc[:])
		copy(buf[32:], branch[i][:])
		acc = DoubleSHA256(buf[:])
	}
	return acc
}

// HeaderHashBatch sets out[i] = HeaderHash(&headers[i]) for every header.
// out must be at least as long as headers.
func HeaderHashBatch(headers [][80]byte, out [][32]byte) {
	out = out[:len(headers)]
	for i := range headers {
		out[i] = HeaderHash(&headers[i])
	}
}

// Scanner tries nonces on one header. Reuse one with Reset to avoid
// allocating per job.
type Scanner struct {
	header [80]byte
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
}

// Scan tries nonces start, start+1, ..., start+count-1 (mod 2^32), written
// little-endian into header bytes 76..79, and appends to found every nonce
// whose header hash, read as a little-endian 256-bit integer, is <= target.
// target is in the same byte order as hashes (byte 31 most significant).
func (s *Scanner) Scan(start, count uint32, target *[32]byte, found []uint32) []uint32 {
	h := s.header
	for i := uint32(0); i < count; i++ {
		n := start + i
		binary.LittleEndian.PutUint32(h[76:], n)
		hash := HeaderHash(&h)
		if hashLE(&hash, target) {
			found = append(found, n)
		}
	}
	return found
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
