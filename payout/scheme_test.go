package payout_test

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/v2"

	"github.com/tarbela-pool/tarbela/payout"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		name    string
		net     int64
		weights map[string]float64
		want    map[string]int64
		wantErr bool
	}{
		{name: "one account takes all", net: 4_925_000_000, weights: map[string]float64{"alice": 3.5}, want: map[string]int64{"alice": 4_925_000_000}},
		{name: "even halves", net: 100, weights: map[string]float64{"a": 1, "b": 1}, want: map[string]int64{"a": 50, "b": 50}},
		// 10/3 each: floors 3+3+3, one satoshi left, equal fractions,
		// so the first name takes it.
		{name: "tie goes by name", net: 10, weights: map[string]float64{"carol": 2, "alice": 2, "bob": 2},
			want: map[string]int64{"alice": 4, "bob": 3, "carol": 3}},
		// 100·(1,2,4)/7 = 14.28, 28.57, 57.14: floors 14+28+57 = 99, the
		// largest fraction (b: .57) takes the last satoshi.
		{name: "largest remainder", net: 100, weights: map[string]float64{"a": 1, "b": 2, "c": 4},
			want: map[string]int64{"a": 14, "b": 29, "c": 57}},
		{name: "fewer satoshis than accounts", net: 2, weights: map[string]float64{"a": 1, "b": 1, "c": 1},
			want: map[string]int64{"a": 1, "b": 1, "c": 0}},
		{name: "zero to split", net: 0, weights: map[string]float64{"a": 1, "b": 5}, want: map[string]int64{"a": 0, "b": 0}},
		// Weights far apart in size are still exact: 2^-1074 against 1.
		{name: "tiny against large", net: 1000, weights: map[string]float64{"dust": math.SmallestNonzeroFloat64, "whale": 1},
			want: map[string]int64{"dust": 0, "whale": 1000}},
		// Weights that float64 holds only near their decimals (0.1 is
		// 0.1000000000000000055…): the shares are exact all the same.
		{name: "binary fractions", net: 3, weights: map[string]float64{"a": 0.1, "b": 0.2},
			want: map[string]int64{"a": 1, "b": 2}},
		{name: "no weights", net: 100, weights: map[string]float64{}, wantErr: true},
		{name: "nil weights", net: 100, weights: nil, wantErr: true},
		{name: "zero weight", net: 100, weights: map[string]float64{"a": 1, "b": 0}, wantErr: true},
		{name: "negative weight", net: 100, weights: map[string]float64{"a": 1, "b": -1}, wantErr: true},
		{name: "NaN weight", net: 100, weights: map[string]float64{"a": math.NaN()}, wantErr: true},
		{name: "infinite weight", net: 100, weights: map[string]float64{"a": math.Inf(1)}, wantErr: true},
		{name: "negative net", net: -1, weights: map[string]float64{"a": 1}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := payout.Split(tc.net, tc.weights)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Split = %v; want an error", got)
				}
				return
			}
			if err != nil || !maps.Equal(got, tc.want) {
				t.Fatalf("Split = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if _, err := payout.Split(1, nil); !errors.Is(err, payout.ErrNoWeight) {
		t.Fatalf("Split with no weights: %v; want ErrNoWeight", err)
	}
}

// TestSplitProperties checks Split on random inputs (seeded, so a failure
// repeats): the credits sum to net exactly; each is the exact share
// net·w/W rounded down or up by less than one satoshi; the satoshis above
// the floor went to the largest fractional parts; and the result does not
// depend on the order in which the map is built or iterated.
func TestSplitProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(2026, 7))
	for round := range 300 {
		n := 1 + rng.IntN(60)
		weights := make(map[string]float64, n)
		for i := range n {
			var w float64
			switch rng.IntN(4) {
			case 0: // shares of a vardiff pool: powers of two
				w = math.Ldexp(1, rng.IntN(40)-10)
			case 1: // whole difficulties
				w = float64(1 + rng.IntN(1_000_000))
			case 2: // tiny PPLNS slice remnants
				w = rng.Float64() * 1e-6
			default:
				w = rng.ExpFloat64() * 1e12
			}
			if w <= 0 {
				w = 1
			}
			weights[fmt.Sprintf("acct%03d", i)] = w
		}
		net := rng.Int64N(21_000_000 * 100_000_000)
		if round%10 == 0 {
			net = rng.Int64N(int64(n)) // fewer satoshis than accounts
		}
		got, err := payout.Split(net, weights)
		if err != nil {
			t.Fatalf("round %d: Split: %v", round, err)
		}
		checkSplit(t, round, net, weights, got)

		// The same weights, inserted in another order.
		keys := slices.Collect(maps.Keys(weights))
		rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		again := make(map[string]float64, n)
		for _, k := range keys {
			again[k] = weights[k]
		}
		for range 3 {
			other, err := payout.Split(net, again)
			if err != nil || !maps.Equal(other, got) {
				t.Fatalf("round %d: Split differs on the same weights: %v vs %v (%v)", round, other, got, err)
			}
		}
	}
}

