package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// now is the clock of every test: the fixtures' times are read from it.
var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// The fixtures are answers in exactly the shapes of docs/api.md.
const (
	accountOne = "bcrt1qminerone"
	accountTwo = "bcrt1qminertwo"

	poolJSON = `{"hashrate": {"10m": 1234000000000000, "1h": 1.2e15, "24h": 999600000000000},
 "miners_online": 412, "workers_online": 1234,
 "shares": {"accepted": 123456, "rejected": 789},
 "network": {"height": 850123, "difficulty": 83148355189239.77},
 "last_block": {"height": 850100, "hash": "00000000000000000002a7c4c1e48d76c5a37902165a270156b7a8d72728a054",
  "finder": "bcrt1qminerone.rig1", "account": "bcrt1qminerone", "reward": 312500000, "status": "confirmed",
  "confirmations": 24, "time": "2025-06-01T09:00:00Z"},
 "nodes": 3}`

	poolNoBlockJSON = `{"hashrate": {"10m": 0, "1h": 0, "24h": 0}, "miners_online": 0, "workers_online": 0,
 "shares": {"accepted": 0, "rejected": 0}, "network": {"height": 0, "difficulty": 4.656542373906925e-10},
 "last_block": null, "nodes": 1}`

	blocksJSON = `{"blocks": [
 {"height": 850100, "hash": "00000000000000000002a7c4c1e48d76c5a37902165a270156b7a8d72728a054", "finder": "bcrt1qminerone.rig1",
  "account": "bcrt1qminerone", "reward": 312500000, "status": "confirmed", "confirmations": 24, "time": "2025-06-01T09:00:00Z"},
 {"height": 849990, "hash": "000000000000000000013b1e3f0b5c2d1a4e6f708192a3b4c5d6e7f8091a2b3c", "finder": "bcrt1qminertwo.s9",
  "account": "bcrt1qminertwo", "reward": 312600000, "status": "orphaned", "confirmations": 0, "time": "2025-05-30T12:00:00Z"}]}`

	accountOneJSON = `{"account": "bcrt1qminerone", "hashrate": {"10m": 2.1e14, "1h": 2e14, "24h": 1.9e14},
 "workers": [
  {"name": "rig1", "hashrate": 110000000000000, "last_share": "2025-06-01T11:59:48Z", "difficulty": 65536, "reject_rate": 0.002, "online": true},
  {"name": "rig2", "hashrate": 90000000000000, "last_share": "2025-06-01T11:58:00Z", "difficulty": null, "reject_rate": null, "online": true},
  {"name": "old", "hashrate": 0, "last_share": "2025-05-29T12:00:00Z", "difficulty": null, "reject_rate": null, "online": false}],
 "balance": 12345678, "pending": 100000, "paid": 250000000,
 "payments": [
  {"batch": "b-0002", "txid": "9f2c1a7e3b5d4c6a8e0f1b2d3c4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60", "amount": 150000000, "time": "2025-05-31T12:00:00Z", "state": "paid"},
  {"batch": "b-0001", "txid": "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80", "amount": 100000000, "time": "2025-05-20T12:00:00Z", "state": "paid"}]}`

	accountTwoJSON = `{"account": "bcrt1qminertwo", "hashrate": {"10m": 1.4e13, "1h": 1.4e13, "24h": 1.3e13},
 "workers": [
  {"name": "s9", "hashrate": 14000000000000, "last_share": "2025-06-01T11:59:59Z", "difficulty": 8192, "reject_rate": 0.0125, "online": true}],
 "balance": 0, "pending": 5000, "paid": 0, "payments": []}`

	connectionsJSON = `{"connections": [
 {"id": 7, "workers": ["bcrt1qminerone.rig1"], "address": "203.0.113.7", "agent": "cgminer/4.12.1", "difficulty": 65536,
  "hashrate": 110000000000000, "connected": "2025-06-01T10:00:00Z", "extranonce1": "01000007"},
 {"id": 9, "workers": ["bcrt1qminertwo.s9", "bcrt1qminertwo.s9b"], "address": "198.51.100.20", "agent": "bmminer/2.0.0\u001b[31m",
  "difficulty": 8192, "hashrate": 28000000000000, "connected": "2025-06-01T11:55:00Z", "extranonce1": "01000009"}]}`

	bansJSON = `{"bans": [{"address": "192.0.2.1", "until": "2025-06-01T12:09:00Z"},
 {"address": "2001:db8:1:2::/64", "until": "2025-06-02T12:00:00Z"}]}`

	reloadJSON = `{"applied": ["stratum.difficulty.min", "log.level"], "restart": ["stratum.listen"]}`
)

// seen is one request the fake answered.
type seen struct {
	Method, Path, Query, Auth, Body string
}

// fakeAPI serves the HTTP contract of docs/api.md from the fixtures: its
// routes, its admin token check (401 for a wrong token, 403 when it has
// none), 400 for an unknown query parameter or a bad value (with the
// field), 404 for an unknown account or route, all as JSON errors. It
// records every request.
type fakeAPI struct {
	token string // "" disables the admin routes (403)
	srv   *httptest.Server

	mu   sync.Mutex
	seen []seen
	// answer, when set, replaces every answer (a Redis outage, a proxy's
	// page): status and body.
	answer func(w http.ResponseWriter, r *http.Request)
}

