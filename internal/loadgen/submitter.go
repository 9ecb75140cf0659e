package loadgen

import (
	"container/heap"
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/tarbela-pool/tarbela/hasher"
	"github.com/tarbela-pool/tarbela/share"
)

// scanChunks are the nonce counts tried in turn for one share: a pool at a
// very low difficulty accepts the first nonce, so the search starts small
// instead of hashing a large block of nonces that all qualify.
var scanChunks = [...]uint32{8, 64, 512, 4096, 32768, 1 << 16}

// submitter builds and sends the shares of the miners registered with it,
// each at its own time: a heap ordered by due time and one timer, so an
// idle submitter sleeps. It owns one nonce scanner and scratch buffers.
type submitter struct {
	r        *runner
	interval int64 // ns between a miner's shares
	reg      chan *miner
	due      dueHeap
	scanner  *hasher.Scanner
	coinbase []byte
	en2      []byte
	found    []uint32
	line     []byte
	header   [80]byte
}

func newSubmitter(r *runner, interval time.Duration) *submitter {
	var h [80]byte
	return &submitter{r: r, interval: int64(interval), reg: make(chan *miner, 1024),
		scanner: hasher.NewScanner(&h), found: make([]uint32, 0, 64)}
}

// loop runs until ctx is done.
func (s *submitter) loop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.drainRegistrations()
		var wait <-chan time.Time
		if len(s.due) > 0 {
			d := time.Duration(s.due[0].next - s.r.since())
			if d <= 0 {
				s.fire(heap.Pop(&s.due).(*miner))
				if ctx.Err() != nil {
					return
				}
				continue
			}
			timer.Reset(d)
			wait = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case m := <-s.reg:
			s.add(m)
		case <-wait:
		}
	}
}

// drainRegistrations schedules the miners waiting to register, without
// blocking, so a busy submitter still takes new miners.
func (s *submitter) drainRegistrations() {
	for {
		select {
		case m := <-s.reg:
			s.add(m)
		default:
			return
		}
	}
}

// add schedules a new miner. Its first share comes at a random point of the
// first interval, so miners that connected together do not submit in
// lockstep.
func (s *submitter) add(m *miner) {
	m.next = s.r.since() + rand.Int64N(max(s.interval, 1))
	heap.Push(&s.due, m)
}

// fire submits one share for m and schedules its next one.
func (s *submitter) fire(m *miner) {
	if !s.submit(m) {
		return // gone: drop it from the schedule
	}
	now := s.r.since()
	m.next += s.interval
	if m.next < now-s.interval {
		// The submitter fell behind (CPU-bound): resume the cadence from
		// now instead of sending a burst of overdue shares.
		s.r.c.behind.Add(1)
		m.next = now
	}
	heap.Push(&s.due, m)
}

// submit builds one share on m's current work and sends it.
func (s *submitter) submit(m *miner) bool {
	w := m.cur.Load()
	if w == nil {
		return true
	}
	j := w.job
	m.en2Seq++
	s.en2 = s.en2[:0]
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], m.en2Seq)
	if j.Extranonce2Size >= 8 {
		s.en2 = append(s.en2, make([]byte, j.Extranonce2Size-8)...)
		s.en2 = append(s.en2, seq[:]...)
	} else {
		s.en2 = append(s.en2, seq[8-j.Extranonce2Size:]...)
	}
	s.coinbase = j.CoinbaseInto(s.coinbase[:0], m.en1, s.en2)
	root := hasher.MerkleRoot(hasher.DoubleSHA256(s.coinbase), j.Branch)

	mask := m.mask.Load()
	var vbits uint32
	version := j.Version
	if mask != 0 {
		// Roll a different pattern each share, within the mask only.
		vbits = uint32(m.en2Seq<<uint(bits.TrailingZeros32(mask))) & mask
		version, _ = share.RollVersion(j.Version, vbits, mask)
	}
	share.BuildHeader(&s.header, version, &j.PrevHash, &root, j.CurTime, j.Bits, 0)
	s.scanner.Reset(&s.header)
	target := (*[32]byte)(&w.target)
	s.found = s.found[:0]
	var tried uint64
	var start uint32
	for i := 0; len(s.found) == 0 && tried < s.r.o.MaxHashes; i++ {
		n := scanChunks[min(i, len(scanChunks)-1)]
		n = uint32(min(uint64(n), s.r.o.MaxHashes-tried))
		s.found = s.scanner.Scan(start, n, target, s.found)
		start += n
		tried += uint64(n)
	}
	s.r.c.hashes.Add(tried)
	if len(s.found) == 0 {
		s.r.c.skipped.Add(1)
		return true
	}
	nonce := s.found[0]

	id := m.nextSubmitID()
	b := s.line[:0]
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, uint64(id), 10)
	b = append(b, `,"method":"mining.submit","params":[`...)
	b = append(b, m.userJSON...)
	b = append(b, ',')
	b = append(b, w.idJSON...)
	b = append(b, `,"`...)
	b = hex.AppendEncode(b, s.en2)
	b = append(b, `","`...)
	b = appendHex32(b, j.CurTime)
	b = append(b, `","`...)
	b = appendHex32(b, nonce)
	if mask != 0 {
		b = append(b, `","`...)
		b = appendHex32(b, vbits)
	}
	b = append(b, "\"]}\n"...)
	s.line = b
	return m.send(b, id)
}

// appendHex32 appends v as 8 big-endian hex digits, as Stratum writes ntime,
// nonce and version bits.
func appendHex32(dst []byte, v uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return hex.AppendEncode(dst, b[:])
}

// dueHeap orders miners by their next share time.
type dueHeap []*miner

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].next < h[j].next }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].slot, h[j].slot = i, j
}
func (h *dueHeap) Push(x any) {
	m := x.(*miner)
	m.slot = len(*h)
	*h = append(*h, m)
}
func (h *dueHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return m
}
