package ctl

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tarbela-pool/tarbela/internal/human"
)

// connections reads GET /api/v1/admin/connections; with --json it
// prints the answer as it came (printed).
func (s *session) connections(q url.Values) (conns []Connection, printed bool, err error) {
	var r struct {
		Connections []Connection `json:"connections"`
	}
	printed, err = s.fetch(http.MethodGet, "/api/v1/admin/connections", q, nil, true, &r)
	return r.Connections, printed, err
}

// cmdConnections: GET /api/v1/admin/connections[?account=A&limit=N].
func cmdConnections(s *session, args []string) error {
	fs := s.flags()
	account := fs.String("account", "", "only the connections of this account (`address`)")
	limit := fs.Int("limit", 0, "at most `N` connections (default: the API's)")
	if _, err := s.parse(fs, args, 0); err != nil {
		return err
	}
	q := url.Values{}
	if set(fs, "account") {
		if strings.TrimSpace(*account) == "" {
			return usagef("--account %q: want an address", *account)
		}
		q.Set("account", *account)
	}
	if set(fs, "limit") {
		if *limit < 1 {
			return usagef("--limit %d: must be at least 1", *limit)
		}
		q.Set("limit", strconv.Itoa(*limit))
	}
	conns, printed, err := s.connections(q)
	if printed || err != nil {
		return err
	}
	t := newTable(s.out, "ID", "ADDRESS", "WORKERS", "DIFFICULTY", "HASHRATE", "CONNECTED", "EXTRANONCE1", "AGENT")
	for _, c := range conns {
		t.row(strconv.FormatUint(c.ID, 10), c.Address, strings.Join(c.Workers, ","), human.Difficulty(c.Difficulty),
			human.Hashrate(c.Hashrate), human.Ago(s.now, c.Connected), c.Extranonce1, c.Agent)
	}
	return t.flush()
}

// banAddress checks the ADDRESS of ban and unban: an IP address or a
// prefix (the pool bans IPv6 by prefix, 2001:db8:1:2::/64).
func banAddress(a string) error {
	if _, err := netip.ParseAddr(a); err == nil {
		return nil
	}
	if _, err := netip.ParsePrefix(a); err == nil {
		return nil
	}
	return usagef("%q: want an IP address (203.0.113.7) or a prefix (2001:db8:1:2::/64)", a)
}

// cmdBan: POST /api/v1/admin/bans {"address": A, "duration": D}.
func cmdBan(s *session, args []string) error {
	fs := s.flags()
	dur := fs.String("for", "10m", "how long: a `duration` such as 30s, 10m, 24h")
	pos, err := s.parse(fs, args, 1)
	if err != nil {
		return err
	}
	if err := banAddress(pos[0]); err != nil {
		return err
	}
	if d, err := time.ParseDuration(*dur); err != nil || d <= 0 {
		return usagef("--for %q: want a positive duration such as 30s, 10m, 24h", *dur)
	}
	body := struct {
		Address  string `json:"address"`
		Duration string `json:"duration"`
	}{pos[0], *dur}
	var b Ban
	if printed, err := s.fetch(http.MethodPost, "/api/v1/admin/bans", nil, body, true, &b); printed || err != nil {
		return err
	}
	_, err = fmt.Fprintf(s.out, "banned %s until %s (%s)\n", clean(b.Address), stamp(b.Until), human.Ago(s.now, b.Until))
	return err
}

// cmdUnban: DELETE /api/v1/admin/bans/{address}.
func cmdUnban(s *session, args []string) error {
	pos, err := s.parse(s.flags(), args, 1)
	if err != nil {
		return err
	}
	if err := banAddress(pos[0]); err != nil {
		return err
	}
	var r struct {
		Unbanned bool `json:"unbanned"`
	}
	if printed, err := s.fetch(http.MethodDelete, "/api/v1/admin/bans/"+url.PathEscape(pos[0]), nil, nil, true, &r); printed || err != nil {
		return err
	}
	msg := "unbanned " + pos[0]
	if !r.Unbanned {
		msg = pos[0] + " was not banned"
	}
	_, err = fmt.Fprintln(s.out, msg)
	return err
}