// checkSplit checks one split against exact arithmetic.
func checkSplit(t *testing.T, round int, net int64, weights map[string]float64, got map[string]int64) {
	t.Helper()
	if len(got) != len(weights) {
		t.Fatalf("round %d: %d credits for %d accounts", round, len(got), len(weights))
	}
	total := new(big.Rat)
	for _, w := range weights {
		total.Add(total, new(big.Rat).SetFloat64(w))
	}
	var sum int64
	// The smallest fraction among those rounded up, the largest among those
	// rounded down: the first must not be below the second.
	var minUp, maxDown *big.Rat
	for account, w := range weights {
		exact := new(big.Rat).SetFloat64(w)
		exact.Mul(exact, new(big.Rat).SetInt64(net)).Quo(exact, total)
		floor := new(big.Int).Quo(exact.Num(), exact.Denom())
		frac := new(big.Rat).Sub(exact, new(big.Rat).SetInt(floor))
		c := got[account]
		switch c - floor.Int64() {
		case 0:
			if maxDown == nil || frac.Cmp(maxDown) > 0 {
				maxDown = frac
			}
		case 1:
			if minUp == nil || frac.Cmp(minUp) < 0 {
				minUp = frac
			}
		default:
			t.Fatalf("round %d: %s gets %d; exact share %s", round, account, c, exact.FloatString(3))
		}
		sum += c
	}
	if sum != net {
		t.Fatalf("round %d: credits sum to %d; want %d", round, sum, net)
	}
	if minUp != nil && maxDown != nil && minUp.Cmp(maxDown) < 0 {
		t.Fatalf("round %d: a fraction %s was rounded up before a larger one %s", round, minUp.FloatString(6), maxDown.FloatString(6))
	}
}

