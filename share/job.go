package share

import (
	"encoding/binary"
	"sync"
	"time"
)

// Extranonce1Size is the size of the per-connection extranonce1 in bytes.
// Its first byte is the pool node's id, so several nodes never collide.
const Extranonce1Size = 4

// MaxNTimeAhead is how far into the future a share's ntime may be; Bitcoin
// nodes reject blocks more than two hours ahead of their adjusted time.
const MaxNTimeAhead = 2 * time.Hour

// Job is one unit of work as published by the template manager. It is
// read-only once published: every session and validation reads it without
// locks.
type Job struct {
	// ID is the Stratum job id: unique per pool node and template.
	ID string
	// Height is the height of the block being built.
	Height int64
	// PrevHash is the previous block hash in internal byte order.
	PrevHash [32]byte
	// Version is the block version from the template.
	Version uint32
	// Bits is the compact network target.
	Bits uint32
	// CurTime is the template's time, sent as the job's ntime.
	CurTime uint32
	// MinTime is the lowest ntime the node accepts (0 when unknown).
	MinTime uint32
	// Coinb1 and Coinb2 are the non-witness coinbase halves around
	// extranonce1 || extranonce2.
	Coinb1, Coinb2 []byte
	// Extranonce2Size is the extranonce2 length miners must send.
	Extranonce2Size int
	// Branch is the coinbase's merkle branch, entries in internal order.
	Branch [][32]byte
	// NetTarget is the network target decoded from Bits.
	NetTarget Target
	// Clean says whether miners must drop older jobs (a new tip).
	Clean bool
	// Payout is the address the coinbase pays (the pool's, or a solo
	// miner's).
	Payout string
	// CoinbaseValue is the sum of the coinbase outputs in satoshis.
	CoinbaseValue int64
	// Txs are the template's transactions, serialized as the node gave
	// them (with witness data), in block order after the coinbase.
	Txs [][]byte
	// Witness says the coinbase carries a witness commitment, so the block
	// sent to the node needs the witness coinbase (reserved value of 32
	// zero bytes).
	Witness bool

	bodyOnce sync.Once
	body     []byte

	netDiffOnce sync.Once
	netDiff     float64
}

// NetDifficulty is the network difficulty of the job, diff1 / NetTarget,
// computed once per job (the share path reads it for every accepted
// share).
func (j *Job) NetDifficulty() float64 {
	j.netDiffOnce.Do(func() { j.netDiff = j.NetTarget.Difficulty() })
	return j.netDiff
}

// Submission is a parsed mining.submit.
type Submission struct {
	Extranonce1 []byte
	Extranonce2 []byte
	NTime       uint32
	Nonce       uint32
	// VersionBits are the rolled version bits (sixth submit parameter);
	// meaningful only when HasVersionBits is set.
	VersionBits    uint32
	HasVersionBits bool
}

// Result is what Check found out about a share. Callers reuse one Result
// per connection so that judging a share does not allocate.
type Result struct {
	Header     [80]byte
	Hash       [32]byte
	MerkleRoot [32]byte
	// Coinbase is the non-witness coinbase transaction that was hashed;
	// it reuses its backing array between calls.
	Coinbase []byte
	// Difficulty is the difficulty the hash achieves.
	Difficulty float64
	// Block says the hash meets the network target.
	Block bool
}

// CoinbaseInto appends the non-witness coinbase
// coinb1 | extranonce1 | extranonce2 | coinb2 to dst.
func (j *Job) CoinbaseInto(dst, extranonce1, extranonce2 []byte) []byte {
	dst = append(dst, j.Coinb1...)
	dst = append(dst, extranonce1...)
	dst = append(dst, extranonce2...)
	return append(dst, j.Coinb2...)
}

// RollVersion applies BIP310: (job & ^mask) | (bits & mask). ok is false
// when bits outside the mask are set.
func RollVersion(jobVersion, bits, mask uint32) (version uint32, ok bool) {
	if bits&^mask != 0 {
		return jobVersion, false
	}
	return jobVersion&^mask | bits&mask, true
}

// BuildHeader writes the 80-byte header for the given fields.
func BuildHeader(h *[80]byte, version uint32, prev, merkleRoot *[32]byte, ntime, bits, nonce uint32) {
	binary.LittleEndian.PutUint32(h[0:], version)
	copy(h[4:36], prev[:])
	copy(h[36:68], merkleRoot[:])
	binary.LittleEndian.PutUint32(h[68:], ntime)
	binary.LittleEndian.PutUint32(h[72:], bits)
	binary.LittleEndian.PutUint32(h[76:], nonce)
}

// Work is what the template manager publishes for one block template. Each
// connection asks it for the job it should mine: in pool mode every account
// gets the same job; in solo mode the coinbase pays the account.
type Work interface {
	// JobFor returns the job whose coinbase pays account (a payout
	// address; "" when the connection has no authorized worker yet).
	JobFor(account string) (*Job, error)
	// Clean says miners must drop older work (the template is on a new tip).
	Clean() bool
	// Height is the height of the block the template builds.
	Height() int64
}
