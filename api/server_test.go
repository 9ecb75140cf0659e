package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
)

// Addresses of the tests: two of the pool's network (regtest), one of
// another network.
var (
	alice   = testAddress(1, &chaincfg.RegressionNetParams)
	bob     = testAddress(2, &chaincfg.RegressionNetParams)
	mainnet = testAddress(1, &chaincfg.MainNetParams)
)

func testAddress(seed byte, net *chaincfg.Params) string {
	h := make([]byte, 20)
	h[0] = seed
	a, err := address.NewAddressWitnessPubKeyHash(h, net)
	if err != nil {
		panic(err)
	}
	return a.EncodeAddress()
}

// at is a fixed time in another zone than UTC, so the tests see the API
// answer in UTC.
var at = time.Date(2026, 3, 1, 12, 30, 0, 0, time.FixedZone("UTC+5", 5*3600))

// recorder records a fake's calls and returns err from every call when
// set.
type recorder struct {
	err   error
	calls []string
}

func (r *recorder) record(format string, args ...any) error {
	r.calls = append(r.calls, fmt.Sprintf(format, args...))
	return r.err
}

// fakePool is the tests' Pool: fixed answers.
type fakePool struct{ recorder }

func (p *fakePool) Summary(context.Context) (Summary, error) {
	var s Summary
	s.Hashrate = Hashrates{M10: 1e12, H1: 2e12, H24: 3e12}
	s.MinersOnline, s.WorkersOnline, s.Nodes = 2, 5, 1
	s.Shares.Accepted, s.Shares.Rejected = 100, 3
	s.Network.Height, s.Network.Difficulty = 800000, 8.3e13
	b := testBlock(800000)
	s.LastBlock = &b
	return s, p.record("Summary")
}

func testBlock(h int64) Block {
	return Block{Height: h, Hash: strings.Repeat("0", 60) + strconv.FormatInt(h%10000, 16), Finder: alice + ".rig1",
		Account: alice, Reward: 312500000, Status: "accepted", Confirmations: 3, Time: at}
}

func (p *fakePool) Hashrate(_ context.Context, account string, window, step time.Duration) ([]Point, error) {
	if err := p.record("Hashrate %q %s %s", account, window, step); err != nil {
		return nil, err
	}
	if account == bob {
		return nil, ErrNotFound
	}
	return []Point{{T: at, Hashrate: 1e12}, {T: at.Add(step), Hashrate: 2e12}}, nil
}

// WorkerHashrate answers as a pool whose workers' history is in 1-hour
// buckets beyond the last hour.
func (p *fakePool) WorkerHashrate(_ context.Context, worker string, window, step time.Duration) (Series, error) {
	if err := p.record("WorkerHashrate %s %s %s", worker, window, step); err != nil {
		return Series{}, err
	}
	if worker == alice+".gone" {
		return Series{}, ErrNotFound
	}
	if window > time.Hour {
		step = (step + time.Hour - 1) / time.Hour * time.Hour
		window = (window + step - 1) / step * step
	}
	return Series{Window: window, Step: step, Points: []Point{{T: at, Hashrate: 1e12}}}, nil
}

func (p *fakePool) Blocks(_ context.Context, limit int) ([]Block, error) {
	if err := p.record("Blocks %d", limit); err != nil {
		return nil, err
	}
	return []Block{testBlock(800000), testBlock(799990)}, nil
}

func (p *fakePool) Account(_ context.Context, addr string) (Account, error) {
	if err := p.record("Account %s", addr); err != nil {
		return Account{}, err
	}
	if addr == bob {
		return Account{}, fmt.Errorf("account %s: %w", addr, ErrNotFound)
	}
	d, rr := 512.0, 0.01
	last := at
	return Account{Account: addr, Hashrate: Hashrates{M10: 1, H1: 2, H24: 3},
		Workers: []Worker{
			{Name: addr + ".rig1", Hashrate: 1e12, LastShare: &last, Difficulty: &d, RejectRate: &rr, Online: true},
			{Name: addr + ".rig2", Hashrate: 0},
		},
		WorkersTotal: 2, Balance: 1000, Pending: 2000, Paid: 3000,
		Payments: []Payment{{Batch: "20260301-1", TxID: strings.Repeat("ab", 32), Amount: 3000, Time: at, State: "paid"}}}, nil
}

