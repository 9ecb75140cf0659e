package human

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// BTC formats satoshis as BTC with all eight decimals.
func BTC(sat int64) string {
	sign := ""
	u := uint64(sat)
	if sat < 0 {
		sign, u = "-", -u // two's complement: right for math.MinInt64 too
	}
	return fmt.Sprintf("%s%d.%08d", sign, u/100_000_000, u%100_000_000)
}

// Ago says how long before now t was, for people ("3m ago"), or how long
// after ("in 9m") for a time still ahead, such as the end of a ban. It
// truncates: 119 s is "1m ago". The zero time is "-".
func Ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + span(-d)
	}
	return span(d) + " ago"
}

// span writes a non-negative duration in its largest whole unit up to
// days; hours go up to two days, so that "30h" is not read as "1d".
func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

var (
	rateUnits = []string{"H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"}
	diffUnits = []string{"", "k", "M", "G", "T", "P", "E"}
)

// Hashrate writes hashes per second with the largest prefix that keeps
// at least one digit before the point, to three significant digits:
// "999 H/s", "1.00 kH/s", "12.3 TH/s". Above 999 EH/s it stays in EH/s;
// NaN and infinities are "-".
func Hashrate(h float64) string {
	s := si(h, rateUnits)
	if s == "" {
		return "-"
	}
	return s
}

// Difficulty writes a share or network difficulty: below one million as
// it is (65536, 0.5, 4.66e-10: a session's difficulty is set exactly and
// read back exactly), from one million on with an SI prefix and three
// significant digits ("83.1T"). NaN and infinities are "-".
func Difficulty(d float64) string {
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return "-"
	}
	if math.Abs(d) < 1e6 {
		return strconv.FormatFloat(d, 'g', -1, 64)
	}
	return strings.ReplaceAll(si(d, diffUnits), " ", "")
}

// si rounds v to three significant digits, then picks the prefix from
// the rounded decimal digits (not from v), so that 999.6 becomes
// "1.00 k" and never "1000". It returns "" for NaN and infinities.
func si(v float64, units []string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	if v == 0 {
		return "0 " + units[0]
	}
	// "1.23e+06": the digits 123, the exponent 6.
	e := strconv.FormatFloat(v, 'e', 2, 64)
	digits := e[0:1] + e[2:4]
	exp, _ := strconv.Atoi(e[5:]) // strconv always writes a valid exponent
	unit := 0
	if exp > 0 {
		unit = min(exp/3, len(units)-1)
	}
	// point is how many digits stand before the decimal point.
	point := exp - 3*unit + 1
	var num string
	switch {
	case point <= 0:
		num = "0." + strings.Repeat("0", -point) + digits
	case point >= len(digits):
		num = digits + strings.Repeat("0", point-len(digits))
	default:
		num = digits[:point] + "." + digits[point:]
	}
	return sign + num + " " + units[unit]
}
