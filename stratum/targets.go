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
// holding a 32-byte copy (an idle session keeps maxJobs of them), and
// remembers the target of each recent difficulty, so that a new session
// (every one starts at the initial difficulty) does not compute it again
// with big-number arithmetic, whose garbage thousands of miners connecting
// at once would leave behind. Each map keeps two generations: when the
// current one is full it becomes the old one and the previous old one is
// dropped, and an entry found in the old one moves back to the current one,
// so the targets in use stay while memory stays bounded. A dropped target
// is still valid for whoever holds it; it is only no longer shared with
// later callers. Safe for concurrent use.
type targetCache struct {
	mu     sync.Mutex
	byVal  generations[share.Target]
	byDiff generations[float64]
}

// generations is one of targetCache's two-generation maps.
type generations[K comparable] struct {
	cur, old map[K]*share.Target
}

// get returns the target kept under k, moving it to the current generation.
func (g *generations[K]) get(k K) *share.Target {
	if p := g.cur[k]; p != nil {
		return p
	}
	p := g.old[k]
	if p != nil {
		g.put(k, p)
	}
	return p
}

// put keeps p under k in the current generation.
func (g *generations[K]) put(k K, p *share.Target) {
	if len(g.cur) >= targetCacheSize {
		g.old, g.cur = g.cur, nil
	}
	if g.cur == nil {
		g.cur = make(map[K]*share.Target, targetCacheSize)
	}
	g.cur[k] = p
}

// targets is the process's target cache: a target depends only on its
// value, so every Server may share it.
var targets targetCache

// intern returns the shared copy of t.
func (c *targetCache) intern(t share.Target) *share.Target {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.internLocked(t)
}

func (c *targetCache) internLocked(t share.Target) *share.Target {
	p := c.byVal.get(t)
	if p == nil {
		p = &t
		c.byVal.put(t, p)
	}
	return p
}

// forDifficulty returns the shared target of difficulty d
// (share.TargetFromDifficulty), computing it only when d is not among the
// recent difficulties.
func (c *targetCache) forDifficulty(d float64) (*share.Target, error) {
	c.mu.Lock()
	p := c.byDiff.get(d)
	c.mu.Unlock()
	if p != nil {
		return p, nil
	}
	t, err := share.TargetFromDifficulty(d)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p = c.internLocked(t)
	c.byDiff.put(d, p)
	return p, nil
}