// fakeAdmin is the tests' Admin: the worker "known" and the address
// 203.0.113.7 have connections, 198.51.100.1 is allowlisted.
type fakeAdmin struct{ recorder }

func (a *fakeAdmin) Connections(_ context.Context, f ConnFilter) ([]Connection, error) {
	if err := a.record("Connections %q %d", f.Account, f.Limit); err != nil {
		return nil, err
	}
	return []Connection{
		{ID: 1, Workers: []string{alice + ".rig1"}, Address: "203.0.113.7:40000", Agent: "bitaxe/2.4", Difficulty: 512,
			Hashrate: 5e11, Connected: at, Extranonce1: "01000001"},
		{ID: 2, Address: "203.0.113.8:40001", Connected: at},
	}, nil
}

func (a *fakeAdmin) KickWorker(_ context.Context, w string) (int, error) {
	if err := a.record("KickWorker %s", w); err != nil || w != "known" {
		return 0, err
	}
	return 1, nil
}

func (a *fakeAdmin) KickAddress(_ context.Context, addr netip.Addr) (int, error) {
	if err := a.record("KickAddress %s", addr); err != nil || addr.String() != "203.0.113.7" {
		return 0, err
	}
	return 2, nil
}

func (a *fakeAdmin) Bans(context.Context) ([]Ban, error) {
	return []Ban{{Address: "203.0.113.9", Until: at}, {Address: "2001:db8:1:2::/64", Until: at}}, a.record("Bans")
}

func (a *fakeAdmin) Ban(_ context.Context, addr netip.Addr, d time.Duration) (Ban, error) {
	if err := a.record("Ban %s %s", addr, d); err != nil {
		return Ban{}, err
	}
	if addr.String() == "198.51.100.1" {
		return Ban{}, &FieldError{Field: "address", Message: "is in stratum.allow_ips"}
	}
	return Ban{Address: addr.String(), Until: at.Add(d)}, nil
}

func (a *fakeAdmin) Unban(_ context.Context, addr netip.Addr) (bool, error) {
	return addr.String() == "203.0.113.9", a.record("Unban %s", addr)
}

func (a *fakeAdmin) Reload(context.Context) (Reload, error) {
	return Reload{Applied: []string{"stratum.difficulty.min"}}, a.record("Reload")
}

func (a *fakeAdmin) SetDifficulty(_ context.Context, w string, d float64) (int, error) {
	if err := a.record("SetDifficulty %s %v", w, d); err != nil || w != "known" {
		return 0, err
	}
	return 1, nil
}

// testToken is the admin token of the tests' servers.
const testToken = "s3cret-token-for-tests"

// testServer is a server on the fakes, with its Pool and Admin.
type testServer struct {
	*Server
	pool  *fakePool
	admin *fakeAdmin
}

func newTestServer(t testing.TB, token string) *testServer {
	t.Helper()
	p, a := &fakePool{}, &fakeAdmin{}
	s, err := New(Options{Pool: p, Admin: a, Token: token, Network: &chaincfg.RegressionNetParams})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &testServer{Server: s, pool: p, admin: a}
}

