package redisstore_test

import (
	"context"
	"math"
	"math/big"
	"strconv"
	"testing"

	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// ppsWorth is what the shares are worth per account under scheme, computed
// apart from the store: exact rationals, rounded once at the end.
func ppsWorth(scheme string, halving int64, rs []share.Record) map[string]float64 {
	sum := map[string]*big.Rat{}
	for _, r := range rs {
		if r.NetDifficulty == 0 {
			continue
		}
		v := r.CoinbaseValue
		if scheme == "pps" {
			v = 0
			if h := r.Height / halving; h < 64 {
				v = 5_000_000_000 >> h
			}
		}
		x := new(big.Rat).SetFloat64(r.Difficulty)
		x.Quo(x, new(big.Rat).SetFloat64(r.NetDifficulty))
		x.Mul(x, new(big.Rat).SetInt64(v))
		if sum[r.Account] == nil {
			sum[r.Account] = new(big.Rat)
		}
		sum[r.Account].Add(sum[r.Account], x)
	}
	out := map[string]float64{}
	for a, x := range sum {
		out[a], _ = x.Float64()
	}
	return out
}

// ppsShares are shares across regtest's halvings (every 150 blocks), at
// several network and share difficulties, with a share of unknown network
// difficulty (worth nothing).
func ppsShares() []share.Record {
	var rs []share.Record
	heights := []int64{1, 149, 150, 299, 300, 9599, 9600}
	for i := range 700 {
		acct := "acct" + strconv.Itoa(i%3)
		r := rec(uint64(i+1), acct, "rig"+strconv.Itoa(i%5), 1e-12*float64(1+i%7))
		r.Height = heights[i%len(heights)]
		r.NetDifficulty = []float64{4.6565423739069247e-10, 1.2e-9, 3}[i%3]
		r.CoinbaseValue = 5_000_000_000/int64(1+i%4) + int64(i)
		if i == 0 {
			r.NetDifficulty = 0
		}
		rs = append(rs, r)
	}
	return rs
}

func ppsOwed(t *testing.T, s *redisstore.Store) map[string]float64 {
	t.Helper()
	owed, err := s.PPSOwed(context.Background())
	if err != nil {
		t.Fatalf("PPSOwed: %v", err)
	}
	return owed
}

// TestPPSAccrual: under pps and fpps every batch adds its shares' worth
// (d / D × subsidy or coinbase value) per account to pps:owed, and the
// sums match an independent computation; the other schemes accrue nothing.
func TestPPSAccrual(t *testing.T) {
	for _, scheme := range []string{"pps", "fpps", "pplns", ""} {
		t.Run("scheme="+scheme, func(t *testing.T) {
			r := startRedis(t)
			s := newStore(t, r, redisstore.Options{Scheme: scheme, SubsidyHalvingInterval: 150, BatchSize: 64})
			rs := ppsShares()
			for _, x := range rs {
				if err := s.AddShare(x); err != nil {
					t.Fatalf("AddShare: %v", err)
				}
			}
			if err := s.Flush(context.Background()); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			got := ppsOwed(t, s)
			want := map[string]float64{}
			if scheme == "pps" || scheme == "fpps" {
				want = ppsWorth(scheme, 150, rs)
			}
			if len(got) != len(want) {
				t.Fatalf("pps:owed = %v, want %v", got, want)
			}
			for a, w := range want {
				if math.Abs(got[a]-w) > 1e-9*w || w <= 0 {
					t.Errorf("owed[%s] = %v, want %v", a, got[a], w)
				}
			}
		})
	}
}
