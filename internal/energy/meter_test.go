package energy_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/internal/energy"
)

func TestParseMeter(t *testing.T) {
	h := func(s string) int64 { v, _ := time.Parse(time.RFC3339, s); return v.UnixMilli() }
	// Interval readings: a 30-minute reading across an hour boundary is
	// split by time.
	got, err := energy.ParseMeter(strings.NewReader(`# site north, utility feed 1
start,end,kwh
2026-12-01T10:00:00Z,2026-12-01T10:45:00Z,90
2026-12-01T10:45:00Z,2026-12-01T11:15:00Z,60

2026-12-01T11:15:00Z,2026-12-01T12:00:00Z,90
`))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := got[h("2026-12-01T10:00:00Z")], got[h("2026-12-01T11:00:00Z")]; a.KWh != 120 || a.Covered != 3600 || b.KWh != 120 || b.Covered != 3600 {
		t.Errorf("interval: %+v %+v, want 120 kWh over 3600 s each", a, b)
	}
	// A cumulative register: differences between readings.
	got, err = energy.ParseMeter(strings.NewReader("time,reading_kwh\n2026-12-01T10:00:00Z,1000\n2026-12-01T10:30:00Z,1050\n2026-12-01T11:00:00Z,1110\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a := got[h("2026-12-01T10:00:00Z")]; math.Abs(a.KWh-110) > 1e-9 || a.Covered != 3600 {
		t.Errorf("cumulative: %+v, want 110 kWh over the hour", a)
	}
	// Every bad row is named by its line; nothing is returned.
	_, err = energy.ParseMeter(strings.NewReader(`start,end,kwh
2026-12-01T10:00:00Z,2026-12-01T10:15:00Z,12
yesterday,2026-12-01T10:30:00Z,1
2026-12-01T10:30:00Z,2026-12-01T10:20:00Z,1
2026-12-01T10:30:00Z,2026-12-01T10:45:00Z,-4
2026-12-01T10:30:00Z,2026-12-01T10:45:00Z
2026-12-01T10:10:00Z,2026-12-01T10:20:00Z,3
`))
	var me *energy.MeterError
	if !errors.As(err, &me) {
		t.Fatalf("bad rows: %v", err)
	}
	for _, want := range []string{"line 3:", "line 4:", "line 5:", "line 6:", "line 7:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no problem for %s in %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "line 2:") {
		t.Errorf("the good row 2 is named: %v", err)
	}
	_, err = energy.ParseMeter(strings.NewReader("time,reading_kwh\n2026-12-01T10:00:00Z,1000\n2026-12-01T10:30:00Z,990\n"))
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "line 3:") {
		t.Errorf("a register going down: %v", err)
	}
	if _, err = energy.ParseMeter(strings.NewReader("when,kwh\n")); !errors.As(err, &me) {
		t.Errorf("bad header: %v", err)
	}
}
