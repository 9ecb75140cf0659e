package loadgen

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"time"
)

// ReportVersion is the JSON format version; Merge refuses other versions.
const ReportVersion = 1

// Report is what a run measured. Its JSON form is what --json prints and
// --combine reads; Merge combines reports of processes that ran at the same
// time against the same pool(s).
type Report struct {
	Version   int    `json:"version"`
	Pool      string `json:"pool"`
	Processes int    `json:"processes"`
	// Started is the wall-clock start (Unix ns); Seconds the run's length
	// up to the stop (without the drain).
	Started int64   `json:"started_unix_ns"`
	Seconds float64 `json:"seconds"`
	// Miners is how many miners were asked for; Rate the shares/s each.
	Miners int     `json:"miners"`
	Rate   float64 `json:"rate_per_miner"`

	Connections Connections `json:"connections"`
	Shares      Shares      `json:"shares"`
	// Latency is the submit-to-reply time of every answered submit.
	Latency HistData `json:"latency"`
	// Handshake is the time from dialing to the first notify.
	Handshake HistData `json:"handshake"`
	Fanout    Fanout   `json:"fanout"`
	// PoolRSS holds the pool's resident memory, one sample per pool pid.
	PoolRSS []RSSSample `json:"pool_rss,omitempty"`
}

// Connections counts the handshake stages.
type Connections struct {
	Attempted  uint64 `json:"attempted"`
	Connected  uint64 `json:"connected"`
	Subscribed uint64 `json:"subscribed"`
	Authorized uint64 `json:"authorized"`
	// WithWork is the miners that received a first notify.
	WithWork uint64 `json:"with_work"`
	// LiveAtEnd is the connections still open when the run stopped.
	LiveAtEnd int `json:"live_at_end"`
	// AuthFailed counts refused authorizations, HandshakeFailed
	// connections that closed or timed out before getting work.
	AuthFailed      uint64 `json:"auth_failed"`
	HandshakeFailed uint64 `json:"handshake_failed"`
	// Disconnected counts connections the pool closed during the run.
	Disconnected uint64 `json:"disconnected"`
	Reconnects   uint64 `json:"client_reconnects"`
	// DialErrors counts failed dials by class (refused, timeout,
	// no-source-port, too-many-open-files, reset, other).
	DialErrors map[string]uint64 `json:"dial_errors,omitempty"`
	// Sources counts the connected miners per source address.
	Sources map[string]int `json:"sources,omitempty"`
	// BadLines counts lines from the pool that were not JSON or not
	// understood.
	BadLines uint64 `json:"bad_lines,omitempty"`
}

// Shares counts submits and their outcomes.
type Shares struct {
	Submitted uint64 `json:"submitted"`
	Accepted  uint64 `json:"accepted"`
	Rejected  uint64 `json:"rejected"`
	// RejectsByCode counts rejections by Stratum error code ("0" for a
	// false result without an error).
	RejectsByCode map[string]uint64 `json:"rejects_by_code,omitempty"`
	// Lost counts submits that got no reply (by the end of the drain, or
	// pushed out of a miner's pending table).
	Lost uint64 `json:"lost"`
	// Skipped counts shares not sent because no nonce met the target
	// within the search cap; Behind counts times a submitter could not keep
	// the cadence.
	Skipped uint64 `json:"skipped"`
	Behind  uint64 `json:"behind"`
	Hashes  uint64 `json:"hashes"`
	// Window is the measurement window in seconds: from the last miner's
	// handshake to the stop when Steady, the whole run otherwise. The
	// per-second rates are over it.
	Window      float64 `json:"window_seconds"`
	Steady      bool    `json:"steady"`
	SubmittedPS float64 `json:"submitted_per_s"`
	AcceptedPS  float64 `json:"accepted_per_s"`
	RejectedPS  float64 `json:"rejected_per_s"`
}

// Fanout describes how clean_jobs notifies reached the miners.
type Fanout struct {
	Rounds []Round `json:"rounds,omitempty"`
	// Arrivals holds every miner's notify arrival relative to the first
	// arrival of the same round in the same process.
	Arrivals HistData `json:"arrivals"`
	// DroppedRounds counts rounds past the per-process cap.
	DroppedRounds int `json:"dropped_rounds,omitempty"`
}

// RSSSample is a pool process's resident memory at the start and at the
// end of the run, with the miners connected to it from this run at the end.
type RSSSample struct {
	PID           int    `json:"pid"`
	BaselineBytes uint64 `json:"baseline_bytes"`
	EndBytes      uint64 `json:"end_bytes"`
	Miners        int    `json:"miners"`
}

