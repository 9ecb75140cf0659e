package redisstore_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// energyShares is a fixed set of shares over two hours and three sites
// (one of them unassigned), with mixed difficulties, and what each
// site-hour must hold.
type siteHourWant struct {
	work, sq  float64
	accepted  int64
	workers   map[string]bool
	first, ls int64
}

func energyShares(base time.Time) ([]share.Record, map[int64]map[string]*siteHourWant) {
	sites := []string{"north", "south", ""}
	want := map[int64]map[string]*siteHourWant{}
	var rs []share.Record
	for i := range 300 {
		site := sites[i%3]
		at := base.Add(time.Duration(i) * 20 * time.Second) // 100 minutes: two hours
		d := float64(i%5+1) * 0.25
		w := "acct" + site + ".rig" + string(rune('a'+i%7))
		r := rec(uint64(i+1), "acct"+site, "rig"+string(rune('a'+i%7)), d)
		r.Worker, r.Time, r.Site = w, at, site
		rs = append(rs, r)
		hour := at.UnixMilli() / redisstore.EnergyHour * redisstore.EnergyHour
		unit := site
		if unit == "" {
			unit = redisstore.UnassignedSite
		}
		if want[hour] == nil {
			want[hour] = map[string]*siteHourWant{}
		}
		sw := want[hour][unit]
		if sw == nil {
			sw = &siteHourWant{workers: map[string]bool{}, first: at.UnixMilli()}
			want[hour][unit] = sw
		}
		sw.work += d
		sw.sq += d * d
		sw.accepted++
		sw.workers[w] = true
		sw.ls = at.UnixMilli()
	}
	return rs, want
}

func checkEnergy(t *testing.T, l *redisstore.EnergyLedger, want map[int64]map[string]*siteHourWant, rejects map[int64]map[string]int64, frozen bool) {
	t.Helper()
	ctx := context.Background()
	for hour, units := range want {
		var f redisstore.HourFigures
		var err error
		if frozen {
			f, err = l.FreezeHour(ctx, hour)
		} else {
			f, err = l.Hour(ctx, hour)
		}
		if err != nil {
			t.Fatal(err)
		}
		var sum, poolWant float64
		for _, u := range f.Units {
			w := units[u.Unit]
			if w == nil {
				t.Errorf("hour %d: unexpected unit %q", hour, u.Unit)
				continue
			}
			poolWant += w.work
			sum += u.Work
			if math.Abs(u.Work-w.work) > 1e-9 || math.Abs(u.SumSq-w.sq) > 1e-9 || u.Accepted != w.accepted ||
				u.First != w.first || u.Last != w.ls || u.Rejected != rejects[hour][u.Unit] {
				t.Errorf("hour %d unit %s: got %+v, want work %v sq %v accepted %d first %d last %d rejected %d",
					hour, u.Unit, u, w.work, w.sq, w.accepted, w.first, w.ls, rejects[hour][u.Unit])
			}
			if frozen && u.Workers != int64(len(w.workers)) {
				t.Errorf("hour %d unit %s: %d workers, want %d", hour, u.Unit, u.Workers, len(w.workers))
			}
		}
		if len(f.Units) != len(units) {
			t.Errorf("hour %d: %d units, want %d", hour, len(f.Units), len(units))
		}
		// Reconciliation: the sites' work sums to the pool's.
		if math.Abs(sum-f.PoolWork) > 1e-9*f.PoolWork || math.Abs(f.PoolWork-poolWant) > 1e-9*poolWant {
			t.Errorf("hour %d: sites sum to %v, pool recorded %v, want %v", hour, sum, f.PoolWork, poolWant)
		}
	}
}

