package stratum

import (
	"errors"
	"sync"
)

// errExtranonceExhausted means every one of the 2^24 extranonce1 values of
// this node is held by a live connection.
var errExtranonceExhausted = errors.New("no free extranonce1")

// counterSpace is the number of extranonce1 values per node: three bytes
// after the node id.
const counterSpace = 1 << 24

// allocator hands out 4-byte extranonce1 values, node id first, unique among
// the live connections of one server. Uniqueness per connection is what makes
// the per-assignment duplicate check exact and keeps two miners from ever
// hashing the same coinbase.
type allocator struct {
	mu    sync.Mutex
	node  byte
	space uint32 // counter values to use: counterSpace (smaller in tests)
	next  uint32 // next counter value to try, 0..space-1
	inUse map[uint32]struct{}
}

func newAllocator(node byte) *allocator {
	return &allocator{node: node, space: counterSpace, inUse: make(map[uint32]struct{})}
}

// alloc returns a free extranonce1. When prefer carries this node's id and is
// free (a miner resuming its previous session) it is handed out again, so the
// miner's in-flight work stays valid.
func (a *allocator) alloc(prefer uint32, hasPrefer bool) (uint32, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if hasPrefer && byte(prefer>>24) == a.node {
		if _, used := a.inUse[prefer]; !used {
			a.inUse[prefer] = struct{}{}
			return prefer, nil
		}
	}
	if len(a.inUse) >= int(a.space) {
		return 0, errExtranonceExhausted
	}
	for {
		v := uint32(a.node)<<24 | a.next
		a.next = (a.next + 1) % a.space
		if _, used := a.inUse[v]; !used {
			a.inUse[v] = struct{}{}
			return v, nil
		}
	}
}

// release frees v for reuse.
func (a *allocator) release(v uint32) {
	a.mu.Lock()
	delete(a.inUse, v)
	a.mu.Unlock()
}

// live returns how many values are held.
func (a *allocator) live() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.inUse)
}
