package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPollRoutesCoverOpenAPI checks that PollRoutes holds every public
// route of api/openapi.yaml (every path but the admin ones) and nothing
// else, so a route added to the API is polled too.
func TestPollRoutesCoverOpenAPI(t *testing.T) {
	b, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var public []string
	for _, m := range regexp.MustCompile(`(?m)^  (/\S+):\s*$`).FindAllStringSubmatch(string(b), -1) {
		if !strings.HasPrefix(m[1], "/api/v1/admin/") {
			public = append(public, m[1])
		}
	}
	var polled []string
	for _, r := range PollRoutes {
		p, _, _ := strings.Cut(r, "?")
		polled = append(polled, p)
	}
	slices.Sort(public)
	slices.Sort(polled)
	if len(public) < 5 || !slices.Equal(public, polled) {
		t.Errorf("public routes of the OpenAPI file %q, polled %q", public, polled)
	}
}

// TestPollCountsAnswers polls a server that answers each route its own
// way: 200 with JSON, a 503, 200 with a body that is not JSON, a
// connection closed without an answer. Each request is counted once, under
// its cause; the account routes ask for each account in turn.
func TestPollCountsAnswers(t *testing.T) {
	var accounts nameSet
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/base/api/v1/pool":
			w.Write([]byte(`{"ok":true}`))
		case r.URL.Path == "/base/api/v1/pool/hashrate":
			if r.URL.RawQuery != "window=24h&step=10m" {
				http.Error(w, "query "+r.URL.RawQuery, http.StatusBadRequest)
				return
			}
			http.Error(w, `{"error":"down"}`, http.StatusServiceUnavailable)
		case r.URL.Path == "/base/api/v1/blocks":
			w.Write([]byte(`{"blocks":[`))
		case strings.HasPrefix(r.URL.Path, "/base/api/v1/accounts/"):
			accounts.add(strings.Split(r.URL.Path, "/")[5])
			if strings.HasSuffix(r.URL.Path, "/hashrate") {
				// The connection breaks without an answer.
				c, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					c.Close()
				}
				return
			}
			w.Write([]byte(`{}`))
		case r.URL.Path == "/base/api/v1/openapi.yaml":
			w.Write([]byte("openapi: 3.0.3\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	rep, err := Poll(context.Background(), PollOptions{URL: srv.URL + "/base/", Accounts: []string{"acct1", "acct2"},
		Rate: 20, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Routes) != len(PollRoutes) || rep.Seconds < 0.5 {
		t.Fatalf("%d routes in %.2fs, want %d in at least 0.5s", len(rep.Routes), rep.Seconds, len(PollRoutes))
	}
	want := map[string]string{
		PollRoutes[0]: "", PollRoutes[1]: "HTTP 503", PollRoutes[2]: "body",
		PollRoutes[3]: "", PollRoutes[4]: "transport", PollRoutes[5]: "transport", PollRoutes[6]: "",
	}
	var errs uint64
	for _, rt := range rep.Routes {
		cause := want[rt.Route]
		var bad uint64
		for _, n := range rt.Errors {
			bad += n
		}
		errs += bad + rt.Skipped
		switch {
		case rt.Sent == 0 || rt.Sent != rt.OK+bad:
			t.Errorf("%s: sent %d, ok %d, errors %v: each request must be counted once", rt.Route, rt.Sent, rt.OK, rt.Errors)
		case cause == "" && (rt.OK != rt.Sent || rt.Latency.Count != rt.Sent):
			t.Errorf("%s: sent %d, ok %d, %d latencies, errors %v; want all ok", rt.Route, rt.Sent, rt.OK, rt.Latency.Count, rt.Errors)
		case cause != "" && rt.Errors[cause] != rt.Sent:
			t.Errorf("%s: sent %d, errors %v; want every one %q", rt.Route, rt.Sent, rt.Errors, cause)
		}
		if strings.Contains(rt.Route, "{address}") != (rt.Accounts == 2) {
			t.Errorf("%s: %d accounts", rt.Route, rt.Accounts)
		}
	}
	if errs != rep.ErrorCount() || errs == 0 {
		t.Errorf("ErrorCount %d, routes add up to %d", rep.ErrorCount(), errs)
	}
	// Each account route asks for acct1 first, then acct2.
	wantAccounts := []string{"acct1"}
	if rep.Routes[3].Sent > 1 || rep.Routes[4].Sent > 1 {
		wantAccounts = append(wantAccounts, "acct2")
	}
	if got := accounts.names(); !slices.Equal(got, wantAccounts) {
		t.Errorf("accounts asked for: %q, routes sent %d and %d", got, rep.Routes[3].Sent, rep.Routes[4].Sent)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "errors HTTP 503: ") {
		t.Errorf("text report: %v\n%s", err, text.String())
	}
}

