package stratum

import (
	"math"
	"time"
)

// maxRetargetStep bounds one vardiff change to a factor of 4 either way, so
// that a burst of lucky (or unlucky) shares cannot swing a miner's
// difficulty by orders of magnitude in one step.
const maxRetargetStep = 4

// burstShares is how many shares in one window trigger a retarget before
// RetargetInterval has passed: a fast miner that starts far below its
// difficulty reaches it in a few steps instead of flooding the pool for a
// whole interval.
const burstShares = 16

// vardiff is one session's observation window: the summed difficulty of the
// shares accepted since start. Summing the difficulty each share was judged
// at (rather than counting shares) keeps the hashrate estimate right across
// a difficulty change, when late shares for older jobs still arrive.
type vardiff struct {
	start  time.Time
	sum    float64
	shares int
}

// reset opens a new observation window at now.
func (v *vardiff) reset(now time.Time) { *v = vardiff{start: now} }

// due reports whether the window is long or busy enough to decide on.
func (v *vardiff) due(now time.Time, o *DifficultyOptions) bool {
	return now.Sub(v.start) >= o.RetargetInterval || v.shares >= burstShares
}

// retarget returns the difficulty for the next window given the current one,
// the summed difficulty of the shares accepted over elapsed, and the lowest
// difficulty allowed (the session's floor, at least o.Min). changed is false
// when the observed share interval is within the hysteresis band or the
// bounded result equals cur.
//
// The observed interval is cur·elapsed/sum (elapsed itself when no share
// came, which can only lower the difficulty). Outside
// TargetInterval·[1-Variance, 1+Variance] the difficulty becomes
// sum·TargetInterval/elapsed — the hashrate times the target interval —
// bounded to [cur/4, cur·4] and then to [min(max(floor, o.Min), o.Max), o.Max].
func retarget(cur, sum float64, elapsed time.Duration, floor float64, o *DifficultyOptions) (next float64, changed bool) {
	if elapsed <= 0 || !(cur > 0) {
		return cur, false
	}
	target := o.TargetInterval.Seconds()
	secs := elapsed.Seconds()
	var observed, ratio float64
	if sum > 0 {
		observed = cur * secs / sum
		ratio = target / observed
	} else {
		observed = secs
		ratio = math.Min(target/observed, 1)
	}
	if observed >= target*(1-o.Variance) && observed <= target*(1+o.Variance) {
		return cur, false
	}
	ratio = math.Max(1.0/maxRetargetStep, math.Min(maxRetargetStep, ratio))
	// The floor (a miner's suggestion) never lifts the difficulty above
	// Max, which a reload may have lowered below an old suggestion.
	next = clampDifficulty(cur*ratio, math.Min(math.Max(floor, o.Min), o.Max), o.Max)
	return next, next != cur
}

// clampDifficulty bounds d to [lo, hi]; NaN becomes lo.
func clampDifficulty(d, lo, hi float64) float64 {
	if !(d >= lo) {
		return lo
	}
	if d > hi {
		return hi
	}
	return d
}
