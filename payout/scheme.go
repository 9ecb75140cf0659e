package payout

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
)

// Payout schemes (payout.scheme in the config; docs/payout.md "Schemes").
const (
	// SchemePPLNS credits a matured block by the work per account in the
	// PPLNS window frozen with the block.
	SchemePPLNS = "pplns"
	// SchemeProp credits a matured block by the work per account of the
	// block's round.
	SchemeProp = "prop"
	// SchemeSolo credits a matured block's net reward to its finder.
	SchemeSolo = "solo"
	// SchemePPS credits every share as it comes (d/D × subsidy); blocks
	// fund the reserve.
	SchemePPS = "pps"
	// SchemeFPPS is SchemePPS with the job's whole coinbase value.
	SchemeFPPS = "fpps"
)

// ErrNoWeight is returned (wrapped) by Split and BlockCredits for a block
// without weights: no account did work that counts for it.
var ErrNoWeight = errors.New("no weights: the total weight is zero")

// Split divides net satoshis among the accounts in proportion to their
// weights: each account gets floor(net·w/W), W the sum of the weights, and
// the satoshis left over (fewer than the accounts) go one each to the
// accounts with the largest fractional parts of net·w/W, ties by account
// name. The arithmetic is exact (math/big.Rat holds every float64
// exactly), so the result does not depend on the order of the map, sums to
// net exactly, and gives each account its exact share or one satoshi more
// or less. A weight that is not above zero, NaN or infinite is an error,
// as is a negative net; no weights at all is an error that wraps
// ErrNoWeight.
func Split(net int64, weights map[string]float64) (map[string]int64, error) {
	if net < 0 {
		return nil, fmt.Errorf("payout: split: negative amount %d", net)
	}
	if len(weights) == 0 {
		return nil, fmt.Errorf("payout: split %d sat: %w", net, ErrNoWeight)
	}
	type part struct {
		account string
		w       big.Rat // the weight, then the exact share net·w/W
		whole   int64
		frac    big.Rat
	}
	parts := make([]*part, 0, len(weights))
	var total big.Rat
	for account, w := range weights {
		if math.IsNaN(w) || math.IsInf(w, 0) || w <= 0 {
			return nil, fmt.Errorf("payout: split: account %q has weight %v; weights must be finite and above zero", account, w)
		}
		p := &part{account: account}
		p.w.SetFloat64(w)
		total.Add(&total, &p.w)
		parts = append(parts, p)
	}
	netR := new(big.Rat).SetInt64(net)
	left := net
	var whole big.Int
	for _, p := range parts {
		p.w.Mul(&p.w, netR)
		p.w.Quo(&p.w, &total)
		// The share is not negative, so truncation is the floor.
		whole.Quo(p.w.Num(), p.w.Denom())
		p.whole = whole.Int64()
		p.frac.Sub(&p.w, new(big.Rat).SetInt(&whole))
		left -= p.whole
	}
	slices.SortFunc(parts, func(a, b *part) int {
		if c := b.frac.Cmp(&a.frac); c != 0 {
			return c
		}
		return cmp.Compare(a.account, b.account)
	})
	// Each fractional part is below one and they sum to left, so left is
	// below len(parts).
	for i := range left {
		parts[i].whole++
	}
	out := make(map[string]int64, len(parts))
	for _, p := range parts {
		out[p.account] = p.whole
	}
	return out, nil
}

// PoolFee returns the pool's fee of a block reward: floor(reward ·
// percent / 100), computed exactly with percent read as the decimal it was
// written as (the shortest decimal that gives the float64 back: 1.5 is
// 3/2, 0.1 is 1/10), so that 1.5 % of 5,000,000,000 is exactly 75,000,000.
// A negative reward, or a percent outside 0..100, NaN or infinite, is an
// error.
func PoolFee(reward int64, percent float64) (int64, error) {
	if reward < 0 {
		return 0, fmt.Errorf("payout: pool fee: negative reward %d", reward)
	}
	if math.IsNaN(percent) || percent < 0 || percent > 100 {
		return 0, fmt.Errorf("payout: pool fee: percent %v is outside 0..100", percent)
	}
	p, ok := new(big.Rat).SetString(strconv.FormatFloat(percent, 'f', -1, 64))
	if !ok {
		// FormatFloat of a finite float64 always parses.
		return 0, fmt.Errorf("payout: pool fee: percent %v does not parse", percent)
	}
	p.Mul(p, new(big.Rat).SetInt64(reward))
	p.Quo(p, big.NewRat(100, 1))
	return new(big.Int).Quo(p.Num(), p.Denom()).Int64(), nil
}

