package energy

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// Row is one site-hour of the report.
type Row struct {
	Hour     time.Time `json:"hour"`
	Site     string    `json:"site"`
	Work     float64   `json:"work"`
	TH       float64   `json:"th"`      // terahashes: work × 2^32 / 10^12
	AvgTHs   float64   `json:"avg_ths"` // TH / 3600 s
	Accepted int64     `json:"accepted"`
	Rejected int64     `json:"rejected"`
	Workers  int64     `json:"workers"`
	Estimate Estimate  `json:"kwh"`
	// MeteredKWh is the site's meter for the hour (nil: no reading).
	MeteredKWh *float64 `json:"metered_kwh,omitempty"`
	// LateWork is work of shares that arrived after the hour closed.
	LateWork float64  `json:"late_work,omitempty"`
	Flags    []string `json:"flags"`
	Blocks   int      `json:"blocks"`
	// BTCFound is the coinbase value of the blocks the site found in the
	// hour that the node did not reject, in BTC.
	BTCFound float64 `json:"btc_found"`
	// BTCEarned is what the site earned in the hour, in BTC: under
	// PPS/FPPS its shares' worth (sealed in the record, late shares
	// added); under PPLNS, PROP and SOLO its part of each block found in
	// the hour (by any site) that the payout run credited, as CreditBlock
	// stored it (en:earn:<hash>; not signed). Flag earn_pending: a block
	// found in the hour is not credited yet, so more may come.
	BTCEarned float64 `json:"btc_earned"`
	pps       float64 // satoshis, from the records or the live hour
	// Record is the sealed record of a closed hour, verbatim: what
	// `tarbela energy verify` checks.
	Record json.RawMessage `json:"record,omitempty"`
}

// Flags a report row may carry.
const (
	FlagOpen       = "open"          // the hour is not closed yet: figures may change
	FlagLate       = "late"          // shares arrived after close (LateWork)
	FlagMeterOver  = "meter_over"    // meter above the estimate's interval + tolerance: power not explained by mining
	FlagMeterUnder = "meter_under"   // meter below it: hashrate the meter cannot have powered
	FlagPartial    = "meter_partial" // readings cover only part of the hour: not compared
	FlagNoEff      = "no_efficiency" // no configured efficiency (unassigned or removed site)
	FlagEarnPend   = "earn_pending"  // a block found in the hour awaits its credit: btc_earned may grow
)

// Reporter builds reports from Redis.
type Reporter struct {
	Ledger *redisstore.EnergyLedger
	Reader *redisstore.Reader
	Sites  *Sites
	// Scheme is payout.scheme: under pps and fpps blocks earn the sites
	// nothing (their shares did, as they came), so no row waits for one.
	Scheme string
}

// Report returns the rows of [from, to) (whole hours), for one site when
// site is set, ordered by hour then site.
func (p *Reporter) Report(ctx context.Context, from, to time.Time, site string) ([]Row, error) {
	from = from.Truncate(time.Hour)
	lines, err := p.Ledger.Chain(ctx, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, err
	}
	type key struct {
		hour int64
		site string
	}
	rows := map[key]*Row{}
	for _, l := range lines {
		var r Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			return nil, fmt.Errorf("energy: chain record: %w", err)
		}
		if site != "" && r.Site != site {
			continue
		}
		h, err := time.Parse(time.RFC3339, r.Hour)
		if err != nil {
			return nil, fmt.Errorf("energy: chain record %d: hour %q: %w", r.Seq, r.Hour, err)
		}
		k := key{h.UnixMilli(), r.Site}
		if r.Kind == "late" {
			row := rows[k]
			if row == nil {
				row = &Row{Hour: h.UTC(), Site: r.Site}
				rows[k] = row
			}
			row.LateWork += r.Work
			row.pps += r.PPSWorth
			continue
		}
		row := rows[k]
		if row == nil {
			row = &Row{Hour: h.UTC(), Site: r.Site}
			rows[k] = row
		}
		row.Work, row.Accepted, row.Rejected, row.Workers = r.Work, r.Accepted, r.Rejected, r.Workers
		row.Estimate = Estimate{KWh: r.KWh, Low: r.KWhLow, High: r.KWhHigh}
		row.Record = json.RawMessage(l)
		row.pps += r.PPSWorth
		for _, u := range r.Units {
			if u.JPerTH == 0 {
				row.Flags = append(row.Flags, FlagNoEff)
				break
			}
		}
	}
	// Hours not closed yet: live figures.
	closed, err := p.Ledger.ClosedMark(ctx)
	if err != nil {
		return nil, err
	}
	for h := from; h.Before(to); h = h.Add(time.Hour) {
		if h.UnixMilli() <= closed {
			continue
		}
		f, err := p.Ledger.Hour(ctx, h.UnixMilli())
		if err != nil {
			return nil, err
		}
		c := Closer{Sites: p.Sites}
		for _, r := range c.Records(f, false) {
			if site != "" && r.Site != site {
				continue
			}
			if len(f.Units) == 0 && r.Work == 0 {
				continue
			}
			rows[key{h.UnixMilli(), r.Site}] = &Row{Hour: h.UTC(), Site: r.Site, Work: r.Work, Accepted: r.Accepted,
				Rejected: r.Rejected, Workers: -1, Estimate: Estimate{r.KWh, r.KWhLow, r.KWhHigh}, Flags: []string{FlagOpen},
				pps: r.PPSWorth}
		}
	}
	meters := map[string]map[int64]redisstore.MeterHour{}
	var blocks []redisstore.Block
	if p.Reader != nil {
		blocks, err = p.Reader.Blocks(ctx, 100000)
		if err != nil {
			return nil, err
		}
	}
	earned, pending, err := p.blockEarnings(ctx, blocks, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]Row, 0, len(rows))
	for k, row := range rows {
		row.BTCEarned = (row.pps + float64(earned[k.hour][k.site])) / 1e8
		if pending[k.hour] {
			row.Flags = append(row.Flags, FlagEarnPend)
		}
		row.TH = row.Work * HashesPerDifficulty / 1e12
		row.AvgTHs = row.TH / 3600
		if row.LateWork > 0 {
			row.Flags = append(row.Flags, FlagLate)
		}
		m, ok := meters[k.site]
		if !ok {
			m, err = p.Ledger.Meter(ctx, k.site)
			if err != nil {
				return nil, err
			}
			meters[k.site] = m
		}
		if mh, ok := m[k.hour]; ok {
			v := mh.KWh
			row.MeteredKWh = &v
			tol := 0.0
			if s, ok := p.Sites.Site(k.site); ok {
				tol = s.MeterTolerance
			}
			switch {
			case mh.Covered < 3600:
				row.Flags = append(row.Flags, FlagPartial)
			case v > row.Estimate.High*(1+tol):
				row.Flags = append(row.Flags, FlagMeterOver)
			case v < row.Estimate.Low*(1-tol):
				row.Flags = append(row.Flags, FlagMeterUnder)
			}
		}
		for _, b := range blocks {
			if b.Site == k.site && b.Time.Truncate(time.Hour).UnixMilli() == k.hour {
				row.Blocks++
				if b.Status != share.BlockRejected && b.Status != "orphaned" {
					row.BTCFound += float64(b.Reward) / 1e8
				}
			}
		}
		if row.Flags == nil {
			row.Flags = []string{}
		}
		out = append(out, *row)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Hour.Equal(out[j].Hour) {
			return out[i].Hour.Before(out[j].Hour)
		}
		return out[i].Site < out[j].Site
	})
	return out, nil
}

