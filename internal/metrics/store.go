package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// StoreObserver receives the share store's events (it satisfies
// redisstore.Observer) and exports them.
type StoreObserver struct {
	recorded  prometheus.Counter
	journaled prometheus.Counter
	refused   prometheus.Counter
	errors    prometheus.Counter
	latency   prometheus.Histogram
}

// StoreObserver returns the observer for the share store, registering its
// collectors on first use.
func (m *Metrics) StoreObserver() *StoreObserver {
	m.storeOnce.Do(func() {
		o := &StoreObserver{
			recorded: prometheus.NewCounter(prometheus.CounterOpts{Name: "tarbela_shares_recorded_total",
				Help: "Shares confirmed in Redis (written directly or replayed from the journal); equals accepted shares once the journal is drained."}),
			journaled: prometheus.NewCounter(prometheus.CounterOpts{Name: "tarbela_shares_journaled_total",
				Help: "Shares written to the local journal while Redis was unreachable or slow."}),
			refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "tarbela_shares_refused_total",
				Help: "Shares the store could not queue (backlog full)."}),
			errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "tarbela_redis_errors_total",
				Help: "Failed Redis round trips."}),
			latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tarbela_store_batch_seconds",
				Help: "Time from a share batch being sealed to Redis confirming it.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		}
		m.Registry.MustRegister(o.recorded, o.journaled, o.refused, o.errors, o.latency,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tarbela_journal_backlog",
				Help: "Shares waiting for Redis: queued in memory plus held in the journal."}, func() float64 {
				if f := m.backlog.Load(); f != nil {
					return (*f)()
				}
				return 0
			}))
		m.store = o
	})
	return m.store
}

// SetBacklog sets the function tarbela_journal_backlog reads.
func (m *Metrics) SetBacklog(f func() float64) { m.backlog.Store(&f) }

// Recorded implements redisstore.Observer.
func (o *StoreObserver) Recorded(shares int, latency time.Duration) {
	o.recorded.Add(float64(shares))
	o.latency.Observe(latency.Seconds())
}

// RedisError implements redisstore.Observer.
func (o *StoreObserver) RedisError(error) { o.errors.Inc() }

// Journaled implements redisstore.Observer.
func (o *StoreObserver) Journaled(shares int) { o.journaled.Add(float64(shares)) }

// Refused implements redisstore.Observer.
func (o *StoreObserver) Refused(error) { o.refused.Inc() }
