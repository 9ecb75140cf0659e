package storetest

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/share"
)

// Store is what the suite needs of a store: the share.Store seam, a way to
// wait until everything queued is in the backend, and the reads that
// accounting relies on.
type Store interface {
	share.Store
	// Flush returns once everything queued before it is in the backend.
	Flush(ctx context.Context) error
	// Stop flushes and releases the store; safe twice.
	Stop(ctx context.Context) error
	// Totals are every share recorded under the store's namespace.
	Totals(ctx context.Context) (shares int64, work float64, err error)
	// RoundWork is the work per worker and per account of a round:
	// "current" or the hash of the block that froze it.
	RoundWork(ctx context.Context, round string) (workers, accounts map[string]float64, err error)
	// BlockRound is the round a block froze ("" for none) and its status.
	BlockRound(ctx context.Context, hash string) (round string, status share.BlockStatus, err error)
	// PPLNSSlices is the PPLNS window's slices kept, oldest first.
	PPLNSSlices(ctx context.Context) ([]Slice, error)
	// PPLNSWindow is the work per account of the PPLNS window a block
	// froze (empty when it froze none).
	PPLNSWindow(ctx context.Context, blockHash string) (map[string]float64, error)
}

// Slice is one slice of the PPLNS window: the work per account of the
// shares accepted in the slice starting at Start.
type Slice struct {
	Start    time.Time
	Work     float64
	Accounts map[string]float64
}

// Factory returns a fresh, started store with an empty namespace and the
// default PPLNS options (a window of N = 2 network difficulties, slices of
// one minute); the suite closes it. Stores made by one factory call after another share one
// backend namespace only when the test says so (see Run's "two stores").
type Factory func(t *testing.T) Store

// Run runs every conformance case, each with a fresh store.
func Run(t *testing.T, newStore Factory) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s := newStore(t)
			defer s.Stop(context.Background())
			tc.run(ctx, t, s)
		})
	}
}

var cases = []struct {
	name string
	run  func(ctx context.Context, t *testing.T, s Store)
}{
	{"shares sum per worker and account", sharesSum},
	{"many workers in one batch", manyWorkers},
	{"fractional difficulties", fractional},
	{"slices hold the work per account", slices},
	{"window cut pro rata at N x D", windowCut},
	{"block freezes the round once", freezeOnce},
	{"rejected block freezes nothing", rejectedBlock},
	{"block found then rejected gives the round back", foundThenRejected},
	{"invalid records are refused", invalid},
	{"closed store refuses", closed},
}

func rec(seq uint64, worker, account string, d float64) share.Record {
	return share.Record{Node: 1, Seq: seq, Worker: worker, Account: account, Difficulty: d,
		ShareDifficulty: d * 2, Time: time.Now(), Height: 100, JobID: "j1"}
}

func add(t *testing.T, s Store, rs ...share.Record) {
	t.Helper()
	for _, r := range rs {
		if err := s.AddShare(r); err != nil {
			t.Fatalf("AddShare(%s): %v", r.Worker, err)
		}
	}
}

func flush(ctx context.Context, t *testing.T, s Store) {
	t.Helper()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func wantWork(t *testing.T, what string, got, want map[string]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d entries %v, want %d %v", what, len(got), got, len(want), want)
		return
	}
	for k, w := range want {
		if !near(got[k], w) {
			t.Errorf("%s[%s] = %v, want %v", what, k, got[k], w)
		}
	}
}

func roundWork(ctx context.Context, t *testing.T, s Store, round string) (map[string]float64, map[string]float64) {
	t.Helper()
	w, a, err := s.RoundWork(ctx, round)
	if err != nil {
		t.Fatalf("RoundWork(%s): %v", round, err)
	}
	return w, a
}

