package share

import "encoding/binary"

// MaxSeen caps the shares one extranonce1 may have accepted on one tip. The
// duplicate memory must hold every share that could still be submitted
// again, so it is never trimmed while the tip lasts; a connection past the
// cap is answered ErrShareLimit until the next tip. At one share per 10 s
// (the vardiff aim) a tip would have to last half a year to reach it; only
// a miner pinned far below its hashrate (d=N) gets there, and its memory
// stays bounded (about 2.5 MiB).
const MaxSeen = 1 << 16

// Seen is the duplicate memory of one extranonce1: the headers of the shares
// accepted for it since the tip changed, whatever job id they came under.
// The header hash names the share exactly (the coinbase in its merkle root
// holds the extranonce1, the header the job's previous block, version,
// bits, ntime and nonce), so one share resubmitted under another id of the
// same job, under a refreshed job with the same content, or after the
// miner resumed its session on a new connection, is found here.
//
// Entries are dropped only at NewTip: a clean job (a new previous block)
// makes every earlier job stale, so no share recorded before it can be
// accepted again. A Seen belongs to one connection at a time (its session
// lock guards it) and is handed over, with the extranonce1, to the
// connection that takes that extranonce1 next.
type Seen struct {
	// prev is the first 8 bytes of the tip's hash (internal order, where
	// the bytes are random): enough to tell tips apart, and a collision
	// would only keep entries longer, never drop one early.
	prev uint64
	tip  bool // prev is set
	seen map[[16]byte]struct{}
}

// NewTip tells the memory that a clean job on previous block prev was sent:
// when prev is a new tip, the entries of the old one are dropped. A clean
// job on the same tip (a resend, or a node failover to a node on the same
// tip) keeps them, since the old jobs' shares could be rebuilt on it.
func (s *Seen) NewTip(prev *[32]byte) {
	p := binary.LittleEndian.Uint64(prev[:8])
	if s.tip && s.prev == p {
		return
	}
	s.prev, s.tip = p, true
	if len(s.seen) > 64 {
		// A burst left a large table, which clear would keep: let it
		// go, as a connection back to a few shares per tip needs little.
		s.seen = nil
	} else {
		clear(s.seen)
	}
}

// Len returns how many shares are remembered.
func (s *Seen) Len() int { return len(s.seen) }

// Mark records hash and reports whether it was already there, or that the
// memory is full (then nothing is recorded).
func (s *Seen) Mark(hash *[32]byte) (dup, full bool) {
	var k [16]byte
	copy(k[:], hash[:16])
	if s.seen == nil {
		s.seen = make(map[[16]byte]struct{}, 8)
	}
	if _, ok := s.seen[k]; ok {
		return true, false
	}
	if len(s.seen) >= MaxSeen {
		return false, true
	}
	s.seen[k] = struct{}{}
	return false, false
}
