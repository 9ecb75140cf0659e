package share

import (
	"math"
	"math/big"
	"testing"
)

func TestTargetFromBits(t *testing.T) {
	for _, c := range []struct {
		name string
		bits uint32
		diff float64
		err  bool
	}{
		{"difficulty 1", 0x1d00ffff, 1, false},
		{"regtest", 0x207fffff, 4.656542373906925e-10, false},
		{"block 100000", 0x1b04864c, 14484.162361225399, false},
		{"negative", 0x1d80ffff, 0, true},
		{"overflow", 0x23010000, 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg, err := TargetFromBits(c.bits)
			if (err != nil) != c.err {
				t.Fatalf("err %v, want error %v", err, c.err)
			}
			if !c.err && math.Abs(tg.Difficulty()/c.diff-1) > 1e-9 {
				t.Errorf("difficulty %v, want %v", tg.Difficulty(), c.diff)
			}
		})
	}
}

func TestTargetFromDifficulty(t *testing.T) {
	for _, c := range []struct {
		name string
		d    float64
		err  bool
	}{
		{"one", 1, false},
		{"512", 512, false},
		{"fractional", 0.001, false},
		{"below regtest network difficulty", 1e-12, false},
		{"huge", 1e15, false},
		{"zero", 0, true},
		{"negative", -1, true},
		{"NaN", math.NaN(), true},
		{"Inf", math.Inf(1), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg, err := TargetFromDifficulty(c.d)
			if (err != nil) != c.err {
				t.Fatalf("err %v, want error %v", err, c.err)
			}
			if c.err {
				return
			}
			// Below ~2.3e-10 the target saturates at 2^256-1.
			if got := tg.Difficulty(); c.d > 1e-9 && math.Abs(got/c.d-1) > 1e-9 {
				t.Errorf("round trip %v -> %v", c.d, got)
			}
			if c.d == 1e-12 && tg.Big().Cmp(maxTarget) != 0 {
				t.Errorf("difficulty 1e-12 should saturate the target, got %x", tg.Big())
			}
		})
	}
}

func TestMeetsIsIntegerComparison(t *testing.T) {
	tg := TargetFromBig(new(big.Int).Lsh(big.NewInt(1), 200))
	for _, c := range []struct {
		name string
		n    *big.Int
		want bool
	}{
		{"equal", new(big.Int).Lsh(big.NewInt(1), 200), true},
		{"one below", new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 200), big.NewInt(1)), true},
		{"one above", new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 200), big.NewInt(1)), false},
		{"zero", big.NewInt(0), true},
		{"high word", new(big.Int).Lsh(big.NewInt(1), 255), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := [32]byte(TargetFromBig(c.n))
			if got := tg.Meets(&h); got != c.want {
				t.Errorf("Meets = %v, want %v", got, c.want)
			}
		})
	}
}

func TestReasonCodes(t *testing.T) {
	want := map[Reason]int{ReasonJobNotFound: 21, ReasonStale: 21, ReasonDuplicate: 22, ReasonLowDifficulty: 23,
		ReasonUnauthorized: 24, ReasonNotSubscribed: 25, ReasonBadNTime: 20, ReasonVersionMask: 20, ReasonBadExtranonce2: 20}
	for r, code := range want {
		if r.Code() != code {
			t.Errorf("%v: code %d, want %d", r, r.Code(), code)
		}
	}
	seen := map[string]bool{}
	for _, r := range Reasons() {
		if seen[r.String()] || r.String() == "unknown" {
			t.Errorf("reason %d has a repeated or missing name %q", r, r)
		}
		seen[r.String()] = true
	}
}
