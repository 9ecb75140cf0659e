package stratum

import (
	"sync"

	"github.com/tarbela-pool/tarbela/share"
)

// The acknowledgement rule: an accepted share is answered "true" only once
// the share store reports its record durable (share.Acker), so that after a
// crash of the pool every share a miner saw accepted is recorded. The store
// reports a batch interval or so after the submit, so a session must not
// wait for it while reading: the reader parks the request id in the
// session's ackRing and goes on with the next line; the store's goroutine
// marks the entry done (ShareRecorded) and starts the session's flusher
// goroutine (conn.go), which encodes the replies. Submit replies therefore keep their order among
// themselves but may come after later replies of other kinds (rejections,
// notifications); ids are echoed, which Stratum allows.

const (
	// minPendingAcks is the ring's first size, allocated at the session's
	// first valid share: an ASIC has one or two shares in flight.
	minPendingAcks = 4
	// maxPendingAcks bounds the shares one connection may have waiting
	// for their record. A proxy that pipelines more waits (its reader
	// pauses) until replies free slots: at the default 10 ms batch
	// interval that still allows ~25,000 shares/s on one connection.
	maxPendingAcks = 256
)

// ackState is a ring entry's state.
type ackState uint8

const (
	ackFree     ackState = iota
	ackWaiting           // queued in the store, not yet durable
	ackRecorded          // durable: reply true
	ackFailed            // the store gave it up: reply ErrNotRecorded
)

// pendingAck is one submit waiting for its record. id is the request's raw
// JSON id, copied (the read buffer is reused); its backing array is reused
// by the next share in the slot, so steady state allocates nothing.
type pendingAck struct {
	id    []byte
	state ackState
}

// ackRing is a session's submits waiting for their records, in request
// order. Tokens are sequence numbers: token t lives in slots[t%len(slots)]
// while tail <= t < head. mu is a leaf lock: nothing else is locked while it
// is held, so the store may call ShareRecorded from any goroutine, even
// from within AddShare while the session's mutex is held. The zero value is
// an empty ring that holds no memory, as an idle miner's does.
type ackRing struct {
	mu         sync.Mutex
	slots      []pendingAck // length a power of two, nil until first use
	head, tail uint64
	// free wakes a reader that waits for a slot (and, at close, one that
	// must stop waiting); it holds at most one pending signal. It is made
	// with the slots, under mu, by the reader, and never changes after:
	// only a reader that found the ring full waits on it.
	free chan struct{}
}

// reserve parks id and returns its token, or false when maxPendingAcks
// shares are already waiting. It is called by the reader only.
func (r *ackRing) reserve(id []byte) (uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.head - r.tail
	if n == uint64(len(r.slots)) {
		if len(r.slots) >= maxPendingAcks {
			return 0, false
		}
		r.grow()
	}
	t := r.head
	p := &r.slots[t&uint64(len(r.slots)-1)]
	p.id = append(p.id[:0], id...)
	p.state = ackWaiting
	r.head++
	return t, true
}

// grow doubles the ring (or creates it), keeping each waiting entry at its
// token's new slot. r.mu is held.
func (r *ackRing) grow() {
	size := max(2*len(r.slots), minPendingAcks)
	slots := make([]pendingAck, size)
	if old := r.slots; len(old) > 0 {
		for t := r.tail; t < r.head; t++ {
			slots[t&uint64(size-1)] = old[t&uint64(len(old)-1)]
		}
	}
	r.slots = slots
	if r.free == nil {
		r.free = make(chan struct{}, 1)
	}
}

// unreserve withdraws the newest entry, token, which the store never took
// (the share was rejected).
func (r *ackRing) unreserve(token uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if token+1 == r.head && r.slots[token&uint64(len(r.slots)-1)].state == ackWaiting {
		r.slots[token&uint64(len(r.slots)-1)].state = ackFree
		r.head--
	}
}

// complete marks token's entry done and reports whether it did: a token
// that is not waiting (a second call for the same share) is ignored.
func (r *ackRing) complete(token uint64, err error) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if token < r.tail || token >= r.head {
		return false
	}
	p := &r.slots[token&uint64(len(r.slots)-1)]
	if p.state != ackWaiting {
		return false
	}
	p.state = ackRecorded
	if err != nil {
		p.state = ackFailed
	}
	return true
}

// appendReplies appends the replies of the done entries at the front of the
// ring, in request order, frees their slots and returns how many it wrote.
// It stops at the first entry still waiting. It is called by the flusher.
func (r *ackRing) appendReplies(dst []byte) ([]byte, int) {
	r.mu.Lock()
	free := r.free
	n := 0
	for r.tail < r.head {
		p := &r.slots[r.tail&uint64(len(r.slots)-1)]
		switch p.state {
		case ackRecorded:
			dst = appendResult(dst, p.id, "true")
		case ackFailed:
			dst = appendError(dst, p.id, "false", share.ErrNotRecorded.Code(), share.ErrNotRecorded.Message)
		default:
			r.mu.Unlock()
			if n > 0 {
				signal(free)
			}
			return dst, n
		}
		p.state = ackFree
		r.tail++
		n++
	}
	r.mu.Unlock()
	if n > 0 {
		signal(free)
	}
	return dst, n
}

// wakeReader wakes the reader if it waits for a slot; close calls it so
// that the reader stops waiting.
func (r *ackRing) wakeReader() {
	r.mu.Lock()
	free := r.free
	r.mu.Unlock()
	if free != nil {
		signal(free)
	}
}

// pending returns how many entries wait for their record or their reply.
func (r *ackRing) pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int(r.head - r.tail)
}

// full reports whether reserve would refuse.
func (r *ackRing) full() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.head-r.tail >= maxPendingAcks
}

// signal sends on a one-slot wake-up channel without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// ShareRecorded implements share.Acker: the store reports that the share
// parked under token is durable (err nil) or was given up. It never blocks
// on the socket: the reply is written by a flusher goroutine (conn.go). It
// takes the ring's leaf lock, then the outbox's, never both at once.
func (s *session) ShareRecorded(token uint64, err error) {
	if s.acks.complete(token, err) {
		s.acksReady()
	}
}

// errAcksFull answers a submit when maxPendingAcks shares of the
// connection already wait for their record. The reader normally pauses
// before that happens (waitAckSlot), so this is a safety net.
var errAcksFull = &share.Reject{Reason: share.ReasonPoolBusy, Message: "Too many shares waiting to be recorded"}

// waitAckSlot pauses the reader while the connection's ring is full, until a
// reply frees a slot; it reports false when the session ends meanwhile.
func (s *session) waitAckSlot() bool {
	for s.acks.full() {
		if s.closed() {
			return false
		}
		<-s.acks.free // made by reserve, which filled it; close signals it too
	}
	return !s.closed()
}

// ackReplies returns a buffer holding the replies of every share whose
// record is done, or nil when there are none. Called by the flusher.
func (s *session) ackReplies() *[]byte {
	b := getBuf()
	var n int
	*b, n = s.acks.appendReplies(*b)
	if n == 0 {
		putBuf(b)
		return nil
	}
	return b
}
