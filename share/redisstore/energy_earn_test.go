package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/payout"
	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// closeMaps reports whether got and want have the same keys and values
// within rel (relative to the larger value).
func closeMaps(got, want map[string]float64, rel float64) bool {
	if len(got) != len(want) {
		return false
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok || math.Abs(g-w) > rel*math.Max(math.Abs(g), math.Abs(w)) {
			return false
		}
	}
	return true
}

// siteShares records shares of three accounts at two sites, one account
// ("both") mining at both, over minutes PPLNS slices, and returns the
// work per slice start, per site and per account in each slice.
type sliceWork struct {
	total           float64
	sites, accounts map[string]float64
}

func addSiteShares(t *testing.T, s *redisstore.Store, base time.Time, seq0 uint64, n int) map[int64]*sliceWork {
	t.Helper()
	out := map[int64]*sliceWork{}
	for i := range n {
		at := base.Add(time.Duration(i) * 2 * time.Second)
		acct := []string{"alice", "bob", "both"}[i%3]
		site := map[string]string{"alice": "north", "bob": "south"}[acct]
		if acct == "both" {
			site = []string{"north", "south"}[(i/3)%2]
		}
		d := float64(i%4+1) * 0.5
		x := rec(seq0+uint64(i), acct, "rig"+site, d)
		x.Time, x.Site = at, site
		if err := s.AddShare(x); err != nil {
			t.Fatal(err)
		}
		start := at.UnixMilli() / 60_000 * 60_000
		w := out[start]
		if w == nil {
			w = &sliceWork{sites: map[string]float64{}, accounts: map[string]float64{}}
			out[start] = w
		}
		w.total += d
		w.sites[site] += d
		w.accounts[acct] += d
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return out
}

// window is the PPLNS window of need work over slices, computed apart from
// the script: newest slices first, the oldest needed pro rata.
func window(slicesByStart map[int64]*sliceWork, need float64) (sites, accounts map[string]float64) {
	sites, accounts = map[string]float64{}, map[string]float64{}
	starts := slices.Sorted(maps.Keys(slicesByStart))
	var sum float64
	for i := len(starts) - 1; i >= 0; i-- {
		w := slicesByStart[starts[i]]
		f := 1.0
		done := false
		if rem := need - sum; w.total >= rem {
			f, done = rem/w.total, true
		}
		for k, v := range w.sites {
			sites[k] += v * f
		}
		for k, v := range w.accounts {
			accounts[k] += v * f
		}
		if done {
			break
		}
		sum += w.total
	}
	return sites, accounts
}

// TestEnergyBlockSiteWork: a block freezes the sites' work with the
// accounts' — the PPLNS window's (oldest slice pro rata) and the round's
// (PROP) — the accounts' window holds no site field, and a block's credit
// split over the sites (payout.Split) is stored by CreditBlock once: it
// sums exactly to the credited amount, a retry with other figures changes
// nothing, and a split that does not sum to the credits is refused with
// nothing written. A round given back (a block rejected after it was
// found, a PROP orphan) gives its sites' work back too.
func TestEnergyBlockSiteWork(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	ctx := context.Background()
	s := newStore(t, r, redisstore.Options{BatchSize: 7, PPLNSWindow: 2})
	rd := redisstore.NewReader(c, "", 0)
	base := time.Now().Truncate(time.Minute).Add(-20 * time.Minute)
	work := addSiteShares(t, s, base, 1, 240) // 8 minutes: 8 slices
	var total float64
	round := map[string]float64{}
	for _, w := range work {
		total += w.total
		for k, v := range w.sites {
			round[k] += v
		}
	}
	netDiff := total * 0.29 // N × D = 0.58 of the work: the oldest slice taken is cut
	if err := s.AddBlockWait(ctx, &share.BlockRecord{Height: 10, Hash: "0a", Worker: "alice.rignorth", Account: "alice",
		Status: share.BlockAccepted, NetDifficulty: netDiff, Site: "north", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	wantSites, wantAccounts := window(work, 2*netDiff)
	win, err := rd.PPLNSWindow(ctx, "0a")
	if err != nil {
		t.Fatal(err)
	}
	if !closeMaps(win, wantAccounts, 1e-12) {
		t.Errorf("PPLNS window %v, want the accounts' %v", win, wantAccounts)
	}
	siteWin, err := rd.BlockSiteWork(ctx, "0a", true)
	if err != nil {
		t.Fatal(err)
	}
	if !closeMaps(siteWin, wantSites, 1e-12) {
		t.Errorf("sites' window %v, want %v", siteWin, wantSites)
	}
	var sw, aw float64
	for _, v := range siteWin {
		sw += v
	}
	for _, v := range win {
		aw += v
	}
	if math.Abs(sw-aw) > 1e-12*aw || math.Abs(aw-2*netDiff) > 1e-12*aw {
		t.Errorf("sites' window sums to %v, accounts' to %v, want N × D = %v", sw, aw, 2*netDiff)
	}
	siteRound, err := rd.BlockSiteWork(ctx, "0a", false)
	if err != nil || !closeMaps(siteRound, round, 1e-12) {
		t.Errorf("sites' round %v, %v; want %v", siteRound, err, round)
	}

	// The credit, split over the sites as the payout run splits it.
	l := redisstore.NewLedger(c, "")
	lease, err := l.Lock(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	const reward, fee = 312_500_001, 3_125_000
	credits, err := payout.Split(reward-fee, win)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := payout.Split(reward-fee, siteWin)
	if err != nil {
		t.Fatal(err)
	}
	bad := maps.Clone(parts)
	bad["north"]++
	el := redisstore.NewEnergyLedger(c, "")
	cr := redisstore.BlockCredit{Hash: "0a", Credits: credits, Fee: fee, Reward: reward, Sites: bad}
	if applied, err := l.CreditBlock(ctx, lease, cr); !errors.Is(err, redisstore.ErrInvalid) || applied {
		t.Fatalf("CreditBlock with sites summing to one more = %v, %v; want ErrInvalid", applied, err)
	}
	if e, _ := el.BlockEarnings(ctx, []string{"0a"}); len(e) != 0 {
		t.Fatalf("a refused credit wrote earnings %v", e)
	}
	cr.Sites = parts
	if applied, err := l.CreditBlock(ctx, lease, cr); err != nil || !applied {
		t.Fatalf("CreditBlock = %v, %v", applied, err)
	}
	cr.Sites = map[string]int64{"north": reward - fee} // a retry with other figures
	if applied, err := l.CreditBlock(ctx, lease, cr); err != nil || applied {
		t.Fatalf("CreditBlock again = %v, %v; want false, nil", applied, err)
	}
	e, err := el.BlockEarnings(ctx, []string{"0a", "0f"})
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, v := range e["0a"] {
		sum += v
	}
	if len(e) != 1 || !maps.Equal(e["0a"], parts) || sum != reward-fee {
		t.Errorf("earnings %v (sum %d), want %v summing to the credit %d", e, sum, parts, reward-fee)
	}
	for site, v := range parts {
		exact := float64(reward-fee) * siteWin[site] / sw
		if math.Abs(float64(v)-exact) >= 1 {
			t.Errorf("site %s earned %d, its exact share is %v", site, v, exact)
		}
	}

	// Rounds given back carry their sites' work.
	more := addSiteShares(t, s, base.Add(10*time.Minute), 1000, 30)
	moreSites := map[string]float64{}
	for _, w := range more {
		for k, v := range w.sites {
			moreSites[k] += v
		}
	}
	current := func(what string) {
		t.Helper()
		got, err := rd.BlockSiteWork(ctx, redisstore.CurrentRound, false)
		if err != nil || !closeMaps(got, moreSites, 1e-12) {
			t.Errorf("%s: the open round's sites' work %v, %v; want %v", what, got, err, moreSites)
		}
	}
	current("before the block")
	blk := &share.BlockRecord{Height: 11, Hash: "0b", Worker: "bob.rigsouth", Account: "bob",
		Status: share.BlockAccepted, NetDifficulty: netDiff, Site: "south", Time: time.Now()}
	if err := s.AddBlockWait(ctx, blk); err != nil {
		t.Fatal(err)
	}
	if got, _ := rd.BlockSiteWork(ctx, "0b", false); !closeMaps(got, moreSites, 1e-12) {
		t.Errorf("block 0b froze the sites' work %v, want %v", got, moreSites)
	}
	blk.Status, blk.Reason = share.BlockRejected, "test"
	if err := s.AddBlockWait(ctx, blk); err != nil {
		t.Fatal(err)
	}
	current("after the block was rejected")
	if err := s.AddBlockWait(ctx, &share.BlockRecord{Height: 12, Hash: "0c", Worker: "bob.rigsouth", Account: "bob",
		Status: share.BlockAccepted, NetDifficulty: netDiff, Site: "south", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if got, _ := rd.BlockSiteWork(ctx, redisstore.CurrentRound, false); len(got) != 0 {
		t.Errorf("open round after block 0c froze it: sites' work %v", got)
	}
	if _, err := l.OrphanBlock(ctx, lease, "0c", true); err != nil {
		t.Fatal(err)
	}
	current("after block 0c was orphaned (PROP)")
	// No site field leaks into the accounts' slices as read.
	sl, _, err := rd.PPLNSSlices(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range sl {
		for a := range x.Accounts {
			if strings.HasPrefix(a, redisstore.SiteWorkField) {
				t.Fatalf("slice %v lists %q as an account", x.Start, a)
			}
		}
	}
}

// TestEnergyPPSWorth: under pps and fpps each unit-hour holds its shares'
// worth (d / D × v, computed apart by ppsWorth), and the sites' worth sums
// to what the batches added to pps:owed; the block schemes keep none.
func TestEnergyPPSWorth(t *testing.T) {
	site := map[string]string{"acct0": "north", "acct1": "south", "acct2": ""}
	for _, scheme := range []string{"pps", "fpps", "pplns"} {
		t.Run(scheme, func(t *testing.T) {
			r := startRedis(t)
			c := client(t, r)
			ctx := context.Background()
			s := newStore(t, r, redisstore.Options{Scheme: scheme, SubsidyHalvingInterval: 150, BatchSize: 64})
			rs := ppsShares()
			at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
			for i := range rs {
				rs[i].Site = site[rs[i].Account]
				rs[i].Time = at.Add(time.Duration(i) * time.Second)
				if err := s.AddShare(rs[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			want := map[string]float64{}
			if scheme != "pplns" {
				for a, v := range ppsWorth(scheme, 150, rs) {
					u := site[a]
					if u == "" {
						u = redisstore.UnassignedSite
					}
					want[u] += v
				}
			}
			f, err := redisstore.NewEnergyLedger(c, "").Hour(ctx, at.UnixMilli())
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]float64{}
			var sum float64
			for _, u := range f.Units {
				if u.Worth != 0 {
					got[u.Unit] = u.Worth
				}
				sum += u.Worth
			}
			if !closeMaps(got, want, 1e-12) {
				t.Errorf("units' worth %v, want %v", got, want)
			}
			var owed float64
			for _, v := range ppsOwed(t, s) {
				owed += v
			}
			if math.Abs(sum-owed) > 1e-12*owed {
				t.Errorf("sites' worth sums to %v, pps:owed to %v", sum, owed)
			}
		})
	}
}

// TestEnergySiteWorkMemory measures what docs/energy.md states: the bytes
// the sites' fields add to a PPLNS slice (one field per site with shares
// in the slice) with 100 sites and 200 accounts, and the size of a
// block's earnings hash (en:earn:<hash>) of 100 sites. Each slice is
// measured with Redis's own MEMORY USAGE, once with every share
// unassigned (one site field) and once spread over 100 sites.
func TestEnergySiteWorkMemory(t *testing.T) {
	const accounts, sites = 200, 100
	usage := func(c interface {
		MemoryUsage(context.Context, string, ...int) *redis.IntCmd
	}, key string) int64 {
		n, err := c.MemoryUsage(context.Background(), key, 0).Result()
		if err != nil {
			t.Fatalf("MEMORY USAGE %s: %v", key, err)
		}
		return n
	}
	var bucketField float64
	slice := func(spread bool) int64 {
		r := startRedis(t)
		c := client(t, r)
		s := newStore(t, r, redisstore.Options{})
		at := time.Now().Truncate(time.Minute).Add(-5 * time.Minute)
		for a := range accounts {
			x := rec(uint64(a+1), fmt.Sprintf("bc1q%038d", a), "rig", 407_123.456789)
			x.Time = at.Add(time.Duration(a) * 100 * time.Millisecond)
			if spread {
				x.Site = fmt.Sprintf("site-%03d", a%sites)
			}
			if err := s.AddShare(x); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if spread {
			// The work buckets (en:m:<bucket>): one field per site.
			keys, err := c.Keys(context.Background(), "tarbela:{acct}:en:m:*").Result()
			if err != nil {
				t.Fatal(err)
			}
			var mem, fields int64
			for _, k := range keys {
				mem += usage(c, k)
				fields += c.HLen(context.Background(), k).Val()
			}
			bucketField = float64(mem) / float64(fields)
			t.Logf("work buckets: %d keys, %d fields, %d bytes: %.1f bytes per site-bucket", len(keys), fields, mem, bucketField)
		}
		return usage(c, "tarbela:{acct}:pplns:s:"+strconv.FormatInt(at.UnixMilli(), 10))
	}
	one, many := slice(false), slice(true)
	perSite := float64(many-one) / (sites - 1)
	t.Logf("a slice of %d accounts: %d bytes with one site, %d with %d sites: %.1f bytes per site field",
		accounts, one, many, sites, perSite)
	if bucketField <= 0 || bucketField > 128 {
		t.Errorf("%.1f bytes per site-bucket; docs/energy.md states at most 128", bucketField)
	}
	if perSite <= 0 || perSite > 128 {
		t.Errorf("%.1f bytes per site field in a slice; docs/energy.md states at most 128", perSite)
	}
	r := startRedis(t)
	c := client(t, r)
	l := redisstore.NewLedger(c, "")
	ctx := context.Background()
	lease, err := l.Lock(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	h := hash64("block")
	c.HSet(ctx, "tarbela:{acct}:block:"+h, "hash", h, "height", 1, "status", "accepted")
	parts := map[string]int64{}
	var sum int64
	for i := range sites {
		parts[fmt.Sprintf("site-%03d", i)] = 3_125_000_000/sites + int64(i)
		sum += 3_125_000_000/sites + int64(i)
	}
	if _, err := l.CreditBlock(ctx, lease, redisstore.BlockCredit{Hash: h, Credits: map[string]int64{"acct": sum},
		Reward: sum, Sites: parts}); err != nil {
		t.Fatal(err)
	}
	earn := usage(c, "tarbela:{acct}:en:earn:"+h)
	t.Logf("a block's earnings of %d sites: %d bytes", sites, earn)
	if earn <= 0 || earn > 64*sites {
		t.Errorf("en:earn of %d sites is %d bytes; docs/energy.md states at most %d", sites, earn, 64*sites)
	}
}