// TestEnergySiteHours records shares of three sites over two hours, with
// rejects, through a journal replayed twice (as after a crash between
// replay and truncation): each site-hour's figures count every share and
// reject once, the sites' work sums to the pool's for each hour, and the
// worker count is exact at close.
func TestEnergySiteHours(t *testing.T) {
	base := time.Date(2026, 12, 1, 10, 20, 0, 0, time.UTC)
	rs, want := energyShares(base)
	rejects := map[int64]map[string]int64{}
	dir := t.TempDir()
	path := filepath.Join(dir, "journal")
	{
		r := startRedis(t)
		if err := r.Freeze(); err != nil {
			t.Fatal(err)
		}
		s := newStore(t, r, redisstore.Options{JournalPath: path, BatchSize: 16, BatchInterval: time.Hour, Timeout: 100 * time.Millisecond})
		for i, x := range rs {
			if err := s.AddShare(x); err != nil {
				t.Fatal(err)
			}
			if i%4 == 0 {
				s.AddReject(x.Site, x.Time)
				hour := x.Time.UnixMilli() / redisstore.EnergyHour * redisstore.EnergyHour
				unit := x.Site
				if unit == "" {
					unit = redisstore.UnassignedSite
				}
				if rejects[hour] == nil {
					rejects[hour] = map[string]int64{}
				}
				rejects[hour][unit]++
			}
		}
		if err := s.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		r.Stop()
	}
	copyFile(t, path, path+".copy")
	r := startRedis(t)
	c := client(t, r)
	l := redisstore.NewEnergyLedger(c, "")
	for _, p := range []string{path, path + ".copy"} {
		s := newStore(t, r, redisstore.Options{JournalPath: p})
		if err := s.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := s.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		checkEnergy(t, l, want, rejects, false)
	}
	checkEnergy(t, l, want, rejects, true)
	// Freezing again changes nothing, and the sets are gone.
	checkEnergy(t, l, want, rejects, true)
	if n, err := c.Keys(context.Background(), "tarbela:{acct}:en:u:*").Result(); err != nil || len(n) != 0 {
		t.Errorf("worker sets after close: %v, %v", n, err)
	}
}

// TestEnergyLateBatch closes an hour, then records a share for it: the
// closed figures do not change and the share goes to the hour's late
// figures, which TakeLate hands over once.
func TestEnergyLateBatch(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	l := redisstore.NewEnergyLedger(c, "")
	ctx := context.Background()
	s := newStore(t, r, redisstore.Options{})
	at := time.Date(2026, 12, 1, 10, 20, 0, 0, time.UTC)
	hour := at.UnixMilli() / redisstore.EnergyHour * redisstore.EnergyHour
	x := rec(1, "a", "r", 2)
	x.Time, x.Site = at, "north"
	if err := s.AddShareWait(ctx, x); err != nil {
		t.Fatal(err)
	}
	before, err := l.FreezeHour(ctx, hour)
	if err != nil {
		t.Fatal(err)
	}
	if open, _ := l.OpenHours(ctx, hour+redisstore.EnergyHour); len(open) != 1 || open[0] != hour {
		t.Errorf("open hours %v, want [%d]", open, hour)
	}
	x.Seq, x.Difficulty = 2, 5
	x.Time = at.Add(time.Minute)
	if err := s.AddShareWait(ctx, x); err != nil {
		t.Fatal(err)
	}
	after, err := l.Hour(ctx, hour)
	if err != nil {
		t.Fatal(err)
	}
	if after.PoolWork != before.PoolWork || after.Units[0].Work != 2 {
		t.Errorf("closed hour changed: before %+v, after %+v", before, after)
	}
	late, _ := l.LateHours(ctx)
	if len(late) != 1 || late[0] != hour {
		t.Fatalf("late hours %v, want [%d]", late, hour)
	}
	f, err := l.TakeLate(ctx, hour)
	if err != nil {
		t.Fatal(err)
	}
	if f.PoolWork != 5 || len(f.Units) != 1 || f.Units[0].Work != 5 || f.Units[0].Unit != "north" {
		t.Errorf("late figures %+v, want the late share's 5", f)
	}
	if late, _ := l.LateHours(ctx); len(late) != 0 {
		t.Errorf("late hours after take: %v", late)
	}
}
