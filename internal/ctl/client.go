package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Environment variables tarbelactl reads (cmd/tarbelactl passes them in).
const (
	EnvURL     = "TARBELA_API_URL"
	EnvToken   = "TARBELA_API_TOKEN"
	DefaultURL = "http://127.0.0.1:8080"
)

// maxAnswer bounds an answer's body: a node's connection list with no
// limit is the largest answer (100,000 connections at a few hundred bytes).
const maxAnswer = 64 << 20

// Client calls the API of one node. Admin calls carry the token as a
// bearer token; public calls carry none.
type Client struct {
	base        string // scheme, host and path prefix, without a trailing slash
	token       string
	tokenSource string
	timeout     time.Duration
	http        *http.Client
}

// NewClient checks the base URL (http or https, a host, no query) and
// returns a client that gives up on each request after timeout.
// tokenSource says where token came from, for the message when the API
// refuses it.
func NewClient(base, token, tokenSource string, timeout time.Duration) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, usagef("--url %q: want http://HOST:PORT or https://HOST:PORT (an optional path prefix, no query)", base)
	}
	if timeout <= 0 {
		return nil, usagef("--timeout %s: must be more than 0", timeout)
	}
	return &Client{
		base:        strings.TrimSuffix(u.String(), "/"),
		token:       token,
		tokenSource: tokenSource,
		timeout:     timeout,
		http: &http.Client{
			Timeout: timeout,
			// A redirect is reported, not followed: Go would turn an
			// admin POST into a GET on a 301 or 302.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// answer is the body of a 2xx answer, checked to be JSON, and the
// request it answers.
type answer struct {
	method, route string
	raw           []byte
}

// call sends one request and returns its 2xx answer. route is the path
// (/api/v1/...), its segments escaped by the caller; body, when not nil,
// is sent as JSON.
func (c *Client) call(ctx context.Context, method, route string, query url.Values, body any, admin bool) (answer, error) {
	if q := query.Encode(); q != "" {
		route += "?" + q
	}
	if admin && c.token == "" {
		return answer{}, &AuthError{Method: method, Route: route}
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{}, fmt.Errorf("%s %s: %w", method, route, err)
		}
		rd = bytes.NewReader(b)
	}
	full := c.base + route
	req, err := http.NewRequestWithContext(ctx, method, full, rd)
	if err != nil {
		return answer{}, usagef("%s %s: %v", method, full, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "tarbelactl")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if admin {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return answer{}, c.unreachable(method, full, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return answer{}, c.unreachable(method, full, err)
	}
	if len(raw) > maxAnswer {
		return answer{}, &APIError{Method: method, Route: route, Status: resp.StatusCode,
			Message: fmt.Sprintf("the answer is larger than %d MiB", maxAnswer>>20)}
	}
	if resp.StatusCode/100 == 2 {
		if !json.Valid(raw) {
			return answer{}, &APIError{Method: method, Route: route, Status: resp.StatusCode,
				Message: "the answer is not JSON: " + snippet(raw)}
		}
		return answer{method: method, route: route, raw: raw}, nil
	}
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
		return answer{}, &APIError{Method: method, Route: route, Status: resp.StatusCode,
			Message: "the API redirects to " + clean(loc) + ": set --url to the address it names"}
	}
	var e struct {
		Error string `json:"error"`
		Field string `json:"field"`
	}
	if json.Unmarshal(raw, &e) != nil || e.Error == "" {
		e.Error, e.Field = snippet(raw), ""
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		src := ""
		if admin {
			src = c.tokenSource
		}
		return answer{}, &AuthError{Method: method, Route: route, Status: resp.StatusCode, Message: clean(e.Error), Source: src}
	}
	return answer{}, &APIError{Method: method, Route: route, Status: resp.StatusCode, Message: clean(e.Error), Field: clean(e.Field)}
}

func (c *Client) unreachable(method, full string, err error) error {
	var te interface{ Timeout() bool } // url.Error, net.Error, and the body's read error
	timedOut := errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &te) && te.Timeout())
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL is said once, by UnreachableError
	}
	return &UnreachableError{Method: method, URL: full, Timeout: c.timeout, TimedOut: timedOut, Err: err}
}

// snippet is the start of a body that is not the API's JSON (a proxy's
// error page, say), on one line, for the error message.
func snippet(raw []byte) string {
	s := strings.Join(strings.Fields(string(raw)), " ")
	if s == "" {
		return "(empty body)"
	}
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return clean(s)
}

// decode reads the answer into v; a shape that is not the contract's is
// an APIError.
func (a answer) decode(v any) error {
	if err := json.Unmarshal(a.raw, v); err != nil {
		return &APIError{Method: a.method, Route: a.route, Status: http.StatusOK,
			Message: "the answer does not follow docs/api.md: " + err.Error()}
	}
	return nil
}