// cmdBans: GET /api/v1/admin/bans.
func cmdBans(s *session, args []string) error {
	if _, err := s.parse(s.flags(), args, 0); err != nil {
		return err
	}
	var r struct {
		Bans []Ban `json:"bans"`
	}
	if printed, err := s.fetch(http.MethodGet, "/api/v1/admin/bans", nil, nil, true, &r); printed || err != nil {
		return err
	}
	t := newTable(s.out, "ADDRESS", "UNTIL", "ENDS")
	for _, b := range r.Bans {
		t.row(b.Address, stamp(b.Until), human.Ago(s.now, b.Until))
	}
	return t.flush()
}

// cmdKick: POST /api/v1/admin/kick {"worker": W} or {"address": A}.
func cmdKick(s *session, args []string) error {
	fs := s.flags()
	worker := fs.String("worker", "", "close the connections of this `worker`")
	address := fs.String("address", "", "close the connections from this `address`")
	if _, err := s.parse(fs, args, 0); err != nil {
		return err
	}
	if set(fs, "worker") == set(fs, "address") {
		return usagef("give one of --worker and --address")
	}
	body := map[string]string{"worker": *worker}
	if set(fs, "address") {
		body = map[string]string{"address": *address}
	}
	for flag, v := range body {
		if strings.TrimSpace(v) == "" {
			return usagef("--%s is empty", flag)
		}
	}
	var r struct {
		Kicked int64 `json:"kicked"`
	}
	if printed, err := s.fetch(http.MethodPost, "/api/v1/admin/kick", nil, body, true, &r); printed || err != nil {
		return err
	}
	_, err := fmt.Fprintf(s.out, "kicked %d %s\n", r.Kicked, plural(r.Kicked, "connection"))
	return err
}

// cmdReload: POST /api/v1/admin/reload.
func cmdReload(s *session, args []string) error {
	if _, err := s.parse(s.flags(), args, 0); err != nil {
		return err
	}
	var r struct {
		Applied []string `json:"applied"`
		Restart []string `json:"restart"`
	}
	if printed, err := s.fetch(http.MethodPost, "/api/v1/admin/reload", nil, nil, true, &r); printed || err != nil {
		return err
	}
	list := func(keys []string) string {
		if len(keys) == 0 {
			return "none"
		}
		return clean(strings.Join(keys, ", "))
	}
	_, err := fmt.Fprintf(s.out, "applied: %s\nneeds a restart: %s\n", list(r.Applied), list(r.Restart))
	return err
}

// cmdDifficulty: POST /api/v1/admin/difficulty {"worker": W, "difficulty": D}.
func cmdDifficulty(s *session, args []string) error {
	pos, err := s.parse(s.flags(), args, 2)
	if err != nil {
		return err
	}
	worker := pos[0]
	if strings.TrimSpace(worker) == "" {
		return usagef("WORKER is empty")
	}
	d, err := strconv.ParseFloat(pos[1], 64)
	if err != nil || d <= 0 || math.IsInf(d, 0) || math.IsNaN(d) {
		return usagef("D %q: want a share difficulty above 0, such as 65536 or 0.5", pos[1])
	}
	body := struct {
		Worker     string  `json:"worker"`
		Difficulty float64 `json:"difficulty"`
	}{worker, d}
	var r struct {
		Sessions int64 `json:"sessions"`
	}
	if printed, err := s.fetch(http.MethodPost, "/api/v1/admin/difficulty", nil, body, true, &r); printed || err != nil {
		return err
	}
	if r.Sessions == 0 {
		_, err = fmt.Fprintf(s.out, "no session of %s on this node: nothing changed\n", clean(worker))
		return err
	}
	_, err = fmt.Fprintf(s.out, "difficulty %s on %d %s of %s\n", human.Difficulty(d), r.Sessions, plural(r.Sessions, "session"), clean(worker))
	return err
}

// stamp writes an absolute time, UTC, to the second.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func plural(n int64, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