func sharesSum(ctx context.Context, t *testing.T, s Store) {
	wantW := map[string]float64{}
	wantA := map[string]float64{}
	var total float64
	const n = 3000
	for i := range n {
		acct := fmt.Sprintf("acct%d", i%7)
		w := fmt.Sprintf("%s.rig%d", acct, i%13)
		d := float64(1 + i%5)
		add(t, s, rec(uint64(i+1), w, acct, d))
		wantW[w] += d
		wantA[acct] += d
		total += d
	}
	flush(ctx, t, s)
	shares, work, err := s.Totals(ctx)
	if err != nil {
		t.Fatalf("Totals: %v", err)
	}
	if shares != n || !near(work, total) {
		t.Errorf("Totals = %d shares, %v work; want %d, %v", shares, work, n, total)
	}
	w, a := roundWork(ctx, t, s, "current")
	wantWork(t, "workers", w, wantW)
	wantWork(t, "accounts", a, wantA)
}

func manyWorkers(ctx context.Context, t *testing.T, s Store) {
	// More distinct workers than any one command's chunk of arguments.
	const n = 2500
	want := map[string]float64{}
	for i := range n {
		w := fmt.Sprintf("acct.w%d", i)
		add(t, s, rec(uint64(i+1), w, "acct", 1), rec(uint64(n+i+1), w, "acct", 2))
		want[w] = 3
	}
	flush(ctx, t, s)
	w, a := roundWork(ctx, t, s, "current")
	wantWork(t, "workers", w, want)
	wantWork(t, "accounts", a, map[string]float64{"acct": 3 * n})
	sl := pplnsSlices(ctx, t, s)
	var work float64
	for _, x := range sl {
		work += x.Accounts["acct"]
	}
	if len(sl) == 0 || work != 3*n {
		t.Errorf("slices hold %v work of acct in %d slices, want %d", work, len(sl), 3*n)
	}
}

func fractional(ctx context.Context, t *testing.T, s Store) {
	// Regtest difficulties are far below 1.
	add(t, s, rec(1, "a.x", "a", 1e-10), rec(2, "a.x", "a", 2.5e-10), rec(3, "a.x", "a", 0))
	flush(ctx, t, s)
	w, _ := roundWork(ctx, t, s, "current")
	if !near(w["a.x"], 3.5e-10) || w["a.x"] == 0 {
		t.Errorf("work = %v, want 3.5e-10", w["a.x"])
	}
}

func pplnsSlices(ctx context.Context, t *testing.T, s Store) []Slice {
	t.Helper()
	sl, err := s.PPLNSSlices(ctx)
	if err != nil {
		t.Fatalf("PPLNSSlices: %v", err)
	}
	return sl
}

func pplnsWindow(ctx context.Context, t *testing.T, s Store, hash string) map[string]float64 {
	t.Helper()
	w, err := s.PPLNSWindow(ctx, hash)
	if err != nil {
		t.Fatalf("PPLNSWindow(%s): %v", hash, err)
	}
	return w
}

// minutes returns the start of the minute m minutes before the current one.
func minutes(m int) time.Time {
	return time.Now().Truncate(time.Minute).Add(-time.Duration(m) * time.Minute)
}

func slices(ctx context.Context, t *testing.T, s Store) {
	// Two minutes, so two slices; one batch spans both.
	at := func(r share.Record, m int, sec time.Duration) share.Record {
		r.Time = minutes(m).Add(sec * time.Second)
		return r
	}
	add(t, s, at(rec(1, "a.1", "a", 1), 2, 5), at(rec(2, "b", "b", 2), 2, 59),
		at(rec(3, "x.y", "solo-acct", 3), 1, 0), at(rec(4, "a.2", "a", 0.5), 1, 30), at(rec(5, "a.1", "a", 1e-12), 2, 6))
	flush(ctx, t, s)
	got := pplnsSlices(ctx, t, s)
	want := []Slice{
		{minutes(2), 3 + 1e-12, map[string]float64{"a": 1 + 1e-12, "b": 2}},
		{minutes(1), 3.5, map[string]float64{"solo-acct": 3, "a": 0.5}},
	}
	if len(got) != len(want) {
		t.Fatalf("slices %+v, want %+v", got, want)
	}
	for i, w := range want {
		if !got[i].Start.Equal(w.Start) || !near(got[i].Work, w.Work) {
			t.Errorf("slice %d starts %v with %v work, want %v, %v", i, got[i].Start, got[i].Work, w.Start, w.Work)
		}
		wantWork(t, fmt.Sprintf("slice %d", i), got[i].Accounts, w.Accounts)
	}
}

