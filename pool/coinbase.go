package pool

import (
	"encoding/binary"
	"fmt"

	"github.com/tarbela-pool/tarbela/hasher"
)

// Coinbase scriptSig limits (consensus: 2..100 bytes).
const (
	minScriptSig = 2
	maxScriptSig = 100
)

// HeightScript returns the BIP34 height push that starts the coinbase
// scriptSig: OP_1..OP_16 for 1..16 (OP_0 for 0), otherwise the minimal
// little-endian script number push, as Bitcoin Core's CScript() << nHeight.
func HeightScript(height int64) []byte {
	switch {
	case height == 0:
		return []byte{0x00}
	case height >= 1 && height <= 16:
		return []byte{0x50 + byte(height)}
	}
	var num []byte
	for h := height; h > 0; h >>= 8 {
		num = append(num, byte(h))
	}
	if num[len(num)-1]&0x80 != 0 {
		num = append(num, 0) // keep the script number positive
	}
	return append([]byte{byte(len(num))}, num...)
}

// MerkleBranch returns the Stratum merkle branch for a coinbase placed
// before txids (internal order): the sibling hashes met on the way from the
// coinbase leaf to the root.
func MerkleBranch(txids [][32]byte) [][32]byte {
	var branch [][32]byte
	// level holds the hashes right of the coinbase path at the current
	// level; the path itself is implicit at index 0.
	level := append([][32]byte(nil), txids...)
	var buf [64]byte
	for len(level) > 0 {
		branch = append(branch, level[0])
		rest := level[1:]
		if len(rest)%2 == 1 {
			rest = append(rest, rest[len(rest)-1])
		}
		next := make([][32]byte, 0, len(rest)/2)
		for i := 0; i < len(rest); i += 2 {
			copy(buf[:32], rest[i][:])
			copy(buf[32:], rest[i+1][:])
			next = append(next, hasher.DoubleSHA256(buf[:]))
		}
		level = next
	}
	return branch
}

// WitnessCommitmentScript computes the BIP141 commitment output script for
// the transactions, assuming the coinbase witness reserved value of 32 zero
// bytes: OP_RETURN 0x24 aa21a9ed sha256d(witness root || reserved).
func WitnessCommitmentScript(txs []TemplateTx) []byte {
	leaves := make([][32]byte, 0, len(txs)+1)
	leaves = append(leaves, [32]byte{}) // the coinbase's wtxid is zero
	for _, tx := range txs {
		leaves = append(leaves, tx.WTxID)
	}
	root := merkleRoot(leaves)
	var buf [64]byte
	copy(buf[:32], root[:])
	c := hasher.DoubleSHA256(buf[:])
	return append(append([]byte(nil), witnessCommitmentPrefix...), c[:]...)
}

// merkleRoot computes a full merkle root over leaves (internal order).
func merkleRoot(leaves [][32]byte) [32]byte {
	level := append([][32]byte(nil), leaves...)
	var buf [64]byte
	for len(level) > 1 {
		if len(level)%2 == 1 {
			level = append(level, level[len(level)-1])
		}
		next := level[:0:0]
		for i := 0; i < len(level); i += 2 {
			copy(buf[:32], level[i][:])
			copy(buf[32:], level[i+1][:])
			next = append(next, hasher.DoubleSHA256(buf[:]))
		}
		level = next
	}
	return level[0]
}

// TxOut is one coinbase output.
type TxOut struct {
	Value  int64
	Script []byte
}

// coinbaseParts builds the non-witness coinbase split around the extranonce
// space: coinb1 ends with the push opcode of extranonce1||extranonce2, coinb2
// starts with the pool tag push. The scriptSig is
// heightPush | push(en1||en2) | push(tag).
func coinbaseParts(height int64, tag []byte, extranonceSize int, outs []TxOut) (coinb1, coinb2 []byte, err error) {
	hs := HeightScript(height)
	scriptLen := len(hs) + 1 + extranonceSize
	if len(tag) > 0 {
		scriptLen += 1 + len(tag)
	}
	if scriptLen < minScriptSig || scriptLen > maxScriptSig {
		return nil, nil, fmt.Errorf("coinbase scriptSig would be %d bytes (height push %d, extranonce %d, tag %d); it must be %d..%d",
			scriptLen, len(hs), extranonceSize, len(tag), minScriptSig, maxScriptSig)
	}
	if extranonceSize > 75 || len(tag) > 75 {
		return nil, nil, fmt.Errorf("coinbase pushes must be at most 75 bytes")
	}
	coinb1 = binary.LittleEndian.AppendUint32(nil, 2) // tx version
	coinb1 = append(coinb1, 1)                        // one input
	coinb1 = append(coinb1, make([]byte, 32)...)      // null outpoint hash
	coinb1 = binary.LittleEndian.AppendUint32(coinb1, 0xffffffff)
	coinb1 = append(coinb1, byte(scriptLen))
	coinb1 = append(coinb1, hs...)
	coinb1 = append(coinb1, byte(extranonceSize))

	if len(tag) > 0 {
		coinb2 = append(coinb2, byte(len(tag)))
		coinb2 = append(coinb2, tag...)
	}
	coinb2 = binary.LittleEndian.AppendUint32(coinb2, 0xffffffff) // sequence
	coinb2 = appendVarInt(coinb2, uint64(len(outs)))
	for _, o := range outs {
		coinb2 = binary.LittleEndian.AppendUint64(coinb2, uint64(o.Value))
		coinb2 = appendVarInt(coinb2, uint64(len(o.Script)))
		coinb2 = append(coinb2, o.Script...)
	}
	coinb2 = binary.LittleEndian.AppendUint32(coinb2, 0) // lock time
	return coinb1, coinb2, nil
}

// appendVarInt appends Bitcoin's CompactSize encoding of n.
func appendVarInt(b []byte, n uint64) []byte {
	switch {
	case n < 0xfd:
		return append(b, byte(n))
	case n <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(b, 0xfd), uint16(n))
	case n <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(n))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xff), n)
}
