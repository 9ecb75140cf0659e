package energy

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// Closer closes hours: it freezes each hour's figures, builds a record per
// site and seals them into the chain. Several closers (nodes, cron) may
// run at once: the chain's append is a compare-and-set on its head, and
// freezing is idempotent.
type Closer struct {
	Ledger *redisstore.EnergyLedger
	Sites  *Sites
	Key    ed25519.PrivateKey
	// Grace is how long after an hour ends it is closed (10 min by
	// default): batches still in a node's queue or journal land first.
	Grace time.Duration
	// Now is the clock (time.Now by default); tests move it.
	Now func() time.Time
	// Ready, when set, must report true for an hour to close: the
	// daemon's store has no backlog (queue and journal empty).
	Ready func() bool
	// Bucket is the width of the work buckets (redisstore
	// Options.EnergyBucket), for keeping curtailment windows.
	Bucket time.Duration
	Log    *zap.Logger
}

func (c *Closer) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// CloseDue closes every open hour that ended at least Grace ago, oldest
// first, then seals late figures of closed hours and keeps the buckets of
// curtailment windows. It returns the hours it sealed (start ms).
func (c *Closer) CloseDue(ctx context.Context) ([]int64, error) {
	grace := c.Grace
	if grace == 0 {
		grace = 10 * time.Minute
	}
	if c.Ready != nil && !c.Ready() {
		return nil, nil
	}
	before := c.now().Add(-grace).UnixMilli() - redisstore.EnergyHour + 1
	hours, err := c.Ledger.OpenHours(ctx, before)
	if err != nil {
		return nil, err
	}
	var done []int64
	for _, h := range hours {
		f, err := c.Ledger.FreezeHour(ctx, h)
		if err != nil {
			return done, err
		}
		if err := c.seal(ctx, f, false); err != nil {
			return done, err
		}
		done = append(done, h)
	}
	late, err := c.Ledger.LateHours(ctx)
	if err != nil {
		return done, err
	}
	for _, h := range late {
		f, err := c.Ledger.TakeLate(ctx, h)
		if err != nil {
			return done, err
		}
		if err := c.seal(ctx, f, true); err != nil {
			return done, err
		}
	}
	if err := c.keepWindows(ctx); err != nil {
		return done, err
	}
	return done, nil
}

// seal appends f's records to the chain, retrying when another closer
// moved the head (and stopping when it sealed this hour already).
func (c *Closer) seal(ctx context.Context, f redisstore.HourFigures, late bool) error {
	for range 10 {
		head, err := c.Ledger.Head(ctx)
		if err != nil {
			return err
		}
		if !late && head.Hour >= f.Hour {
			// Sealed already (by another closer, or before a crash that
			// kept the hour in the open index): drop it from the index.
			return c.Ledger.AppendChain(ctx, head, head.Hash, f.Hour, false, nil)
		}
		recs := c.Records(f, late)
		lines := make([]string, len(recs))
		seq, prev := head.Seq, head.Hash
		for i := range recs {
			b, err := recs[i].Seal(seq, prev, c.Key)
			if err != nil {
				return err
			}
			lines[i] = string(b)
			seq, prev = recs[i].Seq, recs[i].Hash
		}
		err = c.Ledger.AppendChain(ctx, head, prev, f.Hour, late, lines)
		if !errors.Is(err, redisstore.ErrChainMoved) {
			return err
		}
	}
	return fmt.Errorf("energy: the chain kept moving while sealing hour %d", f.Hour)
}

// Records builds the site records of an hour's figures: one per
// configured site (work 0 when it had none) and one per other site that
// had shares (unassigned, or a site no longer configured). Late figures
// give records only for sites with figures.
func (c *Closer) Records(f redisstore.HourFigures, late bool) []Record {
	bySite := map[string][]redisstore.UnitHour{}
	if !late {
		for _, s := range c.Sites.List() {
			bySite[s.Name] = nil
		}
	}
	for _, u := range f.Units {
		s := SiteOf(u.Unit)
		bySite[s] = append(bySite[s], u)
	}
	names := make([]string, 0, len(bySite))
	for s := range bySite {
		names = append(names, s)
	}
	sort.Strings(names)
	kind := "hour"
	if late {
		kind = "late"
	}
	out := make([]Record, 0, len(names))
	for _, s := range names {
		r := Record{Kind: kind, Hour: time.UnixMilli(f.Hour).UTC().Format(time.RFC3339), Site: s,
			PoolWork: f.PoolWork, Units: []UnitRecord{}}
		var est estimateSum
		var first, last int64
		for _, u := range bySite[s] {
			r.Work += u.Work
			r.WorkSq += u.SumSq
			r.Accepted += u.Accepted
			r.Rejected += u.Rejected
			r.PPSWorth += u.Worth
			if u.Workers >= 0 {
				r.Workers += u.Workers
			}
			if u.First > 0 && (first == 0 || u.First < first) {
				first = u.First
			}
			last = max(last, u.Last)
			j, o, ok := c.Sites.Efficiency(u.Unit)
			ur := UnitRecord{Unit: u.Unit, Work: u.Work, WorkSq: u.SumSq, Accepted: u.Accepted}
			if ok {
				ur.JPerTH, ur.Overhead = j, o
				est.add(KWh(u.Work, j, o), RelativeError95(u.Work, u.SumSq))
			}
			r.Units = append(r.Units, ur)
		}
		if late {
			r.Workers = -1
		}
		if first > 0 {
			r.First = time.UnixMilli(first).UTC().Format(time.RFC3339Nano)
			r.Last = time.UnixMilli(last).UTC().Format(time.RFC3339Nano)
		}
		e := est.estimate()
		r.KWh, r.KWhLow, r.KWhHigh = e.KWh, e.Low, e.High
		out = append(out, r)
	}
	return out
}

// Run closes due hours every interval until ctx ends; errors are logged
// (Redis may be away) and retried at the next tick.
func (c *Closer) Run(ctx context.Context, interval time.Duration) {
	log := c.Log
	if log == nil {
		log = zap.NewNop()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if hours, err := c.CloseDue(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("closing energy hours failed; retrying", zap.Error(err))
		} else if len(hours) > 0 {
			log.Info("energy hours closed and sealed", zap.Int("hours", len(hours)))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