// do sends a request through the server's handler.
func (s *testServer) do(method, target, body string, header map[string]string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

var bearer = map[string]string{"Authorization": "Bearer " + testToken}

// TestRoutes calls every route with good and bad input and checks the
// status, the field named by an error, what reached the Pool or the
// Admin, and that every answer is as openapi.yaml describes it.
func TestRoutes(t *testing.T) {
	sp := loadSpec(t)
	const wr = "/api/v1/accounts/{address}/workers/{worker}/hashrate"
	tests := []struct {
		name         string
		method       string
		target       string
		route        string // the pattern in openapi.yaml
		body         string
		noAuth       bool
		status       int
		field        string
		call         string // the Pool's or the Admin's last call
		contains     string // in the answer
		poolErr      error
		adminErr     error
		unrecognized bool // a path the API does not have
	}{
		// The pool.
		{name: "pool", target: "/api/v1/pool", status: 200, call: "Summary", contains: `"time":"2026-03-01T07:30:00Z"`},
		{name: "pool: unknown parameter", target: "/api/v1/pool?x=1", status: 400, field: "x"},
		{name: "pool: Redis down", target: "/api/v1/pool", status: 503, poolErr: fmt.Errorf("read: %w", ErrUnavailable), contains: ErrUnavailable.Error()},
		{name: "pool: fault hidden", target: "/api/v1/pool", status: 500, poolErr: errors.New("dial 10.0.0.5:6379"), contains: `"internal error"`},
		{name: "pool: timeout", target: "/api/v1/pool", status: 503, poolErr: context.DeadlineExceeded},
		{name: "hashrate defaults", target: "/api/v1/pool/hashrate", status: 200, call: `Hashrate "" 24h0m0s 10m0s`, contains: `"window":"24h","step":"10m"`},
		{name: "hashrate 1h in 5m", target: "/api/v1/pool/hashrate?window=1h&step=5m", status: 200, call: `Hashrate "" 1h0m0s 5m0s`, contains: `"window":"1h","step":"5m"`},
		{name: "hashrate 90m in 30m", target: "/api/v1/pool/hashrate?window=90m&step=30m", status: 200, contains: `"window":"1h30m","step":"30m"`},
		{name: "hashrate: window over a day", target: "/api/v1/pool/hashrate?window=25h", status: 400, field: "window"},
		{name: "hashrate: window zero", target: "/api/v1/pool/hashrate?window=0s&step=1m", status: 400, field: "window"},
		{name: "hashrate: window not a duration", target: "/api/v1/pool/hashrate?window=day", status: 400, field: "window"},
		{name: "hashrate: step under a minute", target: "/api/v1/pool/hashrate?step=30s", status: 400, field: "step"},
		{name: "hashrate: step not whole minutes", target: "/api/v1/pool/hashrate?step=90s", status: 400, field: "step"},
		{name: "hashrate: step over the window", target: "/api/v1/pool/hashrate?window=10m&step=1h", status: 400, field: "step"},
		{name: "hashrate: window not whole steps", target: "/api/v1/pool/hashrate?window=1h&step=7m", status: 400, field: "window"},
		{name: "hashrate: step twice", target: "/api/v1/pool/hashrate?step=1m&step=2m", status: 400, field: "step"},
		{name: "hashrate: unknown parameter", target: "/api/v1/pool/hashrate?limit=5", status: 400, field: "limit"},
		{name: "hashrate: malformed query", target: "/api/v1/pool/hashrate?window=%zz", status: 400, field: "query"},
		// Blocks.
		{name: "blocks", target: "/api/v1/blocks", status: 200, call: "Blocks 20"},
		{name: "blocks 1000", target: "/api/v1/blocks?limit=1000", status: 200, call: "Blocks 1000"},
		{name: "blocks: limit 0", target: "/api/v1/blocks?limit=0", status: 400, field: "limit", contains: `limit: must be 1..1000 (got \"0\")`},
		{name: "blocks: limit 1001", target: "/api/v1/blocks?limit=1001", status: 400, field: "limit"},
		{name: "blocks: limit not a number", target: "/api/v1/blocks?limit=ten", status: 400, field: "limit"},
		{name: "blocks: limit empty", target: "/api/v1/blocks?limit=", status: 400, field: "limit"},
		// Accounts.
		{name: "account", target: "/api/v1/accounts/" + alice, route: "/api/v1/accounts/{address}", status: 200, call: "Account " + alice,
			contains: `"last_share":"2026-03-01T07:30:00Z"`},
		{name: "account: unknown", target: "/api/v1/accounts/" + bob, route: "/api/v1/accounts/{address}", status: 404, field: "address"},
		{name: "account: not an address", target: "/api/v1/accounts/nope", route: "/api/v1/accounts/{address}", status: 400, field: "address"},
		{name: "account: another network", target: "/api/v1/accounts/" + mainnet, route: "/api/v1/accounts/{address}", status: 400, field: "address"},
		{name: "account: too long", target: "/api/v1/accounts/" + strings.Repeat("q", 200), route: "/api/v1/accounts/{address}", status: 400, field: "address"},
		{name: "account: unknown parameter", target: "/api/v1/accounts/" + alice + "?limit=1", route: "/api/v1/accounts/{address}", status: 400, field: "limit"},
		{name: "account hashrate", target: "/api/v1/accounts/" + alice + "/hashrate?window=2h&step=1h", route: "/api/v1/accounts/{address}/hashrate",
			status: 200, call: fmt.Sprintf("Hashrate %q 2h0m0s 1h0m0s", alice)},
		{name: "account hashrate: unknown", target: "/api/v1/accounts/" + bob + "/hashrate", route: "/api/v1/accounts/{address}/hashrate", status: 404, field: "address"},
		{name: "account hashrate: not an address", target: "/api/v1/accounts/x/hashrate", route: "/api/v1/accounts/{address}/hashrate", status: 400, field: "address"},
		{name: "account hashrate: bad step", target: "/api/v1/accounts/" + alice + "/hashrate?step=1s", route: "/api/v1/accounts/{address}/hashrate", status: 400, field: "step"},
		// A worker's series: the step its history has for the window.
		{name: "worker hashrate", target: "/api/v1/accounts/" + alice + "/workers/" + alice + ".rig1/hashrate", route: wr,
			status: 200, call: "WorkerHashrate " + alice + ".rig1 24h0m0s 10m0s", contains: `{"window":"24h","step":"1h","points":[{"t":"2026-03-01T07:30:00Z"`},
		{name: "worker hashrate: the last hour", target: "/api/v1/accounts/" + alice + "/workers/" + alice + "/hashrate?window=1h&step=5m", route: wr,
			status: 200, call: "WorkerHashrate " + alice + " 1h0m0s 5m0s", contains: `"window":"1h","step":"5m"`},
		{name: "worker hashrate: unknown worker", target: "/api/v1/accounts/" + alice + "/workers/" + alice + ".gone/hashrate", route: wr, status: 404, field: "worker"},
		{name: "worker hashrate: another account's worker", target: "/api/v1/accounts/" + alice + "/workers/" + alice + "x.rig1/hashrate", route: wr, status: 400, field: "worker"},
		{name: "worker hashrate: not an address", target: "/api/v1/accounts/x/workers/x.rig1/hashrate", route: wr, status: 400, field: "address"},
		{name: "worker hashrate: bad step", target: "/api/v1/accounts/" + alice + "/workers/" + alice + ".rig1/hashrate?step=90s", route: wr, status: 400, field: "step"},
		// Routes and methods the API does not have.
		{name: "unknown route", target: "/api/v1/nope", status: 404, unrecognized: true},
		{name: "unknown admin route", target: "/api/v1/admin/nope", status: 404, unrecognized: true},
		{name: "wrong method", method: "POST", target: "/api/v1/pool", status: 405, unrecognized: true, contains: "allowed methods are GET"},
		{name: "no dashboard yet", target: "/", status: 404, unrecognized: true},

		// Admin: the token.
		{name: "no token", target: "/api/v1/admin/connections", noAuth: true, status: 401},
		// Connections.
		{name: "connections", target: "/api/v1/admin/connections", status: 200, call: `Connections "" 1000`, contains: `"connected":"2026-03-01T07:30:00Z"`},
		{name: "connections of an account", target: "/api/v1/admin/connections?account=" + alice + "&limit=5", status: 200, call: fmt.Sprintf("Connections %q 5", alice)},
		{name: "connections: bad account", target: "/api/v1/admin/connections?account=nope", status: 400, field: "account"},
		{name: "connections: limit 0", target: "/api/v1/admin/connections?limit=0", status: 400, field: "limit"},
		{name: "connections: limit 10001", target: "/api/v1/admin/connections?limit=10001", status: 400, field: "limit"},
		{name: "connections: unknown parameter", target: "/api/v1/admin/connections?worker=x", status: 400, field: "worker"},
		// Kick.
		{name: "kick worker", method: "POST", target: "/api/v1/admin/kick", body: `{"worker":"known"}`, status: 200, call: "KickWorker known", contains: `{"kicked":1}`},
		{name: "kick address", method: "POST", target: "/api/v1/admin/kick", body: `{"address":"203.0.113.7"}`, status: 200, call: "KickAddress 203.0.113.7", contains: `{"kicked":2}`},
		{name: "kick an address without connections", method: "POST", target: "/api/v1/admin/kick", body: `{"address":"::ffff:203.0.113.1"}`, status: 200, call: "KickAddress 203.0.113.1", contains: `{"kicked":0}`},
		{name: "kick: unknown worker", method: "POST", target: "/api/v1/admin/kick", body: `{"worker":"nobody"}`, status: 404, field: "worker"},
		{name: "kick: both", method: "POST", target: "/api/v1/admin/kick", body: `{"worker":"known","address":"203.0.113.7"}`, status: 400, field: "worker"},
		{name: "kick: neither", method: "POST", target: "/api/v1/admin/kick", body: `{}`, status: 400, field: "worker"},
		{name: "kick: bad address", method: "POST", target: "/api/v1/admin/kick", body: `{"address":"10.0.0"}`, status: 400, field: "address"},
		{name: "kick: worker not a string", method: "POST", target: "/api/v1/admin/kick", body: `{"worker":5}`, status: 400, field: "worker"},
		{name: "kick: worker with a line break", method: "POST", target: "/api/v1/admin/kick", body: `{"worker":"a\nb"}`, status: 400, field: "worker"},
		{name: "kick: unknown field", method: "POST", target: "/api/v1/admin/kick", body: `{"rig":"x"}`, status: 400, field: "rig"},
		{name: "kick: not JSON", method: "POST", target: "/api/v1/admin/kick", body: `worker=known`, status: 400, field: "body"},
		{name: "kick: no body", method: "POST", target: "/api/v1/admin/kick", status: 400, field: "body"},
		{name: "kick: trailing data", method: "POST", target: "/api/v1/admin/kick", body: `{"worker":"known"} {}`, status: 400, field: "body"},
		{name: "kick: an array", method: "POST", target: "/api/v1/admin/kick", body: `["known"]`, status: 400, field: "body"},
		{name: "kick: body too large", method: "POST", target: "/api/v1/admin/kick", body: `{"worker":"` + strings.Repeat("x", maxBody) + `"}`, status: 413, field: "body"},
		// Bans.
		{name: "bans", target: "/api/v1/admin/bans", status: 200, call: "Bans"},
		{name: "ban", method: "POST", target: "/api/v1/admin/bans", body: `{"address":"203.0.113.7","duration":"10m"}`, status: 200,
			call: "Ban 203.0.113.7 10m0s", contains: `"until":"2026-03-01T07:40:00Z"`},
		{name: "ban an IPv6 prefix", method: "POST", target: "/api/v1/admin/bans", body: `{"address":"2001:db8:1:2::/64","duration":"1h"}`, status: 200,
			call: "Ban 2001:db8:1:2:: 1h0m0s"},
		{name: "ban: allowlisted", method: "POST", target: "/api/v1/admin/bans", body: `{"address":"198.51.100.1","duration":"10m"}`, status: 400, field: "address"},
		{name: "ban: no duration", method: "POST", target: "/api/v1/admin/bans", body: `{"address":"203.0.113.7"}`, status: 400, field: "duration"},
		{name: "ban: zero duration", method: "POST", target: "/api/v1/admin/bans", body: `{"address":"203.0.113.7","duration":"0s"}`, status: 400, field: "duration"},
		{name: "ban: over a year", method: "POST", target: "/api/v1/admin/bans", body: `{"address":"203.0.113.7","duration":"9000h"}`, status: 400, field: "duration"},
		{name: "ban: duration a number", method: "POST", target: "/api/v1/admin/bans", body: `{"address":"203.0.113.7","duration":600}`, status: 400, field: "duration"},
		{name: "ban: no address", method: "POST", target: "/api/v1/admin/bans", body: `{"duration":"10m"}`, status: 400, field: "address"},
		{name: "ban: a host name", method: "POST", target: "/api/v1/admin/bans", body: `{"address":"pool.example","duration":"10m"}`, status: 400, field: "address"},
		{name: "unban", method: "DELETE", target: "/api/v1/admin/bans/203.0.113.9", route: "/api/v1/admin/bans/{address}", status: 200, call: "Unban 203.0.113.9", contains: `{"unbanned":true}`},
		{name: "unban a prefix", method: "DELETE", target: "/api/v1/admin/bans/2001:db8:1:2::%2F64", route: "/api/v1/admin/bans/{address}", status: 200,
			call: "Unban 2001:db8:1:2::", contains: `{"unbanned":false}`},
		{name: "unban: bad address", method: "DELETE", target: "/api/v1/admin/bans/nope", route: "/api/v1/admin/bans/{address}", status: 400, field: "address"},
		// Reload.
		{name: "reload", method: "POST", target: "/api/v1/admin/reload", status: 200, call: "Reload", contains: `{"applied":["stratum.difficulty.min"],"restart":[]}`},
		{name: "reload with an empty object", method: "POST", target: "/api/v1/admin/reload", body: `{}`, status: 200, call: "Reload"},
		{name: "reload: a field", method: "POST", target: "/api/v1/admin/reload", body: `{"path":"/etc/x"}`, status: 400, field: "path"},
		{name: "reload: bad config shown to the admin", method: "POST", target: "/api/v1/admin/reload", status: 500,
			adminErr: errors.New("config: stratum.difficulty.min: must be > 0"), contains: "stratum.difficulty.min: must be \u003e 0"},
		// Difficulty.
		{name: "difficulty", method: "POST", target: "/api/v1/admin/difficulty", body: `{"worker":"known","difficulty":512}`, status: 200,
			call: "SetDifficulty known 512", contains: `{"sessions":1}`},
		{name: "difficulty: fractional", method: "POST", target: "/api/v1/admin/difficulty", body: `{"worker":"known","difficulty":1e-9}`, status: 200,
			call: "SetDifficulty known 1e-09"},
		{name: "difficulty: unknown worker", method: "POST", target: "/api/v1/admin/difficulty", body: `{"worker":"nobody","difficulty":512}`, status: 404, field: "worker"},
		{name: "difficulty: none", method: "POST", target: "/api/v1/admin/difficulty", body: `{"worker":"known"}`, status: 400, field: "difficulty"},
		{name: "difficulty: zero", method: "POST", target: "/api/v1/admin/difficulty", body: `{"worker":"known","difficulty":0}`, status: 400, field: "difficulty"},
		{name: "difficulty: negative", method: "POST", target: "/api/v1/admin/difficulty", body: `{"worker":"known","difficulty":-1}`, status: 400, field: "difficulty"},
		{name: "difficulty: a string", method: "POST", target: "/api/v1/admin/difficulty", body: `{"worker":"known","difficulty":"512"}`, status: 400, field: "difficulty"},
		{name: "difficulty: no worker", method: "POST", target: "/api/v1/admin/difficulty", body: `{"difficulty":512}`, status: 400, field: "worker"},
		{name: "difficulty: worker too long", method: "POST", target: "/api/v1/admin/difficulty", body: `{"worker":"` + strings.Repeat("w", 129) + `","difficulty":1}`, status: 400, field: "worker"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, testToken)
			s.pool.err, s.admin.err = tc.poolErr, tc.adminErr
			method := tc.method
			if method == "" {
				method = "GET"
			}
			var hdr map[string]string
			if strings.HasPrefix(tc.target, "/api/v1/admin/") && !tc.noAuth {
				hdr = bearer
			}
			rec := s.do(method, tc.target, tc.body, hdr)
			body := rec.Body.Bytes()
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			var e errorBody
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("answer is not JSON: %s", body)
			}
			if tc.status != 200 && (e.Error == "" || e.Field != tc.field) {
				t.Errorf("error %q naming field %q, want field %q", e.Error, e.Field, tc.field)
			}
			if tc.field != "" && !strings.HasPrefix(e.Error, tc.field+":") && rec.Code == 400 {
				t.Errorf("error %q does not start with its field %q", e.Error, tc.field)
			}
			if tc.contains != "" && !strings.Contains(string(body), tc.contains) {
				t.Errorf("answer lacks %s: %s", tc.contains, body)
			}
			calls := append(s.pool.calls, s.admin.calls...)
			switch {
			case tc.call != "" && (len(calls) == 0 || calls[len(calls)-1] != tc.call):
				t.Errorf("calls %q, want the last to be %q", calls, tc.call)
			case tc.status == 400 && len(calls) > 0 && tc.field != "address" && tc.field != "worker":
				t.Errorf("bad input reached the pool: %q", calls)
			}
			if tc.unrecognized {
				return
			}
			route := tc.route
			if route == "" {
				route, _, _ = strings.Cut(tc.target, "?")
			}
			checkConforms(t, sp, method, route, strconv.Itoa(tc.status), body)
		})
	}
}