// windowCut: four slices of known work and a block of network difficulty
// D = 80, so N × D = 160: the two newest slices (64 each) are taken whole,
// the one before (80) at (160 - 128) / 80 = 40 %, the oldest not at all.
func windowCut(ctx context.Context, t *testing.T, s Store) {
	type cell struct {
		minute  int
		account string
		work    float64
	}
	cells := []cell{
		{4, "a", 60}, {4, "d", 40}, // beyond the window
		{3, "a", 48}, {3, "b", 32}, // cut at 40 %
		{2, "a", 16}, {2, "c", 48},
		{1, "b", 40}, {1, "c", 24},
	}
	for i, c := range cells {
		r := rec(uint64(i+1), c.account+".rig", c.account, c.work)
		r.Time = minutes(c.minute).Add(time.Duration(i) * time.Second)
		r.NetDifficulty = 80
		add(t, s, r)
	}
	b := block("00ee", 102, share.BlockAccepted)
	b.NetDifficulty = 80
	if err := s.AddBlock(b); err != nil {
		t.Fatalf("AddBlock: %v", err)
	}
	flush(ctx, t, s)
	if n := len(pplnsSlices(ctx, t, s)); n != 4 {
		t.Errorf("%d slices, want 4 (none trimmed: 4 x N x D = 640 is above the 308 of work)", n)
	}
	// The same arithmetic as the store's, newest slice first, so that the
	// doubles agree to the bit; the literals check it against the
	// fractions.
	f := (160.0 - 128) / 80
	want := map[string]float64{"b": 40 + 32*f, "c": 24 + 48, "a": 16 + 48*f}
	got := pplnsWindow(ctx, t, s, "00ee")
	wantWork(t, "window", got, map[string]float64{"a": 35.2, "b": 52.8, "c": 72})
	for k, v := range want {
		if got[k] != v {
			t.Errorf("window[%s] = %v, want %v exactly", k, got[k], v)
		}
	}
}

func block(hash string, height int64, st share.BlockStatus) *share.BlockRecord {
	return &share.BlockRecord{Height: height, Hash: hash, Worker: "a.1", Account: "a",
		Reward: 5000000000, Status: st, Time: time.Now(), Node: 1}
}

func blockRound(ctx context.Context, t *testing.T, s Store, hash string) (string, share.BlockStatus) {
	t.Helper()
	r, st, err := s.BlockRound(ctx, hash)
	if err != nil {
		t.Fatalf("BlockRound(%s): %v", hash, err)
	}
	return r, st
}

func freezeOnce(ctx context.Context, t *testing.T, s Store) {
	add(t, s, rec(1, "a.1", "a", 4), rec(2, "b.1", "b", 6))
	if err := s.AddBlock(block("00aa", 101, share.BlockAccepted)); err != nil {
		t.Fatalf("AddBlock: %v", err)
	}
	add(t, s, rec(3, "a.1", "a", 1))
	// The same block recorded again (a resend, or a status update) must not
	// freeze the new round.
	if err := s.AddBlock(block("00aa", 101, share.BlockAccepted)); err != nil {
		t.Fatalf("AddBlock again: %v", err)
	}
	add(t, s, rec(4, "b.1", "b", 2))
	flush(ctx, t, s)
	w, a := roundWork(ctx, t, s, "00aa")
	wantWork(t, "frozen workers", w, map[string]float64{"a.1": 4, "b.1": 6})
	wantWork(t, "frozen accounts", a, map[string]float64{"a": 4, "b": 6})
	// The block's network difficulty is unknown here (0), so its window
	// is every slice kept, frozen once: the shares after it are not in it.
	wantWork(t, "frozen window", pplnsWindow(ctx, t, s, "00aa"), map[string]float64{"a": 4, "b": 6})
	w, _ = roundWork(ctx, t, s, "current")
	wantWork(t, "current workers", w, map[string]float64{"a.1": 1, "b.1": 2})
	if r, st := blockRound(ctx, t, s, "00aa"); r != "00aa" || st != share.BlockAccepted {
		t.Errorf("block round %q status %q, want 00aa accepted", r, st)
	}
}

