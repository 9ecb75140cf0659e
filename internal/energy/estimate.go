package energy

import "math"

// HashesPerDifficulty is the expected number of hashes behind a share of
// difficulty 1: 2^32.
const HashesPerDifficulty = 4294967296.0

// JoulesPerKWh converts joules to kilowatt-hours.
const JoulesPerKWh = 3.6e6

// z95 is the two-sided 95 % quantile of the normal distribution.
const z95 = 1.959963984540054

// KWh is the energy, in kWh, that work (a sum of share difficulties)
// implies at jPerTH joules per terahash and the overhead factor:
// work × 2^32 hashes × jPerTH × 10^-12 J per hash × overhead / 3.6×10^6.
func KWh(work, jPerTH, overhead float64) float64 {
	return work * HashesPerDifficulty * jPerTH * 1e-12 * overhead / JoulesPerKWh
}

// RelativeError95 is the half-width of the 95 % interval of the hashes
// estimated from shares, relative to the estimate: 1.96 × sqrt(Σd²) / Σd.
// A share of difficulty d stands for d × 2^32 hashes on average, and the
// hashes between shares are exponential, so the estimate's variance is
// Σ (d_i 2^32)²; for n shares of one difficulty this is 1.96 / sqrt(n).
// It is +Inf when there is no work.
func RelativeError95(work, sumSq float64) float64 {
	if !(work > 0) {
		return math.Inf(1)
	}
	return z95 * math.Sqrt(sumSq) / work
}

// Estimate is an energy estimate with its 95 % interval, in kWh.
type Estimate struct {
	KWh, Low, High float64
}

// add sums independent estimates: centres add, and so do variances.
type estimateSum struct {
	kwh, variance float64
}

func (e *estimateSum) add(kwh, rel float64) {
	e.kwh += kwh
	if kwh > 0 {
		sd := kwh * rel / z95
		e.variance += sd * sd
	}
}

func (e estimateSum) estimate() Estimate {
	h := z95 * math.Sqrt(e.variance)
	return Estimate{KWh: e.kwh, Low: math.Max(0, e.kwh-h), High: e.kwh + h}
}
