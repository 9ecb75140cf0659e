package human

import (
	"math"
	"testing"
	"time"
)

func TestHashrate(t *testing.T) {
	tests := []struct {
		name string
		h    float64
		want string
	}{
		{"zero", 0, "0 H/s"},
		{"below one", 0.5, "0.500 H/s"},
		{"tiny", 0.001234, "0.00123 H/s"},
		{"one", 1, "1.00 H/s"},
		{"ten", 10, "10.0 H/s"},
		{"hundred", 100, "100 H/s"},
		{"just below kilo", 999, "999 H/s"},
		{"rounds down below kilo", 999.4, "999 H/s"},
		{"rounds up to kilo", 999.6, "1.00 kH/s"},
		{"kilo", 1e3, "1.00 kH/s"},
		{"three digits", 1234, "1.23 kH/s"},
		{"rounds 9.996 to ten", 9996, "10.0 kH/s"},
		{"just below mega", 999_400, "999 kH/s"},
		{"rounds up to mega", 999_600, "1.00 MH/s"},
		{"mega", 1e6, "1.00 MH/s"},
		{"cpu miner", 11_430_000, "11.4 MH/s"},
		{"just below giga", 999.4e6, "999 MH/s"},
		{"giga", 1e9, "1.00 GH/s"},
		{"just below tera", 999.4e9, "999 GH/s"},
		{"tera", 1e12, "1.00 TH/s"},
		{"one asic", 200e12, "200 TH/s"},
		{"just below peta", 999.4e12, "999 TH/s"},
		{"peta", 1e15, "1.00 PH/s"},
		{"just below exa", 999.4e15, "999 PH/s"},
		{"exa", 1e18, "1.00 EH/s"},
		{"the programme", 100e18, "100 EH/s"},
		{"past the last prefix", 1234e18, "1230 EH/s"},
		{"negative", -1500, "-1.50 kH/s"},
		{"NaN", math.NaN(), "-"},
		{"infinite", math.Inf(1), "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Hashrate(tt.h); got != tt.want {
				t.Errorf("Hashrate(%v) = %q, want %q", tt.h, got, tt.want)
			}
		})
	}
}

func TestDifficulty(t *testing.T) {
	tests := []struct {
		name string
		d    float64
		want string
	}{
		{"regtest network", 4.656542373906925e-10, "4.656542373906925e-10"},
		{"fraction", 0.5, "0.5"},
		{"vardiff", 65536, "65536"},
		{"just below a million", 999_999.5, "999999.5"},
		{"a million", 1e6, "1.00M"},
		{"mainnet", 83_148_355_189_239.77, "83.1T"},
		{"NaN", math.NaN(), "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Difficulty(tt.d); got != tt.want {
				t.Errorf("Difficulty(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		d    time.Duration // how long before now
		want string
	}{
		{"now", 0, "0s ago"},
		{"seconds", 59*time.Second + 900*time.Millisecond, "59s ago"},
		{"a minute", time.Minute, "1m ago"},
		{"truncates minutes", 119 * time.Second, "1m ago"},
		{"just below an hour", time.Hour - time.Second, "59m ago"},
		{"an hour", time.Hour, "1h ago"},
		{"just below two days", 48*time.Hour - time.Second, "47h ago"},
		{"two days", 48 * time.Hour, "2d ago"},
		{"a year", 365 * 24 * time.Hour, "365d ago"},
		{"ahead by seconds", -30 * time.Second, "in 30s"},
		{"ahead by minutes", -9 * time.Minute, "in 9m"},
		{"ahead by days", -72 * time.Hour, "in 3d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Ago(now, now.Add(-tt.d)); got != tt.want {
				t.Errorf("Ago(now - %v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
	if got := Ago(now, time.Time{}); got != "-" {
		t.Errorf("Ago(now, zero) = %q, want -", got)
	}
}

func TestBTC(t *testing.T) {
	tests := []struct {
		sat  int64
		want string
	}{
		{0, "0.00000000"},
		{1, "0.00000001"},
		{312_500_000, "3.12500000"},
		{-150_000_000, "-1.50000000"},
		{math.MinInt64, "-92233720368.54775808"},
	}
	for _, tt := range tests {
		if got := BTC(tt.sat); got != tt.want {
			t.Errorf("BTC(%d) = %q, want %q", tt.sat, got, tt.want)
		}
	}
}
