package share

import (
	"time"

	"github.com/tarbela-pool/tarbela/hasher"
)

// Assignment is a job as one connection received it: the job, the difficulty
// in force when it was sent, and the duplicate memory of the connection's
// extranonce1 (shared by all its assignments). An Assignment belongs to one
// connection's goroutine and is not safe for concurrent use.
//
// It is kept small because every connection holds a ring of them: Target and
// Seen are pointers, so that all the assignments made at one difficulty (on
// one connection, or across connections through a cache) share one Target,
// and all those of one connection share one Seen. A connection may keep
// Assignments by value and reuse one by assigning a new composite literal.
type Assignment struct {
	Job        *Job
	Difficulty float64
	// Target is the share target for Difficulty (TargetFromDifficulty);
	// it is required and read-only.
	Target *Target
	// Seen is the duplicate memory of the connection's extranonce1; it is
	// required (NewAssignment makes one of its own).
	Seen *Seen
}

// NewAssignment records that job was sent at difficulty d, with a Target
// and a duplicate memory of its own.
func NewAssignment(job *Job, d float64) (*Assignment, error) {
	t, err := TargetFromDifficulty(d)
	if err != nil {
		return nil, err
	}
	return &Assignment{Job: job, Difficulty: d, Target: &t, Seen: new(Seen)}, nil
}

// Check judges a submission against the job without side effects: it
// rebuilds the coinbase, folds the merkle branch, builds the header with the
// negotiated version-rolling mask, hashes it, and compares the hash with
// shareTarget and the network target. res is filled in whenever the header
// could be built. A nil return means the share meets shareTarget.
func (j *Job) Check(sub *Submission, mask uint32, shareTarget *Target, now time.Time, res *Result) *Reject {
	if len(sub.Extranonce2) != j.Extranonce2Size {
		return badExtranonce2(len(sub.Extranonce2), j.Extranonce2Size)
	}
	if sub.NTime < j.MinTime || int64(sub.NTime) > now.Add(MaxNTimeAhead).Unix() {
		return ErrNTimeRange
	}
	version := j.Version
	if sub.HasVersionBits {
		v, ok := RollVersion(j.Version, sub.VersionBits, mask)
		if !ok {
			return ErrVersionMask
		}
		version = v
	}
	res.Coinbase = j.CoinbaseInto(res.Coinbase[:0], sub.Extranonce1, sub.Extranonce2)
	res.MerkleRoot = hasher.MerkleRoot(hasher.DoubleSHA256(res.Coinbase), j.Branch)
	BuildHeader(&res.Header, version, &j.PrevHash, &res.MerkleRoot, sub.NTime, j.Bits, sub.Nonce)
	res.Hash = hasher.HeaderHash(&res.Header)
	res.Difficulty = HashDifficulty(&res.Hash)
	res.Block = j.NetTarget.Meets(&res.Hash)
	if !res.Block && !shareTarget.Meets(&res.Hash) {
		return ErrLowDifficulty
	}
	return nil
}