// blockEarnings returns, per hour of [from, to) (ms), what each site
// earned from the blocks found in it (satoshis), and the hours with a
// block not credited yet. A block's earnings belong to the hour it was
// found: it is the event that turns the work it pays for into money, its
// time is known once and for all, and its window or round (which may
// reach back many hours) is split exactly at credit, not per hour.
func (p *Reporter) blockEarnings(ctx context.Context, blocks []redisstore.Block, from, to time.Time) (map[int64]map[string]int64, map[int64]bool, error) {
	earned, pending := map[int64]map[string]int64{}, map[int64]bool{}
	if p.Scheme == "pps" || p.Scheme == "fpps" {
		return earned, pending, nil
	}
	var hashes []string
	hourOf := map[string]int64{}
	for _, b := range blocks {
		if b.Time.Before(from) || !b.Time.Before(to) || b.Status == share.BlockRejected || b.Status == "orphaned" {
			continue
		}
		h := b.Time.Truncate(time.Hour).UnixMilli()
		hourOf[b.Hash] = h
		if b.Status != redisstore.BlockCredited {
			pending[h] = true
			continue
		}
		hashes = append(hashes, b.Hash)
	}
	e, err := p.Ledger.BlockEarnings(ctx, hashes)
	if err != nil {
		return nil, nil, err
	}
	for hash, sites := range e {
		h := hourOf[hash]
		if earned[h] == nil {
			earned[h] = map[string]int64{}
		}
		for s, v := range sites {
			earned[h][s] += v
		}
	}
	return earned, pending, nil
}

// WriteRows writes rows as "table", "csv" or "json" (one row per line,
// each closed row with its sealed record: `tarbela energy verify` checks
// such a file).
func WriteRows(w io.Writer, rows []Row, format string) error {
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
	metered := func(r Row) string {
		if r.MeteredKWh == nil {
			return ""
		}
		return g(*r.MeteredKWh)
	}
	head := []string{"hour", "site", "work", "TH", "avg_TH/s", "accepted", "rejected", "workers", "kWh", "kWh_low", "kWh_high", "metered_kWh", "flags", "blocks", "btc_found", "btc_earned"}
	cells := func(r Row) []string {
		return []string{r.Hour.Format(time.RFC3339), r.Site, g(r.Work), g(r.TH), g(r.AvgTHs), strconv.FormatInt(r.Accepted, 10),
			strconv.FormatInt(r.Rejected, 10), strconv.FormatInt(r.Workers, 10), g(r.Estimate.KWh), g(r.Estimate.Low), g(r.Estimate.High),
			metered(r), strings.Join(r.Flags, " "), strconv.Itoa(r.Blocks), strconv.FormatFloat(r.BTCFound, 'f', 8, 64),
			strconv.FormatFloat(r.BTCEarned, 'f', 8, 64)}
	}
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write(head)
		for _, r := range rows {
			cw.Write(cells(r))
		}
		cw.Flush()
		return cw.Error()
	case "table", "":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(head, "\t"))
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(cells(r), "\t"))
		}
		return tw.Flush()
	}
	return fmt.Errorf("energy: --format %q: want table, csv or json", format)
}