// report assembles the Report; end is when the run stopped.
func (r *runner) report(end int64, live int) *Report {
	c := &r.c
	rep := &Report{Version: ReportVersion, Pool: r.o.Pool, Processes: 1, Started: r.start.UnixNano(),
		Seconds: float64(end) / 1e9, Miners: r.o.Miners, Rate: max(r.o.Rate, 0)}
	r.mu.Lock()
	rep.Connections = Connections{
		Attempted: c.attempted.Load(), Connected: c.connected.Load(), Subscribed: c.subscribed.Load(),
		Authorized: c.authorized.Load(), WithWork: r.handshake.Snapshot().Count, LiveAtEnd: live,
		AuthFailed: c.authFailed.Load(), HandshakeFailed: c.handshakeFail.Load(),
		Disconnected: c.disconnected.Load(), Reconnects: c.reconnects.Load(),
		DialErrors: maps.Clone(r.dialErrs), Sources: maps.Clone(r.sources), BadLines: c.badLines.Load(),
	}
	rejects := make(map[string]uint64, len(r.rejects))
	for code, n := range r.rejects {
		rejects[strconv.Itoa(code)] = n
	}
	r.mu.Unlock()
	lost := c.lost.Load() + uint64(max(c.pendingTotal.Load(), 0))
	rep.Shares = Shares{Submitted: c.submitted.Load(), Accepted: c.accepted.Load(), Rejected: c.rejected.Load(),
		RejectsByCode: rejects, Lost: lost, Skipped: c.skipped.Load(), Behind: c.behind.Load(), Hashes: c.hashes.Load()}
	from := shareCounts{}
	start := int64(0)
	select {
	case <-r.steadyCh:
		if r.steadyAt < end {
			from, start = r.steady, r.steadyAt
			rep.Shares.Steady = true
		}
	default:
	}
	s := &rep.Shares
	s.Window = float64(end-start) / 1e9
	if s.Window > 0 {
		s.SubmittedPS = float64(s.Submitted-from.submitted) / s.Window
		s.AcceptedPS = float64(s.Accepted-from.accepted) / s.Window
		s.RejectedPS = float64(s.Rejected-from.rejected) / s.Window
	}
	rep.Latency = r.latency.Snapshot()
	rep.Handshake = r.handshake.Snapshot()
	rep.Fanout.Rounds, rep.Fanout.Arrivals = r.fan.snapshot()
	r.fan.mu.Lock()
	rep.Fanout.DroppedRounds = r.fan.dropped
	r.fan.mu.Unlock()
	return rep
}

// Merge combines reports of processes that ran at the same time: counts and
// histograms add, rates add (the processes loaded the pool together), fan-out
// rounds with the same prevhash join (first is the earliest, last the
// latest arrival in any process), and RSS samples of the same pool pid join
// with their miners added.
func Merge(reports ...*Report) (*Report, error) {
	if len(reports) == 0 {
		return nil, fmt.Errorf("merge: no reports")
	}
	out := &Report{Version: ReportVersion}
	rounds := map[string]*Round{}
	rss := map[int]*RSSSample{}
	pools := map[string]bool{}
	for i, r := range reports {
		if r.Version != ReportVersion {
			return nil, fmt.Errorf("merge: report %d has format version %d, want %d", i+1, r.Version, ReportVersion)
		}
		if !pools[r.Pool] {
			pools[r.Pool] = true
			out.Pool = joinNonEmpty(out.Pool, r.Pool)
		}
		out.Processes += max(r.Processes, 1)
		if out.Started == 0 || (r.Started != 0 && r.Started < out.Started) {
			out.Started = r.Started
		}
		out.Seconds = max(out.Seconds, r.Seconds)
		out.Miners += r.Miners
		out.Rate = max(out.Rate, r.Rate)

		a, b := &out.Connections, &r.Connections
		a.Attempted += b.Attempted
		a.Connected += b.Connected
		a.Subscribed += b.Subscribed
		a.Authorized += b.Authorized
		a.WithWork += b.WithWork
		a.LiveAtEnd += b.LiveAtEnd
		a.AuthFailed += b.AuthFailed
		a.HandshakeFailed += b.HandshakeFailed
		a.Disconnected += b.Disconnected
		a.Reconnects += b.Reconnects
		a.BadLines += b.BadLines
		a.DialErrors = addCounts(a.DialErrors, b.DialErrors)
		for ip, n := range b.Sources {
			if a.Sources == nil {
				a.Sources = map[string]int{}
			}
			a.Sources[ip] += n
		}

		s, t := &out.Shares, &r.Shares
		s.Submitted += t.Submitted
		s.Accepted += t.Accepted
		s.Rejected += t.Rejected
		s.RejectsByCode = addCounts(s.RejectsByCode, t.RejectsByCode)
		s.Lost += t.Lost
		s.Skipped += t.Skipped
		s.Behind += t.Behind
		s.Hashes += t.Hashes
		s.Window = max(s.Window, t.Window)
		s.Steady = (i == 0 || s.Steady) && t.Steady
		s.SubmittedPS += t.SubmittedPS
		s.AcceptedPS += t.AcceptedPS
		s.RejectedPS += t.RejectedPS

		out.Latency.Merge(r.Latency)
		out.Handshake.Merge(r.Handshake)
		out.Fanout.Arrivals.Merge(r.Fanout.Arrivals)
		out.Fanout.DroppedRounds += r.Fanout.DroppedRounds
		for _, rd := range r.Fanout.Rounds {
			m, ok := rounds[rd.PrevHash]
			if !ok {
				c := rd
				rounds[rd.PrevHash] = &c
				continue
			}
			m.First = min(m.First, rd.First)
			m.Last = max(m.Last, rd.Last)
			m.Miners += rd.Miners
			if rd.Block != 0 && (m.Block == 0 || rd.Block < m.Block) {
				m.Block = rd.Block
			}
		}
		for _, x := range r.PoolRSS {
			m, ok := rss[x.PID]
			if !ok {
				c := x
				rss[x.PID] = &c
				continue
			}
			m.BaselineBytes = min(m.BaselineBytes, x.BaselineBytes)
			m.EndBytes = max(m.EndBytes, x.EndBytes)
			m.Miners += x.Miners
		}
	}
	for _, rd := range rounds {
		out.Fanout.Rounds = append(out.Fanout.Rounds, *rd)
	}
	slices.SortFunc(out.Fanout.Rounds, func(a, b Round) int { return cmp.Compare(a.First, b.First) })
	for _, pid := range slices.Sorted(maps.Keys(rss)) {
		out.PoolRSS = append(out.PoolRSS, *rss[pid])
	}
	return out, nil
}