func rejectedBlock(ctx context.Context, t *testing.T, s Store) {
	add(t, s, rec(1, "a.1", "a", 4))
	if err := s.AddBlock(block("00bb", 101, share.BlockRejected)); err != nil {
		t.Fatalf("AddBlock: %v", err)
	}
	add(t, s, rec(2, "a.1", "a", 1))
	flush(ctx, t, s)
	w, _ := roundWork(ctx, t, s, "current")
	wantWork(t, "current workers", w, map[string]float64{"a.1": 5})
	if r, st := blockRound(ctx, t, s, "00bb"); r != "" || st != share.BlockRejected {
		t.Errorf("block round %q status %q, want none, rejected", r, st)
	}
	wantWork(t, "window of a rejected block", pplnsWindow(ctx, t, s, "00bb"), map[string]float64{})
}

func foundThenRejected(ctx context.Context, t *testing.T, s Store) {
	add(t, s, rec(1, "a.1", "a", 4))
	if err := s.AddBlock(block("00cc", 101, share.BlockSubmitted)); err != nil {
		t.Fatalf("AddBlock: %v", err)
	}
	add(t, s, rec(2, "a.1", "a", 1), rec(3, "b", "b", 1))
	if err := s.AddBlock(block("00cc", 101, share.BlockRejected)); err != nil {
		t.Fatalf("AddBlock rejected: %v", err)
	}
	flush(ctx, t, s)
	w, a := roundWork(ctx, t, s, "current")
	wantWork(t, "current workers", w, map[string]float64{"a.1": 5, "b": 1})
	wantWork(t, "current accounts", a, map[string]float64{"a": 5, "b": 1})
	w, _ = roundWork(ctx, t, s, "00cc")
	wantWork(t, "released round", w, map[string]float64{})
	wantWork(t, "released window", pplnsWindow(ctx, t, s, "00cc"), map[string]float64{})
	if r, st := blockRound(ctx, t, s, "00cc"); r != "" || st != share.BlockRejected {
		t.Errorf("block round %q status %q, want none, rejected", r, st)
	}
}

func invalid(ctx context.Context, t *testing.T, s Store) {
	bad := []struct {
		name string
		r    share.Record
	}{
		{"empty worker", rec(1, "", "a", 1)},
		{"empty account", rec(1, "a.1", "", 1)},
		{"NaN difficulty", rec(1, "a.1", "a", math.NaN())},
		{"infinite difficulty", rec(1, "a.1", "a", math.Inf(1))},
		{"negative difficulty", rec(1, "a.1", "a", -1)},
		{"separator in name", rec(1, "a|b", "a", 1)},
		{"line break in name", rec(1, "a\nb", "a", 1)},
	}
	for _, b := range bad {
		if err := s.AddShare(b.r); err == nil {
			t.Errorf("%s: AddShare accepted %+v", b.name, b.r)
		}
	}
	if err := s.AddBlock(&share.BlockRecord{Hash: "", Height: 1}); err == nil {
		t.Errorf("AddBlock accepted an empty hash")
	}
	if err := s.AddBlock(nil); err == nil {
		t.Errorf("AddBlock accepted nil")
	}
	// Good records around the bad ones still land.
	add(t, s, rec(2, "a.1", "a", 1))
	flush(ctx, t, s)
	if n, _, err := s.Totals(ctx); err != nil || n != 1 {
		t.Errorf("Totals = %d, %v; want 1", n, err)
	}
}

func closed(ctx context.Context, t *testing.T, s Store) {
	add(t, s, rec(1, "a.1", "a", 1))
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := s.AddShare(rec(2, "a.1", "a", 1)); err == nil {
		t.Errorf("AddShare after Stop succeeded")
	}
	if err := s.AddBlock(block("00dd", 1, share.BlockAccepted)); err == nil {
		t.Errorf("AddBlock after Stop succeeded")
	}
	if n, _, err := s.Totals(ctx); err != nil || n != 1 {
		t.Errorf("Totals after Stop = %d, %v; want 1 (Stop flushes)", n, err)
	}
}