// BlockCredits returns what a matured block of reward satoshis credits
// under scheme, and the pool's fee of it: fee = PoolFee(reward,
// feePercent), net = reward − fee, and
//
//   - pplns, prop: Split(net, weights), the weights being the block's
//     frozen PPLNS window or its round's work per account;
//   - solo: the finder's account takes net (finder must not be empty);
//   - pps, fpps: no credits and no fee: the shares were credited as they
//     came, and the whole reward goes to the variance reserve.
//
// An unknown scheme is an error.
func BlockCredits(scheme string, reward int64, feePercent float64, finder string, weights map[string]float64) (credits map[string]int64, fee int64, err error) {
	switch scheme {
	case SchemePPS, SchemeFPPS:
		if reward < 0 {
			return nil, 0, fmt.Errorf("payout: %s block credits: negative reward %d", scheme, reward)
		}
		return map[string]int64{}, 0, nil
	case SchemePPLNS, SchemeProp, SchemeSolo:
	default:
		return nil, 0, fmt.Errorf("payout: block credits: unknown scheme %q (want %s, %s, %s, %s or %s)",
			scheme, SchemePPLNS, SchemeProp, SchemeSolo, SchemePPS, SchemeFPPS)
	}
	if fee, err = PoolFee(reward, feePercent); err != nil {
		return nil, 0, fmt.Errorf("payout: %s block credits: %w", scheme, err)
	}
	net := reward - fee
	if scheme == SchemeSolo {
		if finder == "" {
			return nil, 0, errors.New("payout: solo block credits: the block has no finder")
		}
		return map[string]int64{finder: net}, fee, nil
	}
	if credits, err = Split(net, weights); err != nil {
		return nil, 0, fmt.Errorf("payout: %s block credits: %w", scheme, err)
	}
	return credits, fee, nil
}

// baseSubsidy is the subsidy of the first halving interval: 50 BTC.
const baseSubsidy = 50 * 100_000_000

// Subsidy returns the block subsidy at height in satoshis: 50 BTC halved
// once per halvingInterval blocks (integer shift, as consensus does), 0
// from the 64th halving on. Pass the network's
// chaincfg.Params.SubsidyReductionInterval (210,000 on mainnet, 150 on
// regtest). A negative height or an interval below 1 gives 0.
func Subsidy(height int64, halvingInterval int64) int64 {
	if height < 0 || halvingInterval < 1 {
		return 0
	}
	halvings := height / halvingInterval
	if halvings >= 64 {
		return 0
	}
	return baseSubsidy >> halvings
}

// maxWholeSats is 2^63, the first float64 beyond int64.
const maxWholeSats = 1 << 63

// PPSCredit moves the whole satoshis out of the PPS debt owed per account
// (pps:owed, in fractional satoshis): credits holds floor(owed) for each
// account owed at least one satoshi, and rest every account of owed with
// what stays owed (owed − floor(owed), exact in float64). Nothing is lost
// or counted twice: credits[a] + rest[a] = owed[a]. A negative, NaN or
// infinite amount (or one beyond int64) is credited nothing and stays in
// rest as it was.
func PPSCredit(owed map[string]float64) (credits map[string]int64, rest map[string]float64) {
	credits = make(map[string]int64, len(owed))
	rest = make(map[string]float64, len(owed))
	for account, v := range owed {
		if !(v >= 1) || v >= maxWholeSats {
			rest[account] = v
			continue
		}
		whole := math.Floor(v)
		credits[account] = int64(whole)
		rest[account] = v - whole
	}
	return credits, rest
}