// MergeFiles reads the JSON reports in files (as WriteJSON writes them)
// and merges them with Merge.
func MergeFiles(files ...string) (*Report, error) {
	var reps []*Report
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var r Report
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		reps = append(reps, &r)
	}
	return Merge(reps...)
}

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + "," + b
}

func addCounts(dst, src map[string]uint64) map[string]uint64 {
	for k, n := range src {
		if dst == nil {
			dst = map[string]uint64{}
		}
		dst[k] += n
	}
	return dst
}

// FanoutSummary condenses the rounds: how many, the first-to-last spread
// over rounds, and for rounds the tool generated itself, the time from the
// generate call to the first and to the last miner's notify.
type FanoutSummary struct {
	Rounds       int         `json:"rounds"`
	MinMiners    int         `json:"min_miners"`
	MaxMiners    int         `json:"max_miners"`
	Spread       Percentiles `json:"spread"`
	Arrival      Percentiles `json:"arrival"`
	BlockToFirst Percentiles `json:"block_to_first"`
	BlockToLast  Percentiles `json:"block_to_last"`
}

// Summary summarizes the fan-out. Rounds reaching fewer than minMiners
// (for example a block found while miners were still connecting) are left
// out of the spread; pass 0 to keep all.
func (f *Fanout) Summary(minMiners int) FanoutSummary {
	var s FanoutSummary
	var spread, first, last Histogram
	for _, r := range f.Rounds {
		if r.Miners < minMiners {
			continue
		}
		if s.Rounds == 0 || r.Miners < s.MinMiners {
			s.MinMiners = r.Miners
		}
		s.MaxMiners = max(s.MaxMiners, r.Miners)
		s.Rounds++
		spread.Record(r.Spread())
		if r.Block != 0 {
			first.Record(time.Duration(r.First - r.Block))
			last.Record(time.Duration(r.Last - r.Block))
		}
	}
	sp, fi, la := spread.Snapshot(), first.Snapshot(), last.Snapshot()
	s.Spread, s.BlockToFirst, s.BlockToLast = sp.Summary(), fi.Summary(), la.Summary()
	s.Arrival = f.Arrivals.Summary()
	return s
}

// WriteJSON writes the report as indented JSON, the form MergeFiles reads.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(r)
}