func TestPoolFee(t *testing.T) {
	tests := []struct {
		name    string
		reward  int64
		percent float64
		want    int64
		wantErr bool
	}{
		{name: "1.5 % of 50 BTC", reward: 5_000_000_000, percent: 1.5, want: 75_000_000},
		{name: "0.1 % is a tenth, not the float below it", reward: 1000, percent: 0.1, want: 1},
		{name: "2.3 % of 3.125 BTC", reward: 312_500_000, percent: 2.3, want: 7_187_500},
		{name: "rounds down", reward: 999, percent: 1, want: 9},
		{name: "zero percent", reward: 5_000_000_000, percent: 0, want: 0},
		{name: "all of it", reward: 5_000_000_000, percent: 100, want: 5_000_000_000},
		{name: "tiny percent", reward: 5_000_000_000, percent: 1e-9, want: 0},
		{name: "many decimals", reward: 5_000_000_000, percent: 0.333333, want: 16_666_650},
		{name: "zero reward", reward: 0, percent: 2, want: 0},
		{name: "negative percent", reward: 100, percent: -1, wantErr: true},
		{name: "above 100", reward: 100, percent: 100.5, wantErr: true},
		{name: "NaN", reward: 100, percent: math.NaN(), wantErr: true},
		{name: "infinite", reward: 100, percent: math.Inf(1), wantErr: true},
		{name: "negative reward", reward: -5, percent: 1, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := payout.PoolFee(tc.reward, tc.percent)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("PoolFee(%d, %v) = %d, %v; want %d, error %v", tc.reward, tc.percent, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestBlockCredits(t *testing.T) {
	weights := map[string]float64{"alice": 3, "bob": 1}
	tests := []struct {
		name        string
		scheme      string
		reward      int64
		feePercent  float64
		finder      string
		weights     map[string]float64
		wantCredits map[string]int64
		wantFee     int64
		wantErr     bool
	}{
		{name: "pplns", scheme: payout.SchemePPLNS, reward: 5_000_000_000, feePercent: 1.5, weights: weights,
			wantCredits: map[string]int64{"alice": 3_693_750_000, "bob": 1_231_250_000}, wantFee: 75_000_000},
		{name: "prop", scheme: payout.SchemeProp, reward: 5_000_000_003, feePercent: 0, weights: weights,
			wantCredits: map[string]int64{"alice": 3_750_000_002, "bob": 1_250_000_001}},
		{name: "solo", scheme: payout.SchemeSolo, reward: 5_000_000_000, feePercent: 2, finder: "carol",
			wantCredits: map[string]int64{"carol": 4_900_000_000}, wantFee: 100_000_000},
		{name: "solo ignores weights", scheme: payout.SchemeSolo, reward: 100, finder: "carol", weights: weights,
			wantCredits: map[string]int64{"carol": 100}},
		{name: "pps funds the reserve", scheme: payout.SchemePPS, reward: 5_000_000_000, feePercent: 2, weights: weights,
			wantCredits: map[string]int64{}},
		{name: "fpps funds the reserve", scheme: payout.SchemeFPPS, reward: 5_012_345_678, feePercent: 2,
			wantCredits: map[string]int64{}},
		{name: "pplns without weights", scheme: payout.SchemePPLNS, reward: 100, wantErr: true},
		{name: "solo without finder", scheme: payout.SchemeSolo, reward: 100, wantErr: true},
		{name: "bad fee", scheme: payout.SchemeProp, reward: 100, feePercent: 101, weights: weights, wantErr: true},
		{name: "negative reward", scheme: payout.SchemePPS, reward: -1, wantErr: true},
		{name: "unknown scheme", scheme: "pplnt", reward: 100, weights: weights, wantErr: true},
		{name: "scheme names are exact", scheme: "PPLNS", reward: 100, weights: weights, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			credits, fee, err := payout.BlockCredits(tc.scheme, tc.reward, tc.feePercent, tc.finder, tc.weights)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("BlockCredits = %v, %d; want an error", credits, fee)
				}
				return
			}
			if err != nil || fee != tc.wantFee || !maps.Equal(credits, tc.wantCredits) || credits == nil {
				t.Fatalf("BlockCredits = %v, %d, %v; want %v, %d", credits, fee, err, tc.wantCredits, tc.wantFee)
			}
			var sum int64
			for _, c := range credits {
				sum += c
			}
			if tc.scheme != payout.SchemePPS && tc.scheme != payout.SchemeFPPS && sum+fee != tc.reward {
				t.Fatalf("credits %d + fee %d != reward %d", sum, fee, tc.reward)
			}
		})
	}
	if _, _, err := payout.BlockCredits(payout.SchemePPLNS, 100, 0, "", nil); !errors.Is(err, payout.ErrNoWeight) {
		t.Fatalf("BlockCredits without weights: %v; want ErrNoWeight", err)
	}
}

// TestSubsidy checks mainnet's subsidy at the heights of its halvings (the
// reward of the real blocks 0, 209999, 210000, 420000, 630000 and 840000),
// regtest's with its params, and the end of the subsidy.
func TestSubsidy(t *testing.T) {
	mainnet := int64(chaincfg.MainNetParams.SubsidyReductionInterval)
	regtest := int64(chaincfg.RegressionNetParams.SubsidyReductionInterval)
	if mainnet != 210_000 || regtest != 150 {
		t.Fatalf("halving intervals: mainnet %d, regtest %d; want 210000 and 150", mainnet, regtest)
	}
	tests := []struct {
		name     string
		height   int64
		interval int64
		want     int64
	}{
		{name: "mainnet genesis", height: 0, interval: mainnet, want: 5_000_000_000},
		{name: "mainnet last 50 BTC block", height: 209_999, interval: mainnet, want: 5_000_000_000},
		{name: "mainnet first halving", height: 210_000, interval: mainnet, want: 2_500_000_000},
		{name: "mainnet second halving", height: 420_000, interval: mainnet, want: 1_250_000_000},
		{name: "mainnet third halving", height: 630_000, interval: mainnet, want: 625_000_000},
		{name: "mainnet fourth halving", height: 840_000, interval: mainnet, want: 312_500_000},
		{name: "mainnet after 32 halvings: 1 sat", height: 32 * 210_000, interval: mainnet, want: 1},
		{name: "mainnet after 33 halvings: nothing", height: 33 * 210_000, interval: mainnet, want: 0},
		{name: "after 64 halvings", height: 64 * 210_000, interval: mainnet, want: 0},
		{name: "far beyond", height: math.MaxInt64, interval: mainnet, want: 0},
		{name: "regtest 149", height: 149, interval: regtest, want: 5_000_000_000},
		{name: "regtest 150", height: 150, interval: regtest, want: 2_500_000_000},
		{name: "regtest 300", height: 300, interval: regtest, want: 1_250_000_000},
		{name: "interval 1, 63 halvings", height: 63, interval: 1, want: 0},
		{name: "interval 1, 32 halvings", height: 32, interval: 1, want: 1},
		{name: "negative height", height: -1, interval: mainnet, want: 0},
		{name: "zero interval", height: 5, interval: 0, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := payout.Subsidy(tc.height, tc.interval); got != tc.want {
				t.Fatalf("Subsidy(%d, %d) = %d; want %d", tc.height, tc.interval, got, tc.want)
			}
		})
	}
}

