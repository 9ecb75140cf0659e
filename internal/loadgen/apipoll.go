package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// PollRoutes are the public routes of the HTTP API (api/openapi.yaml) that
// Poll requests, with the queries the dashboard sends; {address} is an
// account's address and {worker} one of its workers (PollOptions.Rig). A
// test checks that every public route of the OpenAPI file is here.
var PollRoutes = []string{
	"/api/v1/pool",
	"/api/v1/pool/hashrate?window=24h&step=10m",
	"/api/v1/blocks?limit=20",
	"/api/v1/accounts/{address}",
	"/api/v1/accounts/{address}/hashrate?window=24h&step=10m",
	"/api/v1/accounts/{address}/workers/{worker}/hashrate?window=24h&step=10m",
	"/api/v1/openapi.yaml",
}

// Defaults for zero PollOptions fields.
const (
	DefaultPollRate        = 50.0
	DefaultPollTimeout     = 10 * time.Second
	DefaultPollMaxInFlight = 64
)

// PollOptions configures Poll.
type PollOptions struct {
	// URL is the API's base URL, e.g. "http://127.0.0.1:8080/".
	URL string
	// AllowRemote permits a host outside the loopback range.
	AllowRemote bool
	// Accounts are the addresses the account routes ask for, in turn;
	// without any, those routes are not polled.
	Accounts []string
	// Rig names the worker the worker routes ask for: <address>.<Rig>
	// (default "0", the load tool's first worker of an account).
	Rig string
	// Rate is the requests per second sent to each route (default 50),
	// on a fixed schedule whatever the answers take (an open loop).
	Rate float64
	// Duration is how long requests are sent (default 30s); the run then
	// waits for the answers in flight.
	Duration time.Duration
	// Timeout bounds one request (default 10s).
	Timeout time.Duration
	// MaxInFlight caps a route's requests awaiting an answer (default
	// 64); a request due while the cap is reached is not sent and counted
	// as skipped, so a stalled API cannot make the poller pile up.
	MaxInFlight int
}

// PollReport is what Poll measured.
type PollReport struct {
	URL     string  `json:"url"`
	Rate    float64 `json:"rate_per_route"`
	Seconds float64 `json:"seconds"`
	// CPUSeconds is the poller process's own CPU time (user and system)
	// during the run, to tell its share of a shared machine.
	CPUSeconds float64 `json:"cpu_seconds"`
	// Routes are the routes polled, in PollRoutes order.
	Routes []RouteReport `json:"routes"`
}

// RouteReport is one route's requests.
type RouteReport struct {
	// Route is the route as PollRoutes writes it.
	Route string `json:"route"`
	// Sent counts the requests sent; OK those answered 2xx with a whole
	// body (JSON for the JSON routes); Errors the others by cause: "HTTP
	// 503", "timeout", "transport", "body".
	Sent    uint64            `json:"sent"`
	OK      uint64            `json:"ok"`
	Errors  map[string]uint64 `json:"errors,omitempty"`
	Skipped uint64            `json:"skipped"`
	// Latency is request to whole body, of every answered request.
	Latency  HistData    `json:"latency"`
	Summary  Percentiles `json:"latency_summary"`
	PerSec   float64     `json:"answered_per_s"`
	Accounts int         `json:"accounts,omitempty"`
}

// ErrorCount adds up a report's errors and skipped requests.
func (r *PollReport) ErrorCount() uint64 {
	var n uint64
	for _, rt := range r.Routes {
		n += rt.Skipped
		for _, c := range rt.Errors {
			n += c
		}
	}
	return n
}

// withDefaults fills zero fields.
func (o PollOptions) withDefaults() PollOptions {
	if o.Rate == 0 {
		o.Rate = DefaultPollRate
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultPollTimeout
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultPollMaxInFlight
	}
	return o
}

