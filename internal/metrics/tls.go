package metrics

import "github.com/prometheus/client_golang/prometheus"

// TLS is what the Stratum server reports about its TLS listener
// (stratum.Server satisfies it).
type TLS interface {
	TLSConnections() int
	TLSHandshakeFailures() uint64
}

// RegisterTLS exports the TLS listener's open connections (a part of
// tarbela_connections) and failed handshakes. Both read 0 when the pool
// has no TLS listener.
func (m *Metrics) RegisterTLS(t TLS) {
	m.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tarbela_tls_connections",
			Help: "Open miner connections that came through the TLS listener (also counted in tarbela_connections)."},
			func() float64 { return float64(t.TLSConnections()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tarbela_tls_handshake_failures_total",
			Help: "TLS handshakes on the TLS listener that failed: timed out (stratum.handshake_timeout), refused, or ended by the client."},
			func() float64 { return float64(t.TLSHandshakeFailures()) }),
	)
}
