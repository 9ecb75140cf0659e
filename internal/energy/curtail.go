package energy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// Curtailment is a grid operator's request that a site shed ShedMW from
// From to To.
type Curtailment struct {
	ID       int64     `json:"id"`
	Site     string    `json:"site"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	ShedMW   float64   `json:"shed_mw"`
	Recorded time.Time `json:"recorded"`
}

// Before is how much of the time before a window is kept and reported:
// the site's power then is the baseline it must shed from.
const Before = time.Hour

// AddCurtailment records c (its ID is assigned) and keeps the buckets of
// its window that exist already.
func AddCurtailment(ctx context.Context, l *redisstore.EnergyLedger, c Curtailment, bucket time.Duration) (Curtailment, error) {
	switch {
	case c.Site == "":
		return c, fmt.Errorf("energy: curtailment: --site is required")
	case !c.To.After(c.From):
		return c, fmt.Errorf("energy: curtailment: --to %s is not after --from %s", c.To.Format(time.RFC3339), c.From.Format(time.RFC3339))
	case !(c.ShedMW > 0):
		return c, fmt.Errorf("energy: curtailment: --shed-mw %v must be a positive number of megawatts", c.ShedMW)
	}
	id, err := l.AddCurtailment(ctx, func(id int64) string {
		c.ID = id
		b, _ := json.Marshal(c)
		return string(b)
	})
	if err != nil {
		return c, err
	}
	c.ID = id
	return c, l.KeepBuckets(ctx, id, c.From.Add(-Before).UnixMilli(), c.To.UnixMilli(), bucket.Milliseconds())
}

// Curtailments returns the recorded requests by id.
func Curtailments(ctx context.Context, l *redisstore.EnergyLedger) ([]Curtailment, error) {
	m, err := l.Curtailments(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Curtailment, 0, len(m))
	for id, s := range m {
		var c Curtailment
		if err := json.Unmarshal([]byte(s), &c); err != nil {
			return nil, fmt.Errorf("energy: curtailment %d: %w", id, err)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// keepWindows copies the live buckets of every request whose window (and
// the hour before) still has live buckets into its permanent copy.
func (c *Closer) keepWindows(ctx context.Context) error {
	reqs, err := Curtailments(ctx, c.Ledger)
	if err != nil {
		return err
	}
	bucket := c.bucket()
	horizon := c.now().Add(-48 * time.Hour)
	for _, r := range reqs {
		if r.To.Before(horizon) {
			continue
		}
		if err := c.Ledger.KeepBuckets(ctx, r.ID, r.From.Add(-Before).UnixMilli(), r.To.UnixMilli(), bucket.Milliseconds()); err != nil {
			return err
		}
	}
	return nil
}

func (c *Closer) bucket() time.Duration {
	if c.Bucket > 0 {
		return c.Bucket
	}
	return time.Minute
}

// PowerPoint is a site's power in one bucket, from its work.
type PowerPoint struct {
	Start time.Time `json:"start"`
	MW    float64   `json:"mw"`
	// Phase is "before" (the hour before the window) or "during".
	Phase string `json:"phase"`
}

// CurtailReport is what a curtailment request was answered with.
type CurtailReport struct {
	Request Curtailment `json:"request"`
	// BaselineMW is the mean power in the hour before the window, TargetMW
	// the baseline less the requested shed.
	BaselineMW float64 `json:"baseline_mw"`
	TargetMW   float64 `json:"target_mw"`
	// Complied is when the site's power went to the target and stayed
	// there to the window's end (nil: never); TimeToComply is from the
	// window's start.
	Complied     *time.Time    `json:"complied,omitempty"`
	TimeToComply time.Duration `json:"time_to_comply_ns"`
	Met          bool          `json:"met"`
	// DuringMW is the mean power from compliance to the window's end.
	DuringMW float64      `json:"during_mw"`
	Points   []PowerPoint `json:"points"`
}

// Report builds the report of request r from the kept and live buckets.
func (c Curtailment) Report(ctx context.Context, l *redisstore.EnergyLedger, sites *Sites, bucket time.Duration) (CurtailReport, error) {
	rep := CurtailReport{Request: c}
	from := c.From.Add(-Before)
	kept, err := l.KeptBuckets(ctx, c.ID)
	if err != nil {
		return rep, err
	}
	live, err := l.Buckets(ctx, from.UnixMilli(), c.To.UnixMilli(), bucket.Milliseconds())
	if err != nil {
		return rep, err
	}
	secs := bucket.Seconds()
	var before float64
	nBefore := 0
	for t := from; t.Before(c.To); t = t.Add(bucket) {
		ms := t.UnixMilli()
		units := live[ms]
		if units == nil {
			units = kept[ms]
		}
		var watts float64
		for unit, work := range units {
			if SiteOf(unit) != c.Site {
				continue
			}
			j, o, ok := sites.Efficiency(unit)
			if !ok {
				continue
			}
			watts += KWh(work, j, o) * JoulesPerKWh / secs
		}
		p := PowerPoint{Start: t.UTC(), MW: watts / 1e6, Phase: "during"}
		if t.Before(c.From) {
			p.Phase = "before"
			before += p.MW
			nBefore++
		}
		rep.Points = append(rep.Points, p)
	}
	if nBefore > 0 {
		rep.BaselineMW = before / float64(nBefore)
	}
	rep.TargetMW = rep.BaselineMW - c.ShedMW
	// Compliance: the first bucket from which every bucket to the end is
	// at or below the target.
	idx := -1
	for i := len(rep.Points) - 1; i >= 0 && rep.Points[i].Phase == "during"; i-- {
		if rep.Points[i].MW > rep.TargetMW {
			break
		}
		idx = i
	}
	if idx >= 0 {
		at := rep.Points[idx].Start
		rep.Complied = &at
		rep.TimeToComply = at.Sub(c.From)
		rep.Met = rep.TargetMW >= 0
		var sum float64
		for _, p := range rep.Points[idx:] {
			sum += p.MW
		}
		rep.DuringMW = sum / float64(len(rep.Points)-idx)
	}
	return rep, nil
}

// WriteCurtailReport writes rep as "table" or "json".
func WriteCurtailReport(w io.Writer, rep CurtailReport, format string) error {
	switch format {
	case "json":
		return json.NewEncoder(w).Encode(rep)
	case "table", "":
		r := rep.Request
		fmt.Fprintf(w, "curtailment %d: site %s, shed %v MW, %s to %s\n", r.ID, r.Site, r.ShedMW, r.From.Format(time.RFC3339), r.To.Format(time.RFC3339))
		fmt.Fprintf(w, "  baseline %.6g MW (hour before), target %.6g MW\n", rep.BaselineMW, rep.TargetMW)
		if rep.Complied != nil {
			fmt.Fprintf(w, "  complied at %s, %v after the start; mean %.6g MW to the end; target met: %v\n",
				rep.Complied.Format(time.RFC3339), rep.TimeToComply, rep.DuringMW, rep.Met)
		} else {
			fmt.Fprintf(w, "  did not comply: power stayed above the target; target met: false\n")
		}
		for _, p := range rep.Points {
			fmt.Fprintf(w, "  %s %-6s %.6g MW\n", p.Start.Format(time.RFC3339), p.Phase, p.MW)
		}
		return nil
	}
	return fmt.Errorf("energy: --format %q: want table or json", format)
}
