package stratum

import (
	"sync"

	"github.com/tarbela-pool/tarbela/share"
)

// targetCacheSize bounds each of targetCache's two generations. Fixed
// difficulties (the initial one, d=N passwords, suggested ones) are few and
// stay in the cache; vardiff's are continuous values that pass through it.
const targetCacheSize = 256

// targetCache interns share targets, so that the assignments of many
// sessions at one difficulty point to one share.Target instead of each
// holding a 32-byte copy (an idle session keeps maxJobs of them). It keeps
// two generations: when the current one is full it becomes the old one and
// the previous old one is dropped, and a target found in the old one moves
// back to the current one, so the targets in use stay while memory stays
// bounded. A dropped target is still valid for whoever holds it; it is only
// no longer shared with later callers. Safe for concurrent use.
type targetCache struct {
	mu       sync.Mutex
	cur, old map[share.Target]*share.Target
}

// targets is the process's target cache: a target depends only on its
// value, so every Server may share it.
var targets targetCache

// intern returns the shared copy of t.
func (c *targetCache) intern(t share.Target) *share.Target {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.cur[t]; p != nil {
		return p
	}
	p := c.old[t]
	if p == nil {
		p = &t
	}
	if len(c.cur) >= targetCacheSize {
		c.old, c.cur = c.cur, nil
	}
	if c.cur == nil {
		c.cur = make(map[share.Target]*share.Target, targetCacheSize)
	}
	c.cur[t] = p
	return p
}