func TestPPSCredit(t *testing.T) {
	owed := map[string]float64{
		"whole":    12,
		"fraction": 1234.75,
		"below 1":  0.999,
		"zero":     0,
		"negative": -3.5,
		"NaN":      math.NaN(),
		"infinite": math.Inf(1),
		"huge":     1e19,
		"float53":  1 << 53,
	}
	credits, rest := payout.PPSCredit(owed)
	wantCredits := map[string]int64{"whole": 12, "fraction": 1234, "float53": 1 << 53}
	if !maps.Equal(credits, wantCredits) {
		t.Fatalf("credits %v; want %v", credits, wantCredits)
	}
	wantRest := map[string]float64{"whole": 0, "fraction": 0.75, "below 1": 0.999, "zero": 0, "negative": -3.5,
		"infinite": math.Inf(1), "huge": 1e19, "float53": 0}
	for account, v := range owed {
		r, found := rest[account]
		if !found {
			t.Fatalf("rest lacks %q", account)
		}
		if math.IsNaN(v) {
			if !math.IsNaN(r) {
				t.Fatalf("rest[NaN] = %v; want NaN kept", r)
			}
			continue
		}
		if r != wantRest[account] {
			t.Errorf("rest[%q] = %v; want %v", account, r, wantRest[account])
		}
		// Nothing is lost or counted twice.
		if float64(credits[account])+r != v {
			t.Errorf("%q: credit %d + rest %v != owed %v", account, credits[account], r, v)
		}
	}
	if len(rest) != len(owed) {
		t.Fatalf("rest has %d accounts; want %d", len(rest), len(owed))
	}
}

// TestPPSCreditRepeated credits many small PPS amounts run after run, as the
// payout job does: whatever the fractions, the satoshis credited plus the
// fraction kept equal the sum owed.
func TestPPSCreditRepeated(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	owed := map[string]float64{}
	var added, credited = map[string]float64{}, map[string]int64{}
	for range 1000 {
		for _, a := range []string{"a", "b", "c"} {
			v := rng.Float64() * 3 // d/D × subsidy of a few shares, in satoshis
			owed[a] += v
			added[a] += v
		}
		credits, rest := payout.PPSCredit(owed)
		for a, c := range credits {
			credited[a] += c
		}
		owed = rest
	}
	for a, sum := range added {
		if diff := math.Abs(float64(credited[a]) + owed[a] - sum); diff > 1e-6 {
			t.Errorf("%s: credited %d + kept %v differs from owed %v by %v", a, credited[a], owed[a], sum, diff)
		}
		if owed[a] < 0 || owed[a] >= 1 {
			t.Errorf("%s: kept %v; want a fraction", a, owed[a])
		}
	}
}
