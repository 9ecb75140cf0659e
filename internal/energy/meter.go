package energy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// MeterError lists every bad row of a meter file by line; nothing of the
// file is imported.
type MeterError struct {
	Problems []string
}

func (e *MeterError) Error() string {
	return fmt.Sprintf("energy: meter file has %d bad row(s), nothing imported:\n\t%s", len(e.Problems), strings.Join(e.Problems, "\n\t"))
}

// maxMeterProblems caps the rows a MeterError lists.
const maxMeterProblems = 50

// ParseMeter reads a meter CSV (docs/energy.md, "Meter files") and returns
// its energy per hour (start ms), readings apportioned to hours by time.
// Header "start,end,kwh": interval readings, the kWh used in [start, end).
// Header "time,reading_kwh": a cumulative register, read at each time.
// Times are RFC 3339. Lines starting with '#' and blank lines are skipped.
func ParseMeter(r io.Reader) (map[int64]redisstore.MeterHour, error) {
	sc := bufio.NewScanner(r)
	var bad []string
	add := func(line int, format string, args ...any) {
		if len(bad) < maxMeterProblems {
			bad = append(bad, fmt.Sprintf("line %d: ", line)+fmt.Sprintf(format, args...))
		}
	}
	type interval struct {
		from, to time.Time
		kwh      float64
		line     int
	}
	var ivs []interval
	cumulative := false
	header := false
	var lastT time.Time
	var lastR float64
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Split(text, ",")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if !header {
			header = true
			switch strings.ToLower(strings.Join(f, ",")) {
			case "start,end,kwh":
			case "time,reading_kwh":
				cumulative = true
			default:
				add(line, "header %q: want \"start,end,kwh\" (interval readings) or \"time,reading_kwh\" (a cumulative register)", text)
				return nil, &MeterError{bad}
			}
			continue
		}
		want := 3
		if cumulative {
			want = 2
		}
		if len(f) != want {
			add(line, "%d fields, want %d", len(f), want)
			continue
		}
		t0, err := time.Parse(time.RFC3339, f[0])
		if err != nil {
			add(line, "time %q: want RFC 3339 such as 2026-12-01T10:00:00Z", f[0])
			continue
		}
		v, err := strconv.ParseFloat(f[want-1], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			add(line, "kWh %q: want a non-negative number", f[want-1])
			continue
		}
		if cumulative {
			if !lastT.IsZero() {
				switch {
				case !t0.After(lastT):
					add(line, "time %s is not after the previous reading's %s", f[0], lastT.Format(time.RFC3339))
					continue
				case v < lastR:
					add(line, "reading %v is below the previous %v: a register only grows (a meter swap needs a new file)", v, lastR)
					continue
				}
				ivs = append(ivs, interval{lastT, t0, v - lastR, line})
			}
			lastT, lastR = t0, v
			continue
		}
		t1, err := time.Parse(time.RFC3339, f[1])
		if err != nil {
			add(line, "end %q: want RFC 3339 such as 2026-12-01T10:15:00Z", f[1])
			continue
		}
		if !t1.After(t0) {
			add(line, "end %s is not after start %s", f[1], f[0])
			continue
		}
		ivs = append(ivs, interval{t0, t1, v, line})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("energy: read meter file: %w", err)
	}
	if !header {
		return nil, &MeterError{[]string{"line 1: empty file: want a header and readings"}}
	}
	sort.SliceStable(ivs, func(i, j int) bool { return ivs[i].from.Before(ivs[j].from) })
	for i := 1; i < len(ivs); i++ {
		if ivs[i].from.Before(ivs[i-1].to) {
			add(ivs[i].line, "interval overlaps the one on line %d", ivs[i-1].line)
		}
	}
	if len(bad) > 0 {
		return nil, &MeterError{bad}
	}
	if len(ivs) == 0 {
		return nil, errors.New("energy: meter file holds no reading")
	}
	out := map[int64]redisstore.MeterHour{}
	for _, iv := range ivs {
		span := iv.to.Sub(iv.from).Seconds()
		for t := iv.from; t.Before(iv.to); {
			h := t.Truncate(time.Hour)
			end := h.Add(time.Hour)
			if iv.to.Before(end) {
				end = iv.to
			}
			s := end.Sub(t).Seconds()
			m := out[h.UnixMilli()]
			m.KWh += iv.kwh * s / span
			m.Covered += s
			out[h.UnixMilli()] = m
			t = end
		}
	}
	return out, nil
}
