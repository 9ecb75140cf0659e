package ctl

import (
	"cmp"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/tarbela-pool/tarbela/internal/human"
)

// accountFlag adds --account, which may be given more than once.
func accountFlag(fs *flag.FlagSet) *stringList {
	var l stringList
	fs.Var(&l, "account", "an account (the miner's payout `address`); give it more than once for several")
	return &l
}

// accountPages reads the page of each account (GET
// /api/v1/accounts/{address}), one after another; with --json it prints
// them as they came, one JSON document each (printed).
func (s *session) accountPages(accounts []string) (pages []Account, printed bool, err error) {
	for _, a := range accounts {
		if a == "" || strings.IndexFunc(a, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
			return nil, false, usagef("--account %q: want an address", a)
		}
	}
	answers := make([]answer, len(accounts))
	for i, a := range accounts {
		if answers[i], err = s.c.call(s.ctx, http.MethodGet, "/api/v1/accounts/"+url.PathEscape(a), nil, nil, false); err != nil {
			return nil, false, err
		}
	}
	if s.json {
		return nil, true, s.printJSON(answers...)
	}
	pages = make([]Account, len(answers))
	for i, a := range answers {
		if err := a.decode(&pages[i]); err != nil {
			return nil, false, err
		}
	}
	return pages, false, nil
}

// workerRow is one line of `tarbelactl workers`.
type workerRow struct {
	account, name string
	hashrate      float64
	last          time.Time
	cells         []string
}

// sortWorkers orders rows by hashrate (highest first), name, or last
// share (latest first); ties go by name, then account.
func sortWorkers(rows []workerRow, by string) {
	slices.SortStableFunc(rows, func(a, b workerRow) int {
		var c int
		switch by {
		case "hashrate":
			c = cmp.Compare(b.hashrate, a.hashrate)
		case "last":
			c = b.last.Compare(a.last)
		}
		return cmp.Or(c, cmp.Compare(a.name, b.name), cmp.Compare(a.account, b.account))
	})
}

