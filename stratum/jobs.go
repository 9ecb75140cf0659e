package stratum

import "github.com/tarbela-pool/tarbela/share"

// maxJobs is how many recent notifies a session remembers; a share for an
// older job id is answered "Job not found". Templates refresh about every
// 30 s and a difficulty change adds one notify, so 8 still cover a few
// minutes of late shares (a miner works on the newest job and its shares
// arrive within seconds), and any job before a clean one is answered
// "stale" anyway. Every idle connection holds the whole ring, so it is kept
// short: 8 entries are 320 bytes.
const maxJobs = 8

// jobEntry is one notify a session sent: the assignment (job, difficulty,
// target and duplicate memory) kept by value, so the ring allocates nothing
// per notify, and the session job id it was sent under.
type jobEntry struct {
	a  share.Assignment
	id uint32
	// stale says a clean job was sent after this one: shares for it are
	// answered "stale" rather than "not found" while it is remembered.
	stale bool
}

// jobTable is a session's ring of recent assignments. Session job ids are
// a counter (see session.notify), so id n lives in ring[n%maxJobs] until
// id n+maxJobs replaces it.
type jobTable struct {
	ring [maxJobs]jobEntry
}

// add remembers job, sent at difficulty d (target t) under id, evicting the
// entry maxJobs ids older; a clean job marks every earlier one stale and
// tells the duplicate memory seen of the tip. Every assignment shares seen,
// the memory of the session's extranonce1, so a share is a duplicate
// whichever id it comes under. It returns the new assignment, which lives
// in the ring until evicted.
func (t *jobTable) add(id uint32, job *share.Job, d float64, target *share.Target, seen *share.Seen, clean bool) *share.Assignment {
	if clean {
		for i := range t.ring {
			t.ring[i].stale = true
		}
		seen.NewTip(&job.PrevHash)
	}
	e := &t.ring[id%maxJobs]
	*e = jobEntry{a: share.Assignment{Job: job, Difficulty: d, Target: target, Seen: seen}, id: id}
	return &e.a
}

// lookup finds the assignment for a job id as the miner sent it. The
// assignment stays valid until the session sends maxJobs more notifies, so
// the caller holds the session's lock while it uses it.
func (t *jobTable) lookup(raw []byte) (*share.Assignment, *share.Reject) {
	id, ok := parseJobID(raw)
	if !ok {
		return nil, share.ErrJobNotFound
	}
	e := &t.ring[id%maxJobs]
	if e.a.Job == nil || e.id != id {
		return nil, share.ErrJobNotFound
	}
	if e.stale {
		return nil, share.ErrStale
	}
	return &e.a, nil
}

// maxJobIDLen is the longest session job id: a uint32 in hex.
const maxJobIDLen = 8

// appendJobID appends a session job id as the miner sees it: lower-case hex
// without leading zeros. Only that exact spelling is accepted back
// (parseJobID), as when ids were kept as strings.
func appendJobID(dst []byte, id uint32) []byte {
	const digits = "0123456789abcdef"
	var b [maxJobIDLen]byte
	i := len(b)
	for {
		i--
		b[i] = digits[id&15]
		id >>= 4
		if id == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

// parseJobID reads a job id written by appendJobID. Anything else
// (upper case, leading zeros, too long, not hex) is not one of ours.
func parseJobID(b []byte) (uint32, bool) {
	if len(b) == 0 || len(b) > maxJobIDLen || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	var id uint32
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			id = id<<4 | uint32(c-'0')
		case c >= 'a' && c <= 'f':
			id = id<<4 | uint32(c-'a'+10)
		default:
			return 0, false
		}
	}
	return id, true
}