// TestAdminToken: admin routes answer 401 to a missing, malformed or wrong
// token, 403 on a server without a token, and run with the right one;
// public routes never need it.
func TestAdminToken(t *testing.T) {
	tests := []struct {
		name       string
		serverHas  string
		authHeader string
		status     int
	}{
		{"right token", testToken, "Bearer " + testToken, 200},
		{"scheme in lower case", testToken, "bearer " + testToken, 200},
		{"no header", testToken, "", 401},
		{"wrong token", testToken, "Bearer wrong", 401},
		{"token prefix", testToken, "Bearer " + testToken[:len(testToken)-1], 401},
		{"token and more", testToken, "Bearer " + testToken + "x", 401},
		{"basic auth", testToken, "Basic " + testToken, 401},
		{"no scheme", testToken, testToken, 401},
		{"no token configured", "", "Bearer " + testToken, 403},
		{"no token configured, none sent", "", "", 403},
	}
	sp := loadSpec(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, tc.serverHas)
			hdr := map[string]string{}
			if tc.authHeader != "" {
				hdr["Authorization"] = tc.authHeader
			}
			for _, r := range s.routes {
				if !r.admin {
					continue
				}
				path := strings.Replace(r.path, "{address}", "203.0.113.9", 1)
				body := ""
				switch path {
				case "/api/v1/admin/kick":
					body = `{"worker":"known"}`
				case "/api/v1/admin/bans":
					if r.method == "POST" {
						body = `{"address":"203.0.113.7","duration":"1m"}`
					}
				case "/api/v1/admin/difficulty":
					body = `{"worker":"known","difficulty":1}`
				}
				rec := s.do(r.method, path, body, hdr)
				if rec.Code != tc.status {
					t.Fatalf("%s %s: status %d, want %d: %s", r.method, path, rec.Code, tc.status, rec.Body)
				}
				if tc.status == 401 && rec.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("%s %s: 401 without WWW-Authenticate", r.method, path)
				}
				if tc.status == 403 && !strings.Contains(rec.Body.String(), disabledMessage) {
					t.Errorf("%s %s: 403 says %s", r.method, path, rec.Body)
				}
				checkConforms(t, sp, r.method, r.path, strconv.Itoa(tc.status), rec.Body.Bytes())
			}
			if tc.status != 200 && len(s.admin.calls) > 0 {
				t.Errorf("refused requests reached the admin: %q", s.admin.calls)
			}
			if rec := s.do("GET", "/api/v1/pool", "", hdr); rec.Code != 200 {
				t.Errorf("public route: status %d", rec.Code)
			}
		})
	}
}