// cmdWorkers: GET /api/v1/accounts/{address} for each --account; without
// one, GET /api/v1/admin/connections (admin).
func cmdWorkers(s *session, args []string) error {
	fs := s.flags()
	accounts := accountFlag(fs)
	by := fs.String("sort", "hashrate", "order: hashrate (highest first), name, or last (latest share first; needs --account)")
	limit := fs.Int("limit", 0, "show the first `N` workers in that order (default all)")
	if _, err := s.parse(fs, args, 0); err != nil {
		return err
	}
	switch *by {
	case "hashrate", "name":
	case "last":
		if len(*accounts) == 0 {
			return usagef("--sort last needs --account: a node's connections do not carry the time of their last share")
		}
	default:
		return usagef("--sort %q: want hashrate, name or last", *by)
	}
	if set(fs, "limit") && *limit < 1 {
		return usagef("--limit %d: must be at least 1", *limit)
	}
	var (
		rows    []workerRow
		header  []string
		note    string
		printed bool
		err     error
	)
	if len(*accounts) == 0 {
		var conns []Connection
		if conns, printed, err = s.connections(nil); printed || err != nil {
			return err
		}
		header, rows, note = connectionWorkers(conns, s.now)
	} else {
		var pages []Account
		if pages, printed, err = s.accountPages(*accounts); printed || err != nil {
			return err
		}
		header, rows = accountWorkers(pages, s.now)
	}
	sortWorkers(rows, *by)
	if *limit > 0 && len(rows) > *limit {
		rows = rows[:*limit]
	}
	t := newTable(s.out, header...)
	for _, r := range rows {
		t.row(r.cells...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if note != "" {
		_, err := fmt.Fprintln(s.out, note)
		return err
	}
	return nil
}

// accountWorkers are the rows of the workers of account pages; an
// ACCOUNT column comes first when there are several.
func accountWorkers(pages []Account, now time.Time) (header []string, rows []workerRow) {
	several := len(pages) > 1
	header = []string{"WORKER", "HASHRATE (1h)", "LAST SHARE", "DIFFICULTY", "REJECTS", "ONLINE"}
	if several {
		header = append([]string{"ACCOUNT"}, header...)
	}
	for _, p := range pages {
		for _, w := range p.Workers {
			cells := []string{w.Name, human.Hashrate(w.Hashrate), human.Ago(now, w.LastShare),
				optional(w.Difficulty, human.Difficulty), optional(w.RejectRate, percent), yesNo(w.Online)}
			if several {
				cells = append([]string{p.Account}, cells...)
			}
			rows = append(rows, workerRow{account: p.Account, name: w.Name, hashrate: w.Hashrate, last: w.LastShare, cells: cells})
		}
	}
	return header, rows
}

// connectionWorkers are the rows of the workers of a node's connections,
// one per worker; the note names the connections that carry several,
// whose hashrate and difficulty each of their workers shows.
func connectionWorkers(conns []Connection, now time.Time) (header []string, rows []workerRow, note string) {
	header = []string{"WORKER", "HASHRATE", "DIFFICULTY", "ADDRESS", "CONN", "CONNECTED"}
	var shared []string
	for _, c := range conns {
		id := strconv.FormatUint(c.ID, 10)
		if len(c.Workers) > 1 {
			shared = append(shared, id)
		}
		for _, w := range c.Workers {
			rows = append(rows, workerRow{name: w, hashrate: c.Hashrate, cells: []string{w,
				human.Hashrate(c.Hashrate), human.Difficulty(c.Difficulty), c.Address, id, human.Ago(now, c.Connected)}})
		}
	}
	if len(shared) > 0 {
		note = "hashrate and difficulty are per connection; connections with several workers: " + strings.Join(shared, ", ")
	}
	return header, rows, note
}

// cmdBalances: GET /api/v1/accounts/{address} for each --account.
func cmdBalances(s *session, args []string) error {
	pages, printed, err := s.requiredPages(args)
	if printed || err != nil {
		return err
	}
	t := newTable(s.out, "ACCOUNT", "BALANCE", "PENDING", "PAID")
	for _, p := range pages {
		t.row(p.Account, human.BTC(p.Balance), human.BTC(p.Pending), human.BTC(p.Paid))
	}
	return t.flush()
}

// cmdPayments: GET /api/v1/accounts/{address} for each --account.
func cmdPayments(s *session, args []string) error {
	pages, printed, err := s.requiredPages(args)
	if printed || err != nil {
		return err
	}
	header := []string{"PAID", "AMOUNT", "STATE", "BATCH", "TXID"}
	several := len(pages) > 1
	if several {
		header = append([]string{"ACCOUNT"}, header...)
	}
	t := newTable(s.out, header...)
	for _, p := range pages {
		for _, pay := range p.Payments {
			cells := []string{human.Ago(s.now, pay.Time), human.BTC(pay.Amount), pay.State, pay.Batch, pay.TxID}
			if several {
				cells = append([]string{p.Account}, cells...)
			}
			t.row(cells...)
		}
	}
	return t.flush()
}

// requiredPages parses the flags of balances and payments (--account,
// at least once) and reads the accounts' pages.
func (s *session) requiredPages(args []string) (pages []Account, printed bool, err error) {
	fs := s.flags()
	accounts := accountFlag(fs)
	if _, err := s.parse(fs, args, 0); err != nil {
		return nil, false, err
	}
	if len(*accounts) == 0 {
		return nil, false, usagef("--account is required (%s)", s.usage())
	}
	return s.accountPages(*accounts)
}

// optional writes a value the API may not know (null) as "-".
func optional(v *float64, f func(float64) string) string {
	if v == nil {
		return ""
	}
	return f(*v)
}

// percent writes a fraction (0.012) as a percentage ("1.20%").
func percent(f float64) string { return strconv.FormatFloat(100*f, 'f', 2, 64) + "%" }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
