package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The energy audit's earnings (docs/energy.md, "BTC earned"): what each
// site earned from a block is written by CreditBlock, in the credit's own
// script, to en:earn:<hash> (site → satoshis); the site work the split
// is made by is frozen with the block (energyRoundLua).

func (k keys) energyEarn(hash string) string { return k.base + "en:earn:" + hash }

// accountFloats parses a hash of float fields that are accounts, skipping
// the sites' fields (SiteWorkField).
func accountFloats(m map[string]string) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		if !strings.HasPrefix(k, SiteWorkField) {
			out[k] = parseFloat(v)
		}
	}
	return out
}

// siteFloats returns the sites' fields (SiteWorkField<site>) of a hash, by
// site.
func siteFloats(m map[string]string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if site, ok := strings.CutPrefix(k, SiteWorkField); ok {
			out[site] = parseFloat(v)
		}
	}
	return out
}

// BlockSiteWork returns the work per energy site that a block's credit is
// shared by: with window true, the PPLNS window the block froze
// (round:<hash>:pplns, the oldest slice pro rata, as the accounts'); else
// the block's round (PROP). It is empty for blocks frozen before sites'
// work was kept, and once the round is released or the block credited
// (CreditBlock drops the PPLNS window: read it before).
func (s *Reader) BlockSiteWork(ctx context.Context, hash string, window bool) (map[string]float64, error) {
	key := s.k.roundMeta(hash)
	if window {
		key = s.k.roundPPLNS(hash)
	}
	m, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read the site work of block %s: %w", hash, err)
	}
	return siteFloats(m), nil
}

// appendSiteEarnings appends CreditBlock's site section (a count, then
// (site, satoshis) pairs in site order) to args, after checking that the
// sites' parts sum to the accounts' credits.
func appendSiteEarnings(args []any, c BlockCredit, credited int64) ([]any, error) {
	if c.Sites == nil {
		return append(args, "0"), nil
	}
	sites := make([]string, 0, len(c.Sites))
	var sum int64
	for site, v := range c.Sites {
		if !validName(site) || strings.ContainsAny(site, "|") || v < 0 || v > maxSatoshi {
			return nil, fmt.Errorf("site earning %q %d", site, v)
		}
		sum += v
		sites = append(sites, site)
	}
	if sum != credited {
		return nil, fmt.Errorf("the sites' earnings sum to %d, the credits to %d", sum, credited)
	}
	slices.Sort(sites)
	args = append(args, strconv.Itoa(len(sites)))
	for _, site := range sites {
		args = append(args, site, fmtInt(c.Sites[site]))
	}
	return args, nil
}

// BlockEarnings returns what each energy site earned from each of the
// given blocks (satoshis, by block hash then site), as CreditBlock stored
// it; a block not credited yet, or credited without a split, is missing.
func (l *EnergyLedger) BlockEarnings(ctx context.Context, hashes []string) (map[string]map[string]int64, error) {
	out := map[string]map[string]int64{}
	if len(hashes) == 0 {
		return out, nil
	}
	pipe := l.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(hashes))
	for i, h := range hashes {
		cmds[i] = pipe.HGetAll(ctx, l.k.energyEarn(h))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redisstore: read block earnings: %w", err)
	}
	for i, h := range hashes {
		m := cmds[i].Val()
		if len(m) == 0 {
			continue
		}
		e := make(map[string]int64, len(m))
		for site, v := range m {
			e[site] = parseInt(v)
		}
		out[h] = e
	}
	return out, nil
}
