package share

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
)

// Target is a 256-bit target in the byte order hashes are produced in
// (internal order: byte 31 is the most significant). A hash meets a target
// when, read as a little-endian 256-bit integer, it is less than or equal.
type Target [32]byte

// diff1 is the difficulty-1 target, 0xFFFF·2^208.
var diff1 = new(big.Int).Lsh(big.NewInt(0xFFFF), 208)

// diff1Float is diff1 as a float64 (exactly representable).
const diff1Float float64 = 0xFFFF << 208

// maxTarget is 2^256-1, the easiest possible target.
var maxTarget = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// Meets reports whether hash (internal byte order) is <= t, comparing as
// 256-bit integers from the most significant word down.
func (t *Target) Meets(hash *[32]byte) bool {
	for i := 24; i >= 0; i -= 8 {
		h := binary.LittleEndian.Uint64(hash[i:])
		w := binary.LittleEndian.Uint64(t[i:])
		if h != w {
			return h < w
		}
	}
	return true
}

// Big returns the target as an integer.
func (t *Target) Big() *big.Int {
	var be [32]byte
	for i := range 32 {
		be[i] = t[31-i]
	}
	return new(big.Int).SetBytes(be[:])
}

// TargetFromBig converts an integer in [0, 2^256) to a Target; larger values
// are clamped to 2^256-1 and negative ones to zero.
func TargetFromBig(n *big.Int) Target {
	var t Target
	if n.Sign() <= 0 {
		return t
	}
	if n.Cmp(maxTarget) > 0 {
		n = maxTarget
	}
	var be [32]byte
	n.FillBytes(be[:])
	for i := range 32 {
		t[i] = be[31-i]
	}
	return t
}

// TargetFromDifficulty returns diff1/d. Fractional difficulties are allowed
// (CPU miners and regtest need values far below 1); a difficulty whose target
// would exceed 2^256-1 yields the maximum target.
func TargetFromDifficulty(d float64) (Target, error) {
	if !(d > 0) || math.IsInf(d, 0) {
		return Target{}, fmt.Errorf("share: difficulty %v is not a positive finite number", d)
	}
	q := new(big.Float).SetPrec(512).SetInt(diff1)
	q.Quo(q, new(big.Float).SetPrec(512).SetFloat64(d))
	n, _ := q.Int(nil)
	return TargetFromBig(n), nil
}

// TargetFromBits decodes a compact nbits value into a target. It rejects
// negative and overflowing encodings.
func TargetFromBits(bits uint32) (Target, error) {
	mant := bits & 0x007fffff
	exp := uint(bits >> 24)
	if bits&0x00800000 != 0 && mant != 0 {
		return Target{}, fmt.Errorf("share: nbits %08x encodes a negative target", bits)
	}
	n := new(big.Int).SetUint64(uint64(mant))
	if exp <= 3 {
		n.Rsh(n, 8*(3-exp))
	} else {
		n.Lsh(n, 8*(exp-3))
	}
	if n.BitLen() > 256 {
		return Target{}, fmt.Errorf("share: nbits %08x overflows 256 bits", bits)
	}
	return TargetFromBig(n), nil
}

// Difficulty returns diff1/t: the difficulty a target stands for.
func (t *Target) Difficulty() float64 {
	n := t.Big()
	if n.Sign() == 0 {
		return math.Inf(1)
	}
	f, _ := new(big.Float).Quo(new(big.Float).SetInt(diff1), new(big.Float).SetInt(n)).Float64()
	return f
}

// HashDifficulty returns the difficulty a hash achieves, 0xFFFF·2^208 / hash
// with the hash read as a little-endian 256-bit integer. It is for reporting
// (logs, statistics, best share); accept decisions compare targets as
// integers with Meets. It does not allocate.
func HashDifficulty(hash *[32]byte) float64 {
	var h float64
	for i := 24; i >= 0; i -= 8 {
		h = h*18446744073709551616.0 + float64(binary.LittleEndian.Uint64(hash[i:]))
	}
	if h == 0 {
		return math.Inf(1)
	}
	return diff1Float / h
}
