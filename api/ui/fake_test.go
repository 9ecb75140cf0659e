package ui

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Addresses of the fake pool (mainnet P2WPKH, made for these tests): one
// account with shares, one valid address the pool has never seen.
const (
	fakeAccount  = "bc1qt6q6nc8qzkn7maqxcqnz9pju493gcrue786lw6"
	fakeStranger = "bc1qzmqpuac9gugcqavld6a0wmqf00fj6mrlwv9tg6"
	fakeFinder   = "bc1q6g3e9jhgjgf497hlw4dm3xtyyx3tf7jvcd7nxy"
)

// fakeAPI answers the public routes of docs/api.md from fixed, realistic
// figures, dated from now: a 24 h series of 144 points, two blocks and one
// account with two workers. It checks the query of each call as the API
// does (unknown parameters, limits, the series' window and step), so the
// dashboard is held to the contract.
type fakeAPI struct {
	now time.Time
	mux *http.ServeMux
}

func newFakeAPI() *fakeAPI {
	f := &fakeAPI{now: time.Now().UTC().Truncate(time.Second), mux: http.NewServeMux()}
	f.mux.HandleFunc("GET /api/v1/pool", f.pool)
	f.mux.HandleFunc("GET /api/v1/pool/hashrate", f.series(1.32e18))
	f.mux.HandleFunc("GET /api/v1/blocks", f.blocks)
	f.mux.HandleFunc("GET /api/v1/accounts/{address}", f.account)
	f.mux.HandleFunc("GET /api/v1/accounts/{address}/hashrate", f.accountSeries)
	f.mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "no such route: "+r.URL.Path, "")
	})
	return f
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.mux.ServeHTTP(w, r) }

// dashboardServer serves the dashboard (ui) at / and api at /api/v1/, as
// the API server will.
func dashboardServer(t *testing.T, ui, api http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", api)
	mux.Handle("/", ui)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func apiError(w http.ResponseWriter, status int, msg, field string) {
	body := map[string]string{"error": msg}
	if field != "" {
		body["field"] = field
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// query checks that r has only the parameters named, answering 400 and
// false otherwise.
func query(w http.ResponseWriter, r *http.Request, allowed ...string) bool {
	for k := range r.URL.Query() {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			apiError(w, http.StatusBadRequest, k+": unknown parameter", k)
			return false
		}
	}
	return true
}

func (f *fakeAPI) at(d time.Duration) string { return f.now.Add(-d).Format(time.RFC3339) }

func (f *fakeAPI) pool(w http.ResponseWriter, r *http.Request) {
	if !query(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"hashrate":       map[string]float64{"10m": 1.347e18, "1h": 1.331e18, "24h": 1.262e18},
		"miners_online":  57,
		"workers_online": 6742,
		"shares":         map[string]int{"accepted": 48213977, "rejected": 61204},
		"network":        map[string]any{"height": 871204, "difficulty": 1.1075e14},
		"last_block":     f.blockList()[0],
		"nodes":          3,
	})
}

// series answers a 24 h series at 10 min steps around base H/s: a daily
// swing and, six hours ago, two hours of curtailment at 40 %.
func (f *fakeAPI) series(base float64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !query(w, r, "window", "step") {
			return
		}
		q := r.URL.Query()
		if q.Get("window") != "24h" || q.Get("step") != "10m" {
			apiError(w, http.StatusBadRequest, "the fake API serves window=24h&step=10m only", "window")
			return
		}
		const n = 144
		end := f.now.Truncate(10 * time.Minute)
		points := make([]map[string]any, n)
		for i := range n {
			x := float64(i) / n
			v := base * (1 + 0.06*math.Sin(2*math.Pi*x) + 0.015*math.Sin(37*x))
			if i >= 108 && i < 120 {
				v *= 0.4
			}
			points[i] = map[string]any{"t": end.Add(-time.Duration(n-1-i) * 10 * time.Minute).Format(time.RFC3339), "hashrate": v}
		}
		writeJSON(w, http.StatusOK, map[string]any{"window": "24h", "step": "10m", "points": points})
	}
}

func (f *fakeAPI) blockList() []map[string]any {
	return []map[string]any{
		{"height": 871198, "hash": "00000000000000000001f3a9c2d4e5b6a7980c1d2e3f405162738495a6b7c8d9",
			"finder": fakeFinder + ".container-07", "account": fakeFinder, "reward": 318452114,
			"status": "accepted", "confirmations": 7, "time": f.at(71 * time.Minute)},
		{"height": 870412, "hash": "000000000000000000027be41a9c03d5f6e7a8b9c0d1e2f3a4b5c6d7e8f90a1b",
			"finder": fakeAccount + ".rig01", "account": fakeAccount, "reward": 315906233,
			"status": "paid", "confirmations": 793, "time": f.at(133 * time.Hour)},
	}
}

func (f *fakeAPI) blocks(w http.ResponseWriter, r *http.Request) {
	if !query(w, r, "limit") {
		return
	}
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit < 1 || limit > 1000 {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("limit: must be 1..1000 (got %q)", r.URL.Query().Get("limit")), "limit")
		return
	}
	b := f.blockList()
	writeJSON(w, http.StatusOK, map[string]any{"blocks": b[:min(limit, len(b))]})
}

// known checks the address as the API does: 400 for what is not a
// mainnet address, 404 for one without shares.
func (f *fakeAPI) known(w http.ResponseWriter, r *http.Request) bool {
	a := r.PathValue("address")
	if !strings.HasPrefix(a, "bc1q") || len(a) != 42 {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("address: %q is not an address of the mainnet network", a), "address")
		return false
	}
	if a != fakeAccount {
		apiError(w, http.StatusNotFound, "account "+a+": no shares and no ledger entry", "address")
		return false
	}
	return true
}

func (f *fakeAPI) account(w http.ResponseWriter, r *http.Request) {
	if !query(w, r) || !f.known(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"account":  fakeAccount,
		"hashrate": map[string]float64{"10m": 3.41e14, "1h": 3.27e14, "24h": 3.05e14},
		"workers": []map[string]any{
			{"name": fakeAccount + ".rig01", "hashrate": 2.31e14, "last_share": f.at(40 * time.Second),
				"difficulty": 65536.0, "reject_rate": 0.0042, "online": true},
			{"name": fakeAccount + ".rig02", "hashrate": 9.6e13, "last_share": f.at(3 * time.Minute),
				"difficulty": nil, "reject_rate": nil, "online": true},
		},
		"balance": 1234567,
		"pending": 0,
		"paid":    52345678,
		"payments": []map[string]any{
			{"batch": "20260409-0002", "txid": "9f2c4e1a7b3d5f60718293a4b5c6d7e8f9a0b1c2d3e4f5061728394a5b6c7d8e",
				"amount": 25000000, "time": f.at(30 * time.Hour), "state": "paid"},
			{"batch": "20260402-0001", "txid": "4b1d2e3f40516273849a5b6c7d8e9fa0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6",
				"amount": 27345678, "time": f.at(198 * time.Hour), "state": "paid"},
		},
	})
}

func (f *fakeAPI) accountSeries(w http.ResponseWriter, r *http.Request) {
	if !f.known(w, r) {
		return
	}
	f.series(3.2e14)(w, r)
}
