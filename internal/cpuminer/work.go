package cpuminer

import (
	"context"
	"encoding/binary"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/tarbela-pool/tarbela/hasher"
	"github.com/tarbela-pool/tarbela/share"
)

// ChunkSize is how many nonces a thread scans between looks at the board
// for newer work. 2^16 nonces take about 3 ms with an optimized scanner and
// well under 100 ms with the pure Go one, so a new job is picked up quickly
// while the per-chunk cost (a new header and midstate) stays negligible.
const ChunkSize = 1 << 16

// chunksPerHeader is how many chunks cover the 2^32 nonces of one header.
const chunksPerHeader = (1 << 32) / ChunkSize

// maxExtranonce2Size bounds the extranonce2 length a pool may ask for; real
// pools use 2 to 8 bytes and a larger value is treated as a bad message.
const maxExtranonce2Size = 32

// goal is the target a work unit is mined at, with the difficulty it stands
// for (kept for logs and stats).
type goal struct {
	target     share.Target
	difficulty float64
}

// work is one job as every thread mines it. Its fields are fixed once it is
// on the board, except goal (which only ever gets harder) and next.
type work struct {
	job *share.Job
	// sess and epoch say which connection and which clean_jobs generation
	// the job belongs to; shares of another generation are dropped.
	sess  *session
	epoch uint64
	en1   []byte
	// en2Size is the extranonce2 length; units is how many extranonce2
	// values there are (saturating at 2^64-1).
	en2Size int
	units   uint64
	// mask is the negotiated version-rolling mask (0: no rolling) and
	// versions the number of version values it allows.
	mask     uint32
	versions uint64
	goal     atomic.Pointer[goal]
	// next hands out extranonce2 values, one per thread at a time; it is
	// shared by every work on the same tip (Miner.unitCounter).
	next *atomic.Uint64
	// stale is closed when the work leaves the board.
	stale chan struct{}
}

// newWork prepares a job for mining.
func newWork(job *share.Job, sess *session, epoch uint64, en1 []byte, en2Size int, mask uint32, g *goal, next *atomic.Uint64) *work {
	w := &work{
		next:     next,
		job:      job,
		sess:     sess,
		epoch:    epoch,
		en1:      en1,
		en2Size:  en2Size,
		units:    extranonce2Units(en2Size),
		mask:     mask,
		versions: uint64(1) << bits.OnesCount32(mask),
		stale:    make(chan struct{}),
	}
	w.goal.Store(g)
	return w
}

// extranonce2Units is the number of distinct extranonce2 values of size
// bytes, saturated at 2^64-1 (more than any miner will use).
func extranonce2Units(size int) uint64 {
	if size >= 8 {
		return ^uint64(0)
	}
	return uint64(1) << (8 * size)
}

// putExtranonce2 writes unit big-endian into the last bytes of dst (the
// extranonce2); leading bytes beyond 8 are zero.
func putExtranonce2(dst []byte, unit uint64) {
	clear(dst)
	for i := len(dst) - 1; i >= 0 && unit != 0; i-- {
		dst[i] = byte(unit)
		unit >>= 8
	}
}

// depositBits spreads the low bits of k over the set bits of mask, lowest
// first (what the BMI2 PDEP instruction does). It enumerates every value the
// mask allows as k counts up.
func depositBits(k uint64, mask uint32) uint32 {
	var out uint32
	for m := mask; m != 0 && k != 0; m &= m - 1 {
		if k&1 != 0 {
			out |= m & -m
		}
		k >>= 1
	}
	return out
}

// rolledVersion is the header version for the k-th version value of w: the
// job's own version for k = 0, then every other combination of the masked
// bits.
func (w *work) rolledVersion(k uint64) uint32 {
	v := w.job.Version
	return v&^w.mask | (v&w.mask ^ depositBits(k, w.mask))
}

// found is a share a thread found: enough to rebuild the submit.
type found struct {
	w       *work
	unit    uint64
	version uint32
	nonce   uint32
}

// board holds the work the threads should mine. Threads read it between
// chunks; the session replaces it on every job.
type board struct {
	mu      sync.Mutex
	cur     *work
	changed chan struct{}
}

func newBoard() *board { return &board{changed: make(chan struct{})} }