// validate names every bad field at once; it returns the base URL.
func (o *PollOptions) validate() (*url.URL, error) {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	u, err := url.Parse(o.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		bad("url: %q is not an http:// or https:// URL", o.URL)
	case !o.AllowRemote && !isLoopback(u.Hostname()):
		bad("url: %s is not a loopback address (the poller only loads this machine unless remote targets are allowed)", u.Hostname())
	}
	if !(o.Rate > 0) || o.Rate > 10000 {
		bad("rate: %g requests/s per route is outside (0, 10000]", o.Rate)
	}
	if o.Duration < 0 || o.Timeout < 0 {
		bad("durations must not be negative")
	}
	if o.MaxInFlight < 0 {
		bad("max in flight: %d is negative", o.MaxInFlight)
	}
	for _, a := range o.Accounts {
		if a == "" || strings.ContainsAny(a, "/?#% ") {
			bad("account: %q is not an address", a)
		}
	}
	if strings.ContainsAny(o.Rig, "/?#% ") {
		bad("rig: %q is not a worker name", o.Rig)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return u, nil
}

// routeRun is one route's state during a Poll.
type routeRun struct {
	route    string
	paths    []string // the route with each account, or the route alone
	json     bool
	sent     atomic.Uint64
	ok       atomic.Uint64
	skipped  atomic.Uint64
	inflight atomic.Int64
	hist     Histogram

	mu     sync.Mutex
	errors map[string]uint64
}

func (r *routeRun) fail(cause string) {
	r.mu.Lock()
	r.errors[cause]++
	r.mu.Unlock()
}

// Poll requests every route of PollRoutes at o.Rate per route for
// o.Duration (the account routes for each of o.Accounts in turn), then
// waits for the answers in flight, and reports each route's answers and
// latency. A non-2xx answer, a body cut short or (for the JSON routes) not
// JSON is an error. It stops early when ctx ends; the report covers what
// was sent.
func Poll(ctx context.Context, o PollOptions) (*PollReport, error) {
	o = o.withDefaults()
	base, err := o.validate()
	if err != nil {
		return nil, err
	}
	client := &http.Client{
		Timeout: o.Timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: o.Timeout}).DialContext,
			MaxIdleConns:        len(PollRoutes) * o.MaxInFlight,
			MaxIdleConnsPerHost: len(PollRoutes) * o.MaxInFlight,
			IdleConnTimeout:     time.Minute,
		},
	}
	defer client.CloseIdleConnections()
	rig := o.Rig
	if rig == "" {
		rig = "0"
	}
	var runs []*routeRun
	for _, rt := range PollRoutes {
		r := &routeRun{route: rt, errors: map[string]uint64{}, json: !strings.HasSuffix(strings.SplitN(rt, "?", 2)[0], ".yaml")}
		if strings.Contains(rt, "{address}") {
			if len(o.Accounts) == 0 {
				continue
			}
			for _, a := range o.Accounts {
				p := strings.Replace(rt, "{address}", url.PathEscape(a), 1)
				p = strings.Replace(p, "{worker}", url.PathEscape(a+"."+rig), 1)
				r.paths = append(r.paths, p)
			}
		} else {
			r.paths = []string{rt}
		}
		runs = append(runs, r)
	}
	rep := &PollReport{URL: base.String(), Rate: o.Rate}
	cpu0 := processCPU()
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Go(func() { r.schedule(rctx, client, base, o, &wg) })
	}
	<-rctx.Done()
	rep.Seconds = time.Since(start).Seconds()
	wg.Wait()
	rep.CPUSeconds = (processCPU() - cpu0).Seconds()
	for _, r := range runs {
		h := r.hist.Snapshot()
		rr := RouteReport{Route: r.route, Sent: r.sent.Load(), OK: r.ok.Load(), Skipped: r.skipped.Load(),
			Latency: h, Summary: h.Summary(), PerSec: float64(h.Count) / rep.Seconds}
		if len(r.errors) > 0 {
			rr.Errors = r.errors
		}
		if strings.Contains(r.route, "{address}") {
			rr.Accounts = len(r.paths)
		}
		rep.Routes = append(rep.Routes, rr)
	}
	return rep, nil
}

// processCPU is this process's CPU time so far (0 where getrusage fails).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// schedule sends r's requests at o.Rate until ctx ends, each in its own
// goroutine (counted in wg), so that a slow answer does not delay the next
// request.
func (r *routeRun) schedule(ctx context.Context, c *http.Client, base *url.URL, o PollOptions, wg *sync.WaitGroup) {
	every := time.Duration(float64(time.Second) / o.Rate)
	next := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if r.inflight.Load() >= int64(o.MaxInFlight) {
			r.skipped.Add(1)
		} else {
			r.inflight.Add(1)
			r.sent.Add(1)
			path := r.paths[i%len(r.paths)]
			wg.Go(func() {
				defer r.inflight.Add(-1)
				r.get(c, base, path)
			})
		}
		// The schedule is fixed: a late tick does not push the next.
		next = next.Add(every)
		t.Reset(time.Until(next))
	}
}

// get requests path and records the answer. The request is not tied to
// the run's context: one sent is waited for (up to the timeout), so the
// run's end does not count as an error.
func (r *routeRun) get(c *http.Client, base *url.URL, path string) {
	u := base.JoinPath()
	p, q, _ := strings.Cut(path, "?")
	u.Path = strings.TrimSuffix(u.Path, "/") + p
	u.RawPath = ""
	u.RawQuery = q
	start := time.Now()
	resp, err := c.Get(u.String())
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.fail("timeout")
		} else {
			r.fail("transport")
		}
		return
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	r.hist.Record(time.Since(start))
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		r.fail(fmt.Sprintf("HTTP %d", resp.StatusCode))
	case err != nil || (r.json && !json.Valid(b)):
		r.fail("body")
	default:
		r.ok.Add(1)
	}
}

// WriteJSON writes the report as indented JSON.
func (r *PollReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(r)
}

// WriteText prints the report for a person: one line per route.
func (r *PollReport) WriteText(w io.Writer) error {
	p := &printer{w: w}
	p.f("api %s: %.4g requests/s per route, %.1fs, poller CPU %.1f s\n", r.URL, r.Rate, r.Seconds, r.CPUSeconds)
	for _, rt := range r.Routes {
		s := rt.Summary
		keys := make([]string, 0, len(rt.Errors))
		for k := range rt.Errors {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		errs := "none"
		if len(keys) > 0 {
			parts := make([]string, len(keys))
			for i, k := range keys {
				parts[i] = fmt.Sprintf("%s: %d", k, rt.Errors[k])
			}
			errs = strings.Join(parts, ", ")
		}
		p.f("  %s: sent %d, ok %d (%.1f/s), skipped %d, errors %s; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
			rt.Route, rt.Sent, rt.OK, rt.PerSec, rt.Skipped, errs, s.P50, s.P99, s.Max)
	}
	return p.err
}
