package api

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/address/v2"
)

// Input checks. Each names the field at fault in a 400.

// query returns the request's query parameters after checking that each is
// one of allowed and given once.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badInput("query", "malformed query string")
	}
	for k, vs := range q {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return nil, badInput(clip(k), "unknown query parameter: this route takes none")
			}
			return nil, badInput(clip(k), "unknown query parameter: this route takes %s", strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return nil, badInput(k, "given %d times", len(vs))
		}
	}
	return q, nil
}

// clip bounds a client's string echoed in an error.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// limit reads the query parameter limit: def when absent, else lo..hi.
func limit(q url.Values, def, lo, hi int) (int, error) {
	v := q.Get("limit")
	if v == "" {
		if q.Has("limit") {
			return 0, badInput("limit", "must be %d..%d (got an empty value)", lo, hi)
		}
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badInput("limit", "must be %d..%d (got %q)", lo, hi, clip(v))
	}
	return n, nil
}

// Hashrate series bounds.
const (
	maxWindow     = 24 * time.Hour
	minStep       = time.Minute
	defaultWindow = 24 * time.Hour
	defaultStep   = 10 * time.Minute
)

// series reads window and step: a window of at most 24 h in whole steps,
// a step of whole minutes, at least one.
func series(q url.Values) (window, step time.Duration, err error) {
	window, err = duration(q, "window", defaultWindow)
	if err != nil {
		return 0, 0, err
	}
	step, err = duration(q, "step", defaultStep)
	if err != nil {
		return 0, 0, err
	}
	switch {
	case window <= 0 || window > maxWindow:
		return 0, 0, badInput("window", "must be more than 0 and at most 24h (got %s)", window)
	case step < minStep || step%minStep != 0:
		return 0, 0, badInput("step", "must be a whole number of minutes, at least 1m (got %s)", step)
	case step > window:
		return 0, 0, badInput("step", "must be at most the window %s (got %s)", window, step)
	case window%step != 0:
		return 0, 0, badInput("window", "must be a whole number of steps of %s (got %s)", step, window)
	}
	return window, step, nil
}

// duration reads a Go duration ("10m", "1h30m") from q[name], def when
// absent.
func duration(q url.Values, name string, def time.Duration) (time.Duration, error) {
	if !q.Has(name) {
		return def, nil
	}
	d, err := time.ParseDuration(q.Get(name))
	if err != nil {
		return 0, badInput(name, "must be a duration such as \"10m\" or \"24h\" (got %q)", clip(q.Get(name)))
	}
	return d, nil
}

// maxAddressLen bounds an account address (bech32 addresses are at most
// 90 characters).
const maxAddressLen = 100

// accountAddress checks that s is an address of the pool's network.
func (s *Server) accountAddress(v string) (string, error) {
	if v == "" || len(v) > maxAddressLen {
		return "", badInput("address", "must be a %s address (got %q)", s.o.Network.Name, clip(v))
	}
	a, err := address.DecodeAddress(v, s.o.Network)
	if err != nil || !a.IsForNet(s.o.Network) {
		return "", badInput("address", "must be a %s address (got %q)", s.o.Network.Name, clip(v))
	}
	return v, nil
}

// ipAddress reads an IP address, or an IPv6 prefix as the bans list shows
// it (which stands for its first address).
func ipAddress(field, v string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(v); err == nil && a.Zone() == "" {
		return a.Unmap(), nil
	}
	if p, err := netip.ParsePrefix(v); err == nil {
		return p.Masked().Addr().Unmap(), nil
	}
	return netip.Addr{}, badInput(field, "must be an IP address such as \"203.0.113.7\" or \"2001:db8::1\", or an IPv6 prefix as the bans list shows it (got %q)", clip(v))
}

// maxWorkerLen bounds a worker name (a Stratum username).
const maxWorkerLen = 128

// workerName checks a worker name: 1..128 printable characters.
func workerName(v string) (string, error) {
	if v == "" || len(v) > maxWorkerLen || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", badInput("worker", "must be a worker name as the miner authorized it, 1..%d printable characters (got %q)", maxWorkerLen, clip(v))
	}
	return v, nil
}

// body decodes the request's JSON object into dst: no unknown field, no
// trailing data, at most maxBody bytes.
func body(r *http.Request, dst any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return err
		case errors.Is(err, io.EOF):
			return badInput("body", "want a JSON object")
		case errors.As(err, &te) && te.Field != "":
			return badInput(te.Field, "must be a JSON %s (got %s)", jsonKind(te.Type.Kind().String()), te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
			return badInput(clip(name), "unknown field")
		}
		return badInput("body", "want a JSON object: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badInput("body", "want one JSON object and nothing after it")
	}
	return nil
}

// jsonKind names a Go kind as JSON knows it.
func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "float"), strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"):
		return "number"
	case k == "bool":
		return "boolean"
	}
	return k
}

// positive checks a difficulty: a finite number above 0.
func positive(field string, v *float64) (float64, error) {
	if v == nil {
		return 0, badInput(field, "is required")
	}
	if !(*v > 0) || math.IsInf(*v, 0) {
		return 0, badInput(field, "must be a number above 0 (got %v)", *v)
	}
	return *v, nil
}

// maxBan bounds an admin ban.
const maxBan = 365 * 24 * time.Hour

// banDuration reads a ban's duration: a Go duration, more than 0, at most
// a year.
func banDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > maxBan {
		return 0, badInput("duration", "must be a duration such as \"10m\" or \"24h\", more than 0 and at most 8760h (got %q)", clip(v))
	}
	return d, nil
}

// required reports a missing string field.
func required(field, v string) error {
	if v == "" {
		return badInput(field, "is required")
	}
	return nil
}