// WriteText prints the report for a person.
func (r *Report) WriteText(w io.Writer) error {
	p := &printer{w: w}
	c, s := &r.Connections, &r.Shares
	p.f("pool %s: %d miner(s) over %d process(es), %.1fs, %.3g share/s per miner\n",
		r.Pool, r.Miners, r.Processes, r.Seconds, r.Rate)
	p.f("connections: attempted %d, connected %d, subscribed %d, authorized %d, with work %d, live at end %d\n",
		c.Attempted, c.Connected, c.Subscribed, c.Authorized, c.WithWork, c.LiveAtEnd)
	p.f("  failed: dial %s, authorize %d, handshake %d; disconnected by pool %d; client.reconnect %d\n",
		countsText(c.DialErrors, nil), c.AuthFailed, c.HandshakeFailed, c.Disconnected, c.Reconnects)
	if len(c.Sources) > 0 {
		lo, hi := -1, 0
		for _, n := range c.Sources {
			if lo < 0 || n < lo {
				lo = n
			}
			hi = max(hi, n)
		}
		p.f("  source addresses: %d (%d to %d connections each)\n", len(c.Sources), lo, hi)
	}
	hs := r.Handshake.Summary()
	p.f("  dial to first notify: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", hs.P50, hs.P99, hs.Max)
	window := "whole run"
	if s.Steady {
		window = "after the last handshake"
	}
	p.f("shares: accepted %.1f/s, rejected %.1f/s, submitted %.1f/s (%s, %.1fs)\n",
		s.AcceptedPS, s.RejectedPS, s.SubmittedPS, window, s.Window)
	byCode := ""
	if len(s.RejectsByCode) > 0 {
		byCode = " " + countsText(s.RejectsByCode, codeName)
	}
	p.f("  totals: submitted %d, accepted %d, rejected %d%s, lost %d, skipped %d, behind %d\n",
		s.Submitted, s.Accepted, s.Rejected, byCode, s.Lost, s.Skipped, s.Behind)
	l := r.Latency.Summary()
	p.f("submit latency: p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms (%d replies)\n",
		l.P50, l.P99, l.P999, l.Max, l.Count)
	f := r.Fanout.Summary(0)
	if f.Rounds > 0 {
		p.f("notify fan-out: %d round(s), %d to %d miners each\n", f.Rounds, f.MinMiners, f.MaxMiners)
		p.f("  first to last miner per round: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", f.Spread.P50, f.Spread.P99, f.Spread.Max)
		if full := r.Fanout.Summary(f.MaxMiners); f.MinMiners < f.MaxMiners {
			// Rounds during the connection ramp reach fewer miners and are
			// shorter; the rounds that reached the most are the figure.
			p.f("  first to last, the %d round(s) reaching %d miners: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
				full.Rounds, f.MaxMiners, full.Spread.P50, full.Spread.P99, full.Spread.Max)
		}
		p.f("  per-miner arrival after the first: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", f.Arrival.P50, f.Arrival.P99, f.Arrival.Max)
		if f.BlockToLast.Count > 0 {
			p.f("  generate call to first notify: p50 %.2f ms, max %.2f ms; to last: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d blocks)\n",
				f.BlockToFirst.P50, f.BlockToFirst.Max, f.BlockToLast.P50, f.BlockToLast.P99, f.BlockToLast.Max, f.BlockToLast.Count)
		}
	} else {
		p.f("notify fan-out: no new block during the run\n")
	}
	for _, x := range r.PoolRSS {
		per, marginal := 0.0, 0.0
		if x.Miners > 0 {
			per = float64(x.EndBytes) / float64(x.Miners)
			marginal = (float64(x.EndBytes) - float64(x.BaselineBytes)) / float64(x.Miners)
		}
		p.f("pool pid %d RSS: %.1f MiB at start, %.1f MiB at end with %d miners: %.2f KiB per miner (%.2f KiB above the start)\n",
			x.PID, mib(x.BaselineBytes), mib(x.EndBytes), x.Miners, per/1024, marginal/1024)
	}
	return p.err
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// countsText formats a count map as "{k: n, ...}" in key order, or "0";
// label, when set, expands each key.
func countsText(m map[string]uint64, label func(string) string) string {
	if len(m) == 0 {
		return "0"
	}
	out := "{"
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			out += ", "
		}
		name := k
		if label != nil {
			name = label(k)
		}
		out += name + ": " + strconv.FormatUint(m[k], 10)
	}
	return out + "}"
}

// codeName labels a Stratum error code with its usual meaning.
func codeName(code string) string {
	names := map[string]string{"0": "false", "20": "other", "21": "stale", "22": "duplicate",
		"23": "low-difficulty", "24": "unauthorized", "25": "not-subscribed"}
	if n, ok := names[code]; ok {
		return code + " " + n
	}
	return code
}

// printer writes formatted lines, keeping the first error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, a ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, a...)
	}
}