func newFake(t *testing.T, token string) *fakeAPI {
	t.Helper()
	f := &fakeAPI{token: token}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/pool", f.public(nil, func(r *http.Request) (int, string) { return 200, poolJSON }))
	mux.HandleFunc("GET /api/v1/blocks", f.public([]string{"limit"}, func(r *http.Request) (int, string) {
		if v := r.URL.Query().Get("limit"); v != "" {
			if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 1000 {
				return 400, errorJSON(fmt.Sprintf("limit: must be 1..1000 (got %s)", v), "limit")
			}
		}
		return 200, blocksJSON
	}))
	mux.HandleFunc("GET /api/v1/accounts/{address}", f.public(nil, func(r *http.Request) (int, string) {
		switch a := r.PathValue("address"); {
		case a == accountOne:
			return 200, accountOneJSON
		case a == accountTwo:
			return 200, accountTwoJSON
		case !strings.HasPrefix(a, "bcrt1q"):
			return 400, errorJSON(fmt.Sprintf("address: %q is not a regtest address", a), "address")
		}
		return 404, `{"error": "account: no shares and no ledger entry", "field": "address"}`
	}))
	mux.HandleFunc("GET /api/v1/admin/connections", f.admin([]string{"account", "limit"}, func(r *http.Request) (int, string) {
		if a := r.URL.Query().Get("account"); a != "" && !strings.HasPrefix(a, "bcrt1q") {
			return 400, errorJSON(fmt.Sprintf("account: %q is not a regtest address", a), "account")
		}
		return 200, connectionsJSON
	}))
	mux.HandleFunc("POST /api/v1/admin/kick", f.admin(nil, func(r *http.Request) (int, string) {
		var b struct{ Worker, Address string }
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil || (b.Worker == "") == (b.Address == "") {
			return 400, `{"error": "want worker or address", "field": "worker"}`
		}
		return 200, `{"kicked": 2}`
	}))
	mux.HandleFunc("GET /api/v1/admin/bans", f.admin(nil, func(r *http.Request) (int, string) { return 200, bansJSON }))
	mux.HandleFunc("POST /api/v1/admin/bans", f.admin(nil, func(r *http.Request) (int, string) {
		var b struct{ Address, Duration string }
		_ = json.NewDecoder(r.Body).Decode(&b)
		d, err := time.ParseDuration(b.Duration)
		if err != nil {
			return 400, `{"error": "duration: not a duration", "field": "duration"}`
		}
		return 200, fmt.Sprintf(`{"address": %q, "until": %q}`, b.Address, now.Add(d).Format(time.RFC3339))
	}))
	mux.HandleFunc("DELETE /api/v1/admin/bans/{address}", f.admin(nil, func(r *http.Request) (int, string) {
		a := r.PathValue("address")
		return 200, fmt.Sprintf(`{"unbanned": %t}`, a == "192.0.2.1" || a == "2001:db8:1:2::/64")
	}))
	mux.HandleFunc("POST /api/v1/admin/reload", f.admin(nil, func(r *http.Request) (int, string) { return 200, reloadJSON }))
	mux.HandleFunc("POST /api/v1/admin/difficulty", f.admin(nil, func(r *http.Request) (int, string) {
		var b struct {
			Worker     string
			Difficulty float64
		}
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil || b.Difficulty <= 0 {
			return 400, `{"error": "difficulty: must be > 0", "field": "difficulty"}`
		}
		if b.Worker == "bcrt1qminerone.gone" {
			return 200, `{"sessions": 0}`
		}
		return 200, `{"sessions": 1}`
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 404, `{"error": "no route `+r.Method+` `+r.URL.Path+`"}`)
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		f.mu.Lock()
		f.seen = append(f.seen, seen{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
			Auth: r.Header.Get("Authorization"), Body: string(body)})
		answer := f.answer
		f.mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// public is a read-only route: it refuses query parameters not in params.
func (f *fakeAPI) public(params []string, h func(*http.Request) (int, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k := range r.URL.Query() {
			if !slices.Contains(params, k) {
				reply(w, 400, errorJSON(k+": unknown parameter", k))
				return
			}
		}
		status, body := h(r)
		reply(w, status, body)
	}
}

// admin is an admin route: the token first, then as public.
func (f *fakeAPI) admin(params []string, h func(*http.Request) (int, string)) http.HandlerFunc {
	inner := f.public(params, h)
	return func(w http.ResponseWriter, r *http.Request) {
		switch {
		case f.token == "":
			reply(w, 403, `{"error": "admin routes are disabled: set api.token_file or TARBELA_API_TOKEN"}`)
		case r.Header.Get("Authorization") != "Bearer "+f.token:
			reply(w, 401, `{"error": "missing or wrong bearer token"}`)
		default:
			inner(w, r)
		}
	}
}

// errorJSON is the API's error body.
func errorJSON(msg, field string) string {
	b, _ := json.Marshal(map[string]string{"error": msg, "field": field})
	return string(b)
}

func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// requests returns what the fake has answered so far.
func (f *fakeAPI) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.seen...)
}

// run runs tarbelactl against the fake with the global options of o (its
// URL set to the fake's) and returns the exit code and what it printed.
func (f *fakeAPI) run(o Options, args ...string) (code int, stdout, stderr string) {
	if o.URL == "" {
		o.URL = f.srv.URL
	}
	if o.Timeout == 0 {
		o.Timeout = time.Minute
	}
	var out, errOut strings.Builder
	code = Run(context.Background(), o, args, Env{Stdout: &out, Stderr: &errOut, Now: func() time.Time { return now }})
	return code, out.String(), errOut.String()
}
