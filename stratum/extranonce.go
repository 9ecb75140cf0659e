package stratum

import (
	"errors"
	"sync"

	"github.com/tarbela-pool/tarbela/share"
)

// errExtranonceExhausted means every one of the 2^24 extranonce1 values of
// this node is held by a live connection.
var errExtranonceExhausted = errors.New("no free extranonce1")

// counterSpace is the number of extranonce1 values per node: three bytes
// after the node id.
const counterSpace = 1 << 24

// allocator hands out 4-byte extranonce1 values, node id first, unique among
// the live connections of one server, which keeps two miners from ever
// hashing the same coinbase. It also keeps each value's duplicate memory
// (share.Seen) while no connection holds the value: a share names its
// extranonce1 in its coinbase, so a miner that reconnects and resumes its
// session, or any later holder of the value, could otherwise have the
// shares of the current tip credited again.
type allocator struct {
	mu    sync.Mutex
	node  byte
	space uint32 // counter values to use: counterSpace (smaller in tests)
	next  uint32 // next counter value to try, 0..space-1
	inUse map[uint32]struct{}
	// parked holds the duplicate memory of released values that had
	// shares accepted on the tip; newTip empties it, since a clean job
	// makes every one of those shares stale.
	parked map[uint32]share.Seen
}

func newAllocator(node byte) *allocator {
	return &allocator{node: node, space: counterSpace, inUse: make(map[uint32]struct{}),
		parked: make(map[uint32]share.Seen)}
}

// alloc returns a free extranonce1 and the duplicate memory that goes with
// it (empty unless the value was released on the current tip with shares
// accepted). When prefer carries this node's id and is free (a miner
// resuming its previous session) it is handed out again, so the miner's
// in-flight work stays valid.
func (a *allocator) alloc(prefer uint32, hasPrefer bool) (uint32, share.Seen, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if hasPrefer && byte(prefer>>24) == a.node {
		if _, used := a.inUse[prefer]; !used {
			return prefer, a.take(prefer), nil
		}
	}
	if len(a.inUse) >= int(a.space) {
		return 0, share.Seen{}, errExtranonceExhausted
	}
	for {
		v := uint32(a.node)<<24 | a.next
		a.next = (a.next + 1) % a.space
		if _, used := a.inUse[v]; !used {
			return v, a.take(v), nil
		}
	}
}

// take marks v in use and returns its parked memory. a.mu is held.
func (a *allocator) take(v uint32) share.Seen {
	a.inUse[v] = struct{}{}
	seen, ok := a.parked[v]
	if ok {
		delete(a.parked, v)
	}
	return seen
}

// release frees v for reuse, keeping its duplicate memory when it holds
// shares.
func (a *allocator) release(v uint32, seen *share.Seen) {
	a.mu.Lock()
	delete(a.inUse, v)
	if seen != nil && seen.Len() > 0 {
		a.parked[v] = *seen
	}
	a.mu.Unlock()
}

// newTip forgets the parked memories: the server has published a clean job,
// after which no share of an earlier job can be accepted. A memory parked
// after this call by a session that had not yet received the clean job is
// reset by NewTip when its next holder gets its first job.
func (a *allocator) newTip() {
	a.mu.Lock()
	if len(a.parked) > 0 {
		a.parked = make(map[uint32]share.Seen)
	}
	a.mu.Unlock()
}

// live returns how many values are held.
func (a *allocator) live() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.inUse)
}

// parkedLen returns how many released values keep a duplicate memory.
func (a *allocator) parkedLen() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.parked)
}
