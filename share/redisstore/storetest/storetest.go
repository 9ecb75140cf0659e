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
	// Window is the newest n PPLNS window entries, newest first.
	Window(ctx context.Context, n int) ([]Share, error)
}

// Share is one PPLNS window entry.
type Share struct {
	Worker, Account string
	Difficulty      float64
}

// Factory returns a fresh, started store with an empty namespace; the
// suite closes it. Stores made by one factory call after another share one
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
	{"window newest first", window},
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
	got, err := s.Window(ctx, 3*n)
	if err != nil || len(got) != 2*n {
		t.Errorf("Window holds %d entries (%v), want %d", len(got), err, 2*n)
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

func window(ctx context.Context, t *testing.T, s Store) {
	add(t, s, rec(1, "a.1", "a", 1), rec(2, "b", "b", 2), rec(3, "x.y", "solo-acct", 3))
	flush(ctx, t, s)
	got, err := s.Window(ctx, 10)
	if err != nil {
		t.Fatalf("Window: %v", err)
	}
	want := []Share{{"x.y", "solo-acct", 3}, {"b", "b", 2}, {"a.1", "a", 1}}
	if len(got) != len(want) {
		t.Fatalf("Window = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Window[%d] = %v, want %v", i, got[i], want[i])
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
