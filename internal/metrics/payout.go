package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Ledger is what the payout series read, at each scrape: the ledger's sums
// and its batches by state (share/redisstore's Ledger through a small
// adapter in the daemon, so this package needs no Redis).
type Ledger interface {
	PayoutTotals(ctx context.Context) (PayoutTotals, error)
}

// PayoutTotals are the payout ledger's sums in satoshis and its batches by
// state.
type PayoutTotals struct {
	Balances, Pending, Paid, Credited, Fee, Reserve int64
	Batches                                         map[string]int
}

// BatchStates are the batch states exported (as the state label), so that
// a state with no batch reads 0 rather than missing.
var BatchStates = []string{"planned", "psbt", "signed", "broadcast", "paid", "cancelled", "failed"}

// payoutCollector reads the ledger at each scrape: pool-wide figures from
// Redis, the same on every node.
type payoutCollector struct {
	l                                       Ledger
	bal, pending, paid, credited, fee, resv *prometheus.Desc
	batches, up                             *prometheus.Desc
}

// RegisterLedger adds the payout series: tarbela_payout_{balances,pending,
// paid,credited,fee,reserve}_satoshis, tarbela_payout_batches{state} and
// tarbela_payout_ledger_up (0 when Redis did not answer the scrape).
func (m *Metrics) RegisterLedger(l Ledger) {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("tarbela_payout_"+name, help, labels, nil)
	}
	m.Registry.MustRegister(&payoutCollector{l: l,
		bal:      d("balances_satoshis", "Satoshis credited to accounts and not yet in a batch."),
		pending:  d("pending_satoshis", "Satoshis in batches not yet confirmed."),
		paid:     d("paid_satoshis", "Satoshis paid by confirmed batches."),
		credited: d("credited_satoshis", "Satoshis ever credited; equals balances + pending + paid."),
		fee:      d("fee_satoshis", "The pool's cut of the credited blocks."),
		resv:     d("reserve_satoshis", "PPS/FPPS variance reserve: matured rewards minus PPS credits."),
		batches:  d("batches", "Payout batches by state.", "state"),
		up:       d("ledger_up", "1 when the last scrape read the payout ledger."),
	})
}

func (c *payoutCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.bal, c.pending, c.paid, c.credited, c.fee, c.resv, c.batches, c.up} {
		ch <- d
	}
}

func (c *payoutCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	t, err := c.l.PayoutTotals(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for _, g := range []struct {
		d *prometheus.Desc
		v int64
	}{{c.bal, t.Balances}, {c.pending, t.Pending}, {c.paid, t.Paid}, {c.credited, t.Credited}, {c.fee, t.Fee}, {c.resv, t.Reserve}} {
		ch <- prometheus.MustNewConstMetric(g.d, prometheus.GaugeValue, float64(g.v))
	}
	for _, s := range BatchStates {
		ch <- prometheus.MustNewConstMetric(c.batches, prometheus.GaugeValue, float64(t.Batches[s]), s)
	}
}
