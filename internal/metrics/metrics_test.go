package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/share"
)

func TestRate(t *testing.T) {
	r := NewRate(time.Minute, 10*time.Second)
	r.started = time.Unix(0, 0)
	base := time.Unix(1000, 0)
	for i := range 6 {
		r.Add(base.Add(time.Duration(i)*10*time.Second), 60)
	}
	now := base.Add(55 * time.Second)
	if got := r.PerSecond(now); got != 6 { // 360 over 60 s
		t.Errorf("rate %v, want 6", got)
	}
	// A minute later every bucket has aged out.
	if got := r.PerSecond(now.Add(2 * time.Minute)); got != 0 {
		t.Errorf("rate after the window %v, want 0", got)
	}
}

func TestExposition(t *testing.T) {
	m := New(func() int { return 3 })
	m.RegisterGuard(guard{})
	m.RegisterTLS(guard{})
	m.ShareJudged(share.ReasonNone, 1)
	m.ShareJudged(share.ReasonDuplicate, 0)
	m.BlockJudged(share.BlockAccepted)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`tarbela_shares_total{reason="accepted",result="accepted"} 1`,
		`tarbela_shares_total{reason="duplicate",result="rejected"} 1`,
		`tarbela_blocks_total{result="accepted"} 1`,
		`tarbela_blocks_total{result="rejected"} 0`,
		`tarbela_connections 3`,
		`tarbela_hashrate_estimate`,
		`tarbela_connections_refused_total{reason="banned"} 2`,
		`tarbela_bans_total 4`,
		`tarbela_banned_addresses 5`,
		`tarbela_accept_errors_total 6`,
		`tarbela_tls_connections 7`,
		`tarbela_tls_handshake_failures_total 8`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

type guard struct{}

func (guard) Refused() (uint64, uint64)    { return 1, 2 }
func (guard) Floods() (uint64, uint64)     { return 3, 4 }
func (guard) Banned() int                  { return 5 }
func (guard) AcceptErrors() uint64         { return 6 }
func (guard) TLSConnections() int          { return 7 }
func (guard) TLSHandshakeFailures() uint64 { return 8 }

// TestRejectedByReason: rejections are counted by reason name, accepted
// shares and reasons without rejections left out.
func TestRejectedByReason(t *testing.T) {
	m := New(func() int { return 0 })
	m.ShareJudged(share.ReasonNone, 1)
	m.ShareJudged(share.ReasonDuplicate, 0)
	m.ShareJudged(share.ReasonDuplicate, 0)
	m.ShareJudged(share.ReasonStale, 0)
	got := m.RejectedByReason()
	want := map[string]uint64{share.ReasonDuplicate.String(): 2, share.ReasonStale.String(): 1}
	if len(got) != len(want) || got[share.ReasonDuplicate.String()] != 2 || got[share.ReasonStale.String()] != 1 {
		t.Errorf("RejectedByReason = %v, want %v", got, want)
	}
	if tot := m.Totals(); tot.Rejected != 3 || tot.Accepted != 1 {
		t.Errorf("Totals = %+v", tot)
	}
}
