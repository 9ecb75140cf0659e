package metrics

import (
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tarbela-pool/tarbela/share"
)

// Metrics holds the registry and the collectors the daemon updates.
type Metrics struct {
	Registry *prometheus.Registry
	shares   *prometheus.CounterVec
	blocks   *prometheus.CounterVec
	// accepted caches the accepted-share counter (the hot path).
	accepted prometheus.Counter
	rejected [32]prometheus.Counter
	// rejectedBy counts rejections by reason, for RejectedByReason.
	rejectedBy [32]atomic.Uint64
	rate       *Rate
	// Totals for status lines, without a scrape.
	nAccepted, nRejected, nBlocks, nBlocksAccepted atomic.Uint64

	storeOnce sync.Once
	store     *StoreObserver
	backlog   atomic.Pointer[func() float64]
}

// New registers the collectors. connections reports the number of open
// miner connections at scrape time.
func New(connections func() int) *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry(), rate: NewRate(5*time.Minute, 10*time.Second)}
	m.shares = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tarbela_shares_total", Help: "Shares judged, by result (accepted, rejected) and reason.",
	}, []string{"result", "reason"})
	m.blocks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tarbela_blocks_total", Help: "Blocks found, by result (submitted, accepted, rejected).",
	}, []string{"result"})
	m.Registry.MustRegister(m.shares, m.blocks,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tarbela_connections", Help: "Open miner connections.",
		}, func() float64 { return float64(connections()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tarbela_hashrate_estimate", Help: "Pool hashrate in hashes per second, estimated from accepted share difficulty over the last 5 minutes.",
		}, m.Hashrate),
	)
	m.accepted = m.shares.WithLabelValues("accepted", share.ReasonNone.String())
	for _, r := range share.Reasons() {
		m.rejected[r] = m.shares.WithLabelValues("rejected", r.String())
	}
	for _, s := range []share.BlockStatus{share.BlockSubmitted, share.BlockAccepted, share.BlockRejected} {
		m.blocks.WithLabelValues(string(s))
	}
	return m
}

// ShareJudged implements share.Observer.
func (m *Metrics) ShareJudged(r share.Reason, difficulty float64) {
	if r == share.ReasonNone {
		m.nAccepted.Add(1)
		m.accepted.Inc()
		m.rate.Add(time.Now(), difficulty)
		return
	}
	m.nRejected.Add(1)
	if int(r) < len(m.rejected) && m.rejected[r] != nil {
		m.rejected[r].Inc()
		m.rejectedBy[r].Add(1)
	}
}

// BlockJudged implements share.Observer.
func (m *Metrics) BlockJudged(s share.BlockStatus) {
	switch s {
	case share.BlockSubmitted:
		m.nBlocks.Add(1)
	case share.BlockAccepted:
		m.nBlocksAccepted.Add(1)
	}
	m.blocks.WithLabelValues(string(s)).Inc()
}

// Totals are the counts since start, for status lines.
type Totals struct {
	Accepted, Rejected, BlocksSubmitted, BlocksAccepted uint64
}

// Totals returns the counts since start.
func (m *Metrics) Totals() Totals {
	return Totals{m.nAccepted.Load(), m.nRejected.Load(), m.nBlocks.Load(), m.nBlocksAccepted.Load()}
}

// RejectedByReason returns the rejected shares since start by reason name
// (share.Reason's String), the reasons with none left out.
func (m *Metrics) RejectedByReason() map[string]uint64 {
	out := map[string]uint64{}
	for _, r := range share.Reasons() {
		if int(r) < len(m.rejectedBy) {
			if n := m.rejectedBy[r].Load(); n > 0 {
				out[r.String()] = n
			}
		}
	}
	return out
}

// Hashrate is the estimated pool hashrate in H/s: accepted difficulty ×
// 2^32 per second over the window.
func (m *Metrics) Hashrate() float64 { return m.rate.PerSecond(time.Now()) * math.Exp2(32) }

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// Rate sums values in time buckets over a sliding window.
type Rate struct {
	mu      sync.Mutex
	bucket  time.Duration
	sums    []float64
	stamps  []int64
	started time.Time
}

// NewRate returns a Rate over window with buckets of the given width.
func NewRate(window, bucket time.Duration) *Rate {
	n := int(window / bucket)
	return &Rate{bucket: bucket, sums: make([]float64, n), stamps: make([]int64, n), started: time.Now()}
}

// Add adds v at time now.
func (r *Rate) Add(now time.Time, v float64) {
	slot := now.UnixNano() / int64(r.bucket)
	i := int(slot % int64(len(r.sums)))
	r.mu.Lock()
	if r.stamps[i] != slot {
		r.stamps[i], r.sums[i] = slot, 0
	}
	r.sums[i] += v
	r.mu.Unlock()
}

// PerSecond returns the sum over the window divided by the window (or by
// the time since the Rate was created, when that is shorter).
func (r *Rate) PerSecond(now time.Time) float64 {
	slot := now.UnixNano() / int64(r.bucket)
	oldest := slot - int64(len(r.sums)) + 1
	var sum float64
	r.mu.Lock()
	for i, s := range r.stamps {
		if s >= oldest && s <= slot {
			sum += r.sums[i]
		}
	}
	r.mu.Unlock()
	span := time.Duration(len(r.sums)) * r.bucket
	if age := now.Sub(r.started); age < span {
		span = max(age, r.bucket)
	}
	return sum / span.Seconds()
}

// Guard is what the Stratum server reports about refused and banned
// connections (stratum.Server satisfies it).
type Guard interface {
	Refused() (limit, banned uint64)
	Floods() (disconnects, bans uint64)
	Banned() int
	AcceptErrors() uint64
}

// RegisterGuard exports the server's connection refusals, flood
// disconnects and bans.
func (m *Metrics) RegisterGuard(g Guard) {
	refused := func(banned bool) func() float64 {
		return func() float64 {
			l, b := g.Refused()
			if banned {
				return float64(b)
			}
			return float64(l)
		}
	}
	floods := func(bans bool) func() float64 {
		return func() float64 {
			d, b := g.Floods()
			if bans {
				return float64(b)
			}
			return float64(d)
		}
	}
	m.Registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tarbela_connections_refused_total",
			Help: "Connections closed on arrival because a connection limit was reached.", ConstLabels: prometheus.Labels{"reason": "limit"}}, refused(false)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tarbela_connections_refused_total",
			Help: "Connections closed on arrival because a connection limit was reached.", ConstLabels: prometheus.Labels{"reason": "banned"}}, refused(true)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tarbela_flood_disconnects_total",
			Help: "Connections dropped for flooding invalid or duplicate shares."}, floods(false)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tarbela_bans_total",
			Help: "Addresses (IPv6: prefixes of stratum.ipv6_prefix bits) banned for a share flood."}, floods(true)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tarbela_banned_addresses",
			Help: "Addresses (IPv6: prefixes) banned right now."}, func() float64 { return float64(g.Banned()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tarbela_accept_errors_total",
			Help: "Failed accepts on the Stratum listener (e.g. EMFILE: out of file descriptors); each one backs the accept loop off."},
			func() float64 { return float64(g.AcceptErrors()) }),
	)
}
