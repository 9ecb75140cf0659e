package stratum

import "github.com/tarbela-pool/tarbela/share"

// maxJobs is how many recent assignments a session remembers. Templates
// refresh about every 30 s and a difficulty change adds one more, so 16
// covers several minutes of late shares; older ids answer "Job not found".
const maxJobs = 16

// jobEntry is one notify a session sent.
type jobEntry struct {
	id string
	a  *share.Assignment
	// stale says a clean job was sent after this one: shares for it are
	// answered "stale" rather than "not found" while it is remembered.
	stale bool
}

// jobTable is a session's ring of recent assignments by session job id.
type jobTable struct {
	ring [maxJobs]jobEntry
	next int // slot the next entry goes to
}

// add remembers a under id, evicting the oldest entry; a clean job marks
// every earlier one stale.
func (t *jobTable) add(id string, a *share.Assignment, clean bool) {
	if clean {
		for i := range t.ring {
			t.ring[i].stale = true
		}
	}
	t.ring[t.next] = jobEntry{id: id, a: a}
	t.next = (t.next + 1) % maxJobs
}

// lookup finds the assignment for a job id as the miner sent it.
func (t *jobTable) lookup(id []byte) (*share.Assignment, *share.Reject) {
	for i := range t.ring {
		e := &t.ring[i]
		if e.a != nil && e.id == string(id) {
			if e.stale {
				return nil, share.ErrStale
			}
			return e.a, nil
		}
	}
	return nil, share.ErrJobNotFound
}
