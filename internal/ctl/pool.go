package ctl

import (
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tarbela-pool/tarbela/internal/human"
)

// maxBlocks is the largest limit GET /api/v1/blocks takes.
const maxBlocks = 1000

// cmdStatus: GET /api/v1/pool.
func cmdStatus(s *session, args []string) error {
	if _, err := s.parse(s.flags(), args, 0); err != nil {
		return err
	}
	var p Pool
	if printed, err := s.fetch(http.MethodGet, "/api/v1/pool", nil, nil, false, &p); printed || err != nil {
		return err
	}
	h := p.Hashrate
	t := newTable(s.out, "hashrate", fmt.Sprintf("%s (10m)  %s (1h)  %s (24h)",
		human.Hashrate(h.M10), human.Hashrate(h.H1), human.Hashrate(h.H24)))
	t.row("online", fmt.Sprintf("%d miners, %d workers", p.MinersOnline, p.WorkersOnline))
	shares := fmt.Sprintf("%d accepted, %d rejected", p.Shares.Accepted, p.Shares.Rejected)
	if all := p.Shares.Accepted + p.Shares.Rejected; all > 0 {
		shares += fmt.Sprintf(" (%.2f%%)", 100*float64(p.Shares.Rejected)/float64(all))
	}
	t.row("shares", shares)
	t.row("network", fmt.Sprintf("height %d, difficulty %s", p.Network.Height, human.Difficulty(p.Network.Difficulty)))
	last := "none yet"
	if b := p.LastBlock; b != nil {
		last = fmt.Sprintf("%d %s %s (%d confirmations), %s BTC, by %s, %s", b.Height, shortHash(b.Hash), b.Status,
			b.Confirmations, human.BTC(b.Reward), finder(*b), human.Ago(s.now, b.Time))
	}
	t.row("last block", last)
	t.row("nodes", strconv.FormatInt(p.Nodes, 10))
	return t.flush()
}

// cmdBlocks: GET /api/v1/blocks[?limit=N].
func cmdBlocks(s *session, args []string) error {
	fs := s.flags()
	limit := fs.Int("limit", 0, "how many blocks, newest first: 1..1000 (default: the API's)")
	if _, err := s.parse(fs, args, 0); err != nil {
		return err
	}
	q := url.Values{}
	if set(fs, "limit") {
		if *limit < 1 || *limit > maxBlocks {
			return usagef("--limit %d: must be 1..%d", *limit, maxBlocks)
		}
		q.Set("limit", strconv.Itoa(*limit))
	}
	var r struct {
		Blocks []Block `json:"blocks"`
	}
	if printed, err := s.fetch(http.MethodGet, "/api/v1/blocks", q, nil, false, &r); printed || err != nil {
		return err
	}
	t := newTable(s.out, "HEIGHT", "HASH", "STATUS", "CONF", "REWARD", "ACCOUNT", "FINDER", "FOUND")
	for _, b := range r.Blocks {
		t.row(strconv.FormatInt(b.Height, 10), shortHash(b.Hash), b.Status, strconv.FormatInt(b.Confirmations, 10),
			human.BTC(b.Reward), b.Account, b.Finder, human.Ago(s.now, b.Time))
	}
	return t.flush()
}

// shortHash keeps a block hash's last 16 digits: its first ones are
// zeros on every block.
func shortHash(h string) string {
	if len(h) <= 16 {
		return h
	}
	return "…" + h[len(h)-16:]
}

// finder is who found a block: its worker, else its account.
func finder(b Block) string {
	if b.Finder != "" {
		return b.Finder
	}
	return b.Account
}

// set says whether the flag name was given.
func set(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}