// get returns the current work (nil when there is none) and a channel that
// is closed at the next change.
func (b *board) get() (*work, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cur, b.changed
}

// set replaces the current work (nil: stop mining) and wakes the threads.
func (b *board) set(w *work) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur == w {
		return
	}
	if b.cur != nil {
		close(b.cur.stale)
	}
	b.cur = w
	close(b.changed)
	b.changed = make(chan struct{})
}

// current returns the work on the board.
func (b *board) current() *work {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cur
}

// counter is a per-thread hash counter on its own cache line, so threads
// do not slow each other down by writing neighbouring words.
type counter struct {
	n atomic.Uint64
	_ [56]byte
}

// thread is one mining thread's reusable state.
type thread struct {
	idx    int
	header [80]byte
	en2    [maxExtranonce2Size]byte
	cb     []byte
	nonces []uint32
	sc     *hasher.Scanner
}

// mine runs one mining thread until ctx is done.
func (m *Miner) mine(ctx context.Context, idx int) {
	t := newThread(idx)
	for {
		w, changed := m.board.get()
		if w == nil {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				continue
			}
		}
		unit := w.next.Add(1) - 1
		if unit >= w.units {
			// Every extranonce2 is taken: wait for new work rather than
			// mine a header another thread already covers.
			select {
			case <-ctx.Done():
				return
			case <-w.stale:
				continue
			}
		}
		if !m.mineUnit(ctx, t, w, unit) {
			return
		}
	}
}

// mineUnit scans every header of one extranonce2 value: all nonces times
// all allowed version values, rolling the version with every chunk. It
// returns false when ctx is done and true when the work went stale or the
// unit is exhausted.
func (m *Miner) mineUnit(ctx context.Context, t *thread, w *work, unit uint64) bool {
	root := t.merkleRoot(w, unit)
	hashes := &m.hashes[t.idx].n
	for c := uint64(0); c < chunksPerHeader; c++ {
		start := uint32(c * ChunkSize)
		for k := uint64(0); k < w.versions; k++ {
			select {
			case <-ctx.Done():
				return false
			case <-w.stale:
				return true
			default:
			}
			version := w.rolledVersion(k)
			t.scanChunk(w, &root, version, start)
			hashes.Add(ChunkSize)
			for _, n := range t.nonces {
				select {
				case m.found <- found{w: w, unit: unit, version: version, nonce: n}:
				case <-w.stale:
					m.stale.Add(1)
				case <-ctx.Done():
					return false
				}
			}
		}
	}
	return true
}

// merkleRoot builds the coinbase for extranonce2 value unit and returns
// the merkle root it gives.
func (t *thread) merkleRoot(w *work, unit uint64) [32]byte {
	en2 := t.en2[:w.en2Size]
	putExtranonce2(en2, unit)
	t.cb = w.job.CoinbaseInto(t.cb[:0], w.en1, en2)
	return hasher.MerkleRoot(hasher.DoubleSHA256(t.cb), w.job.Branch)
}

// scanChunk scans nonces start..start+ChunkSize-1 of the header with the
// given merkle root and version against w's current target, leaving the
// winning nonces in t.nonces.
func (t *thread) scanChunk(w *work, root *[32]byte, version, start uint32) {
	job := w.job
	share.BuildHeader(&t.header, version, &job.PrevHash, root, job.CurTime, job.Bits, 0)
	t.sc.Reset(&t.header)
	g := w.goal.Load()
	t.nonces = t.sc.Scan(start, ChunkSize, (*[32]byte)(&g.target), t.nonces[:0])
}

// newThread returns the state of thread idx.
func newThread(idx int) *thread {
	t := &thread{idx: idx, cb: make([]byte, 0, 512), nonces: make([]uint32, 0, 64)}
	t.sc = hasher.NewScanner(&t.header)
	return t
}

// uint32BE formats v as 8 hex digits, big-endian text, as Stratum sends
// ntime, nonce and version bits.
func uint32BE(v uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	const digits = "0123456789abcdef"
	var s [8]byte
	for i, x := range b {
		s[2*i] = digits[x>>4]
		s[2*i+1] = digits[x&15]
	}
	return string(s[:])
}