// TestUIAndOpenAPI: the dashboard, when given, answers at / and the API
// routes still answer; the OpenAPI file is served as embedded.
func TestUIAndOpenAPI(t *testing.T) {
	ui := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "dashboard "+r.URL.Path) })
	s, err := New(Options{Pool: &fakePool{}, Admin: &fakeAdmin{}, Network: &chaincfg.RegressionNetParams, UI: ui})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s}
	if rec := ts.do("GET", "/", "", nil); rec.Code != 200 || rec.Body.String() != "dashboard /" {
		t.Errorf("GET / = %d %q", rec.Code, rec.Body)
	}
	if rec := ts.do("GET", "/app.js", "", nil); rec.Body.String() != "dashboard /app.js" {
		t.Errorf("GET /app.js = %q", rec.Body)
	}
	if rec := ts.do("GET", "/api/v1/nope", "", nil); rec.Code != 404 || !strings.Contains(rec.Body.String(), `"error"`) {
		t.Errorf("an unknown API route under the dashboard = %d %s", rec.Code, rec.Body)
	}
	rec := ts.do("GET", "/api/v1/openapi.yaml", "", nil)
	if rec.Code != 200 || rec.Body.String() != string(openAPI) || !strings.Contains(rec.Header().Get("Content-Type"), "yaml") {
		t.Errorf("GET openapi.yaml = %d, %s, %d bytes", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
}

// TestStartStop: the server serves on its listener with timeouts set, and
// Stop ends it (twice is fine).
func TestStartStop(t *testing.T) {
	s := newTestServer(t, testToken)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ln); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ln); err == nil {
		t.Error("second Start succeeded")
	}
	if s.http.ReadHeaderTimeout <= 0 || s.http.ReadTimeout <= 0 || s.http.WriteTimeout <= 0 {
		t.Errorf("timeouts not set: %+v", s.http)
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/api/v1/pool")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/api/v1/pool"); err == nil {
		t.Error("still serving after Stop")
	}
	if err := newTestServer(t, "").Stop(ctx); err != nil {
		t.Errorf("Stop without Start: %v", err)
	}
}
