package share

// Reason says why a share was rejected. Each reason maps to one Stratum
// error code and a stable name used in metrics and logs.
type Reason uint8

// Rejection reasons. The zero value means accepted.
const (
	ReasonNone Reason = iota
	ReasonJobNotFound
	ReasonStale
	ReasonDuplicate
	ReasonLowDifficulty
	ReasonUnauthorized
	ReasonNotSubscribed
	ReasonBadParams
	ReasonBadExtranonce2
	ReasonBadNTime
	ReasonNTimeRange
	ReasonBadNonce
	ReasonBadVersion
	ReasonVersionMask
	ReasonOther
	ReasonShareLimit
	ReasonNotRecorded
	ReasonPoolBusy
	numReasons
)

var reasonNames = [numReasons]string{
	ReasonNone:           "accepted",
	ReasonJobNotFound:    "job-not-found",
	ReasonStale:          "stale",
	ReasonDuplicate:      "duplicate",
	ReasonLowDifficulty:  "low-difficulty",
	ReasonUnauthorized:   "unauthorized",
	ReasonNotSubscribed:  "not-subscribed",
	ReasonBadParams:      "bad-params",
	ReasonBadExtranonce2: "bad-extranonce2",
	ReasonBadNTime:       "bad-ntime",
	ReasonNTimeRange:     "ntime-out-of-range",
	ReasonBadNonce:       "bad-nonce",
	ReasonBadVersion:     "bad-version",
	ReasonVersionMask:    "version-bits-outside-mask",
	ReasonOther:          "other",
	ReasonShareLimit:     "share-limit",
	ReasonNotRecorded:    "not-recorded",
	ReasonPoolBusy:       "pool-busy",
}

// String returns the reason's stable name ("duplicate", "low-difficulty", ...).
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Code returns the Stratum v1 error code for the reason: 21 job not found
// or stale, 22 duplicate, 23 low difficulty, 24 unauthorized, 25 not
// subscribed, 20 for everything else.
func (r Reason) Code() int {
	switch r {
	case ReasonJobNotFound, ReasonStale:
		return 21
	case ReasonDuplicate:
		return 22
	case ReasonLowDifficulty:
		return 23
	case ReasonUnauthorized:
		return 24
	case ReasonNotSubscribed:
		return 25
	}
	return 20
}

// PoolFault says the share was refused for the pool's own reasons (its
// share store could not take or keep it, or the connection's replies wait
// on the store), not for anything the miner did wrong. Such a rejection
// never counts toward the flood rule: a store outage must not disconnect
// or ban the miners behind an address.
func (r Reason) PoolFault() bool {
	return r == ReasonNotRecorded || r == ReasonPoolBusy
}

// Reasons lists every rejection reason, for pre-registering metric labels.
func Reasons() []Reason {
	out := make([]Reason, 0, numReasons-1)
	for r := ReasonJobNotFound; r < numReasons; r++ {
		out = append(out, r)
	}
	return out
}

// Reject is a typed share rejection: a Reason plus the message sent to the
// miner. Common rejections are preallocated so the share path does not
// allocate for them.
type Reject struct {
	Reason  Reason
	Message string
}

// Error implements error.
func (r *Reject) Error() string { return r.Message }

// Code is the Stratum error code of the rejection.
func (r *Reject) Code() int { return r.Reason.Code() }

// Preallocated rejections for the frequent cases.
var (
	ErrJobNotFound   = &Reject{ReasonJobNotFound, "Job not found"}
	ErrStale         = &Reject{ReasonStale, "Stale share: job is no longer valid"}
	ErrDuplicate     = &Reject{ReasonDuplicate, "Duplicate share"}
	ErrLowDifficulty = &Reject{ReasonLowDifficulty, "Low difficulty share"}
	ErrUnauthorized  = &Reject{ReasonUnauthorized, "Unauthorized worker"}
	ErrNotSubscribed = &Reject{ReasonNotSubscribed, "Not subscribed"}
	ErrNTimeRange    = &Reject{ReasonNTimeRange, "ntime out of range"}
	ErrVersionMask   = &Reject{ReasonVersionMask, "Version bits outside the negotiated mask"}
)