// TestPollTimeout polls a server that never answers: every request is a
// timeout, counted when the timeout ends it.
func TestPollTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	rep, err := Poll(context.Background(), PollOptions{URL: srv.URL, Rate: 10, Duration: 200 * time.Millisecond, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range rep.Routes {
		if rt.Sent == 0 || rt.OK != 0 || rt.Errors["timeout"] != rt.Sent || rt.Latency.Count != 0 {
			t.Errorf("%s: sent %d, ok %d, errors %v, %d latencies; want every request a timeout", rt.Route, rt.Sent, rt.OK, rt.Errors, rt.Latency.Count)
		}
	}
}

// TestPollMaxInFlight polls a server that never answers within the run:
// a route sends at most MaxInFlight requests, the others are skipped.
func TestPollMaxInFlight(t *testing.T) {
	release := make(chan struct{})
	var inflight, peak atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			m := peak.Load()
			if n <= m || peak.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	go func() {
		time.Sleep(600 * time.Millisecond)
		close(release)
	}()
	rep, err := Poll(context.Background(), PollOptions{URL: srv.URL, Rate: 50, Duration: 500 * time.Millisecond, MaxInFlight: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range rep.Routes {
		if rt.Sent > 3 || rt.OK != rt.Sent {
			t.Errorf("%s: sent %d, ok %d; want at most 3, all answered at the release", rt.Route, rt.Sent, rt.OK)
		}
	}
	accountRoutes := 0
	for _, rt := range PollRoutes {
		if strings.Contains(rt, "{address}") {
			accountRoutes++
		}
	}
	if len(rep.Routes) != len(PollRoutes)-accountRoutes {
		t.Errorf("%d routes without accounts, want %d (the account routes need one)", len(rep.Routes), len(PollRoutes)-accountRoutes)
	}
	if p := peak.Load(); p > int64(3*len(rep.Routes)) {
		t.Errorf("%d requests at once, want at most %d", p, 3*len(rep.Routes))
	}
}

// TestPollOptionsValidate checks that every bad field is named.
func TestPollOptionsValidate(t *testing.T) {
	_, err := Poll(context.Background(), PollOptions{URL: "http://198.51.100.1/", Rate: -1, Duration: -time.Second,
		MaxInFlight: -1, Accounts: []string{"a/b"}})
	for _, want := range []string{"url: 198.51.100.1 is not a loopback", "rate: -1", "durations must not be negative",
		"max in flight: -1", `account: "a/b"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want it to name %q", err, want)
		}
	}
	if _, err := Poll(context.Background(), PollOptions{URL: "localhost:8080"}); err == nil || !strings.Contains(err.Error(), "not an http://") {
		t.Errorf("URL without a scheme: %v", err)
	}
}

// nameSet collects names from several goroutines.
type nameSet struct {
	mu  sync.Mutex
	set []string
}

func (s *nameSet) add(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.set, name) {
		s.set = append(s.set, name)
	}
}

func (s *nameSet) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.set)
	slices.Sort(out)
	return out
}
