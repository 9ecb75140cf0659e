package metrics

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

type fakeLedger struct {
	t   PayoutTotals
	err error
}

func (f fakeLedger) PayoutTotals(context.Context) (PayoutTotals, error) { return f.t, f.err }

// TestPayoutSeries: the payout series read the ledger at each scrape; a
// ledger that does not answer gives tarbela_payout_ledger_up 0 and no stale
// figures.
func TestPayoutSeries(t *testing.T) {
	scrape := func(l Ledger) string {
		m := New(func() int { return 0 })
		m.RegisterLedger(l)
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		b, _ := io.ReadAll(rec.Body)
		return string(b)
	}
	out := scrape(fakeLedger{t: PayoutTotals{Balances: 5, Pending: 7, Paid: 11, Credited: 23, Fee: 2, Reserve: -3,
		Batches: map[string]int{"paid": 4, "failed": 1}}})
	for _, want := range []string{
		"tarbela_payout_balances_satoshis 5", "tarbela_payout_pending_satoshis 7", "tarbela_payout_paid_satoshis 11",
		"tarbela_payout_credited_satoshis 23", "tarbela_payout_fee_satoshis 2", "tarbela_payout_reserve_satoshis -3",
		`tarbela_payout_batches{state="paid"} 4`, `tarbela_payout_batches{state="failed"} 1`,
		`tarbela_payout_batches{state="signed"} 0`, "tarbela_payout_ledger_up 1",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("scrape lacks %q", want)
		}
	}
	out = scrape(fakeLedger{err: errors.New("redis down")})
	if !strings.Contains(out, "tarbela_payout_ledger_up 0\n") || strings.Contains(out, "tarbela_payout_paid_satoshis") {
		t.Errorf("scrape with the ledger down:\n%s", out)
	}
}
