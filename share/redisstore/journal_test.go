package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// TestRedisOutage freezes redis-server for 10 s under a steady share stream
// acknowledged with AddShareWait, then checks that Redis holds exactly the
// acknowledged count once the journal is drained, and that blocks found
// during the outage froze the right rounds.
func TestRedisOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s outage")
	}
	r := startRedis(t)
	c := client(t, r)
	journal := filepath.Join(t.TempDir(), "journal")
	obs := &observer{}
	s := newStore(t, r, redisstore.Options{JournalPath: journal, BatchSize: 64, BatchInterval: 10 * time.Millisecond,
		Timeout: 300 * time.Millisecond, RetryInterval: 100 * time.Millisecond, Observer: obs})
	ctx := context.Background()

	var (
		mu    sync.Mutex
		acked int
		work  float64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// Four "connections", each submitting a share every 2 ms and waiting
	// for the acknowledgement rule before counting it as accepted.
	for conn := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				d := float64(1 + i%3)
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := s.AddShareWait(wctx, rec(uint64(conn*1_000_000+i), "acct", "rig"+string(rune('a'+conn)), d))
				cancel()
				if err != nil {
					t.Errorf("AddShareWait: %v", err)
					return
				}
				mu.Lock()
				acked++
				work += d
				mu.Unlock()
			}
		}()
	}
	// The stream runs for a while before, during and after the outage,
	// and each phase must see shares acknowledged: how many depends on
	// the machine's speed, so the test waits for one in each rather
	// than counting them.
	acks := func() int {
		mu.Lock()
		defer mu.Unlock()
		return acked
	}
	time.Sleep(time.Second)
	waitFor(t, "shares acknowledged before the outage", func() bool { return acks() > 0 })
	beforeFreeze := acks()
	if err := r.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	time.Sleep(3 * time.Second)
	// A block found while Redis is away goes through the journal too.
	if err := s.AddBlock(&share.BlockRecord{Height: 7, Hash: "0d07", Worker: "acct.rig", Account: "acct", Status: share.BlockAccepted}); err != nil {
		t.Fatalf("AddBlock: %v", err)
	}
	time.Sleep(7 * time.Second)
	waitFor(t, "shares acknowledged during the outage", func() bool { return acks() > beforeFreeze })
	if _, j := s.Backlog(); j == 0 {
		t.Errorf("journal backlog is empty during the outage")
	}
	if err := r.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	atThaw := acks()
	time.Sleep(time.Second)
	waitFor(t, "shares acknowledged after the outage", func() bool { return acks() > atThaw })
	close(stop)
	wg.Wait()
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.Flush(fctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	st := stats(t, c, "tarbela")
	if st.TotalShares != int64(acked) || st.TotalWork != work {
		t.Errorf("redis holds %d shares / %v work, want the %d / %v acknowledged", st.TotalShares, st.TotalWork, acked, work)
	}
	if got := s.SharesRecorded(); got != uint64(acked) {
		t.Errorf("SharesRecorded = %d, want %d", got, acked)
	}
	if obs.journaled.Load() == 0 || obs.redisErrors.Load() == 0 {
		t.Errorf("observer saw %d journaled, %d redis errors; want both > 0", obs.journaled.Load(), obs.redisErrors.Load())
	}
	// The round frozen by the block plus the open round hold all the work.
	_, frozen, err := redisstore.NewReader(c, "", 0).RoundWork(ctx, "0d07")
	if err != nil {
		t.Fatalf("RoundWork: %v", err)
	}
	if frozen["acct"] <= 0 || frozen["acct"]+st.RoundWork != work {
		t.Errorf("frozen %v + open %v != %v", frozen["acct"], st.RoundWork, work)
	}
	if fi, err := os.Stat(journal); err != nil || fi.Size() != 0 {
		t.Errorf("drained journal: %v, %v; want an empty file", fi, err)
	}
}

// journalWhileDown records n shares (batches of 10) into a journal while
// Redis is frozen and closes the store, which leaves them in the journal; it
// returns their work.
func journalWhileDown(t *testing.T, path string, n int) float64 {
	t.Helper()
	var work float64
	rs := make([]share.Record, n)
	for i := range n {
		d := float64(i%4 + 1)
		rs[i] = rec(uint64(i+1), "a", "r", d)
		work += d
	}
	journalWith(t, path, 10, rs, nil)
	return work
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestJournalReplayIdempotent replays one journal twice (the original and a
// copy, as after a crash between replay and truncation) into one Redis: the
// shares count once.
func TestJournalReplayIdempotent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "journal")
	const n = 95
	work := journalWhileDown(t, path, n)
	copyFile(t, path, path+".copy")

	r := startRedis(t)
	c := client(t, r)
	ctx := context.Background()
	copyFile(t, path, path+".copy2")
	for _, p := range []string{path, path + ".copy", path + ".copy2"} {
		s := newStore(t, r, redisstore.Options{JournalPath: p, Scheme: "fpps"})
		if err := s.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if got := s.SharesRecorded(); got != n {
			t.Errorf("%s: SharesRecorded = %d, want %d", p, got, n)
		}
		if err := s.Stop(context.Background()); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		st := stats(t, c, "tarbela")
		if st.TotalShares != n || st.TotalWork != work {
			t.Errorf("after replaying %s: %d shares / %v work, want %d / %v", p, st.TotalShares, st.TotalWork, n, work)
		}
	}
}

// TestJournalCorruptTail damages the journal's tail in the ways a crash or a
// bad disk does: the damage is reported with its offset, set aside, and only
// the valid records before it are replayed.
func TestJournalCorruptTail(t *testing.T) {
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean")
	const n = 30 // three records of 10 shares
	journalWhileDown(t, clean, n)
	orig, err := os.ReadFile(clean)
	if err != nil {
		t.Fatal(err)
	}
	recLen := len(orig) / 3 // records are the same size here
	if recLen*3 != len(orig) {
		t.Fatalf("records have different sizes (%d bytes for 3)", len(orig))
	}
	tests := []struct {
		name       string
		damage     func([]byte) []byte
		wantShares int
		wantOffset int64
	}{
		{name: "torn header", damage: func(b []byte) []byte { return append(b, 0x10, 0x00) }, wantShares: 30, wantOffset: int64(3 * recLen)},
		{name: "torn payload", damage: func(b []byte) []byte { return b[:len(b)-5] }, wantShares: 20, wantOffset: int64(2 * recLen)},
		{name: "flipped byte", damage: func(b []byte) []byte { b[recLen+20] ^= 0x40; return b }, wantShares: 10, wantOffset: int64(recLen)},
		{name: "zero length", damage: func(b []byte) []byte { return append(b, make([]byte, 16)...) }, wantShares: 30, wantOffset: int64(3 * recLen)},
		{name: "huge length", damage: func(b []byte) []byte {
			return append(b, 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4)
		}, wantShares: 30, wantOffset: int64(3 * recLen)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal")
			if err := os.WriteFile(path, tc.damage(append([]byte(nil), orig...)), 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err := redisstore.ScanJournal(path)
			var cerr *redisstore.CorruptError
			if !errors.As(err, &cerr) {
				t.Fatalf("ScanJournal err = %v, want *CorruptError", err)
			}
			if cerr.Offset != tc.wantOffset || rep.Shares != tc.wantShares {
				t.Errorf("corrupt at %d with %d valid shares, want %d and %d (%s)", cerr.Offset, rep.Shares, tc.wantOffset, tc.wantShares, cerr.Reason)
			}
			r := startRedis(t)
			c := client(t, r)
			s := newStore(t, r, redisstore.Options{JournalPath: path})
			if err := s.Flush(context.Background()); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			got := s.JournalReport()
			if got.Corrupt == nil || got.Corrupt.Offset != tc.wantOffset || got.SavedAs == "" {
				t.Errorf("JournalReport = %+v, want corruption at %d set aside", got, tc.wantOffset)
			}
			if st := stats(t, c, "tarbela"); st.TotalShares != int64(tc.wantShares) {
				t.Errorf("redis holds %d shares, want the %d valid ones", st.TotalShares, tc.wantShares)
			}
			if saved, err := os.ReadFile(got.SavedAs); err != nil || len(saved) == 0 {
				t.Errorf("set-aside file %q: %d bytes, %v", got.SavedAs, len(saved), err)
			}
		})
	}
}

// journalWith writes rs in batches of batchSize, then b (when not nil), to
// a journal at path while Redis is frozen, and closes the store, which
// leaves them in the journal.
func journalWith(t *testing.T, path string, batchSize int, rs []share.Record, b *share.BlockRecord) {
	t.Helper()
	r := startRedis(t)
	if err := r.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	defer r.Stop()
	// Batches are sealed by count only (an hour-long interval): a test
	// stalled between two shares on a busy machine must not seal a short
	// batch, since TestJournalCorruptTail counts on records of ten.
	s := newStore(t, r, redisstore.Options{JournalPath: path, BatchSize: batchSize, BatchInterval: time.Hour, Timeout: 100 * time.Millisecond})
	for _, x := range rs {
		if err := s.AddShare(x); err != nil {
			t.Fatalf("AddShare: %v", err)
		}
	}
	if b != nil {
		if err := s.AddBlock(b); err != nil {
			t.Fatalf("AddBlock: %v", err)
		}
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if rep, err := redisstore.ScanJournal(path); err != nil || rep.Shares != len(rs) {
		t.Fatalf("ScanJournal = %+v, %v; want %d shares", rep, err, len(rs))
	}
}

// payoutState is what payout reads, as Redis holds it.
type payoutState struct {
	Slices []redisstore.Slice
	All    float64
	Window map[string]float64
	Owed   map[string]float64
	Shares int64
	Work   float64
	Blocks []redisstore.Block
}

func readPayoutState(t *testing.T, c *redis.Client, hash string) payoutState {
	t.Helper()
	ctx := context.Background()
	rd := redisstore.NewReader(c, "", 0)
	var p payoutState
	var err error
	if p.Slices, p.All, err = rd.PPLNSSlices(ctx); err != nil {
		t.Fatalf("PPLNSSlices: %v", err)
	}
	if p.Window, err = rd.PPLNSWindow(ctx, hash); err != nil {
		t.Fatalf("PPLNSWindow: %v", err)
	}
	if p.Owed, err = rd.PPSOwed(ctx); err != nil {
		t.Fatalf("PPSOwed: %v", err)
	}
	st, err := rd.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	p.Shares, p.Work = st.TotalShares, st.TotalWork
	if p.Blocks, err = rd.Blocks(ctx, 10); err != nil {
		t.Fatalf("Blocks: %v", err)
	}
	return p
}

// TestReplayCountsPayoutOnce replays one journal (format version 2: shares
// over three PPLNS slices with their network difficulty and coinbase value,
// and a block with its coinbase txid and network difficulty) three times
// into one Redis, as after crashes between replay and truncation: the
// batches (same stream, same seq) are applied once, so the slices, their
// running sum, the frozen window, the FPPS amounts owed and the block
// record are what one replay wrote, to the bit.
func TestReplayCountsPayoutOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "journal")
	var rs []share.Record
	at := time.Now().Truncate(time.Minute).Add(-3 * time.Minute)
	for i := range 300 {
		x := rec(uint64(i+1), "acct"+strconv.Itoa(i%4), "rig", float64(1+i%3))
		x.Time = at.Add(time.Duration(i) * 500 * time.Millisecond) // 2.5 minutes
		x.NetDifficulty, x.CoinbaseValue = 100, 312_500_000+int64(i)
		rs = append(rs, x)
	}
	const hash = "00000000000000000000c0ffee"
	journalWith(t, path, 50, rs, &share.BlockRecord{Height: 900_000, Hash: hash, Worker: "acct1.rig", Account: "acct1",
		Status: share.BlockAccepted, CoinbaseTxID: "ab" + fmt.Sprintf("%062d", 7), NetDifficulty: 100, Time: at.Add(3 * time.Minute)})
	copyFile(t, path, path+".copy")
	copyFile(t, path, path+".copy2")

	r := startRedis(t)
	c := client(t, r)
	var first payoutState
	for i, p := range []string{path, path + ".copy", path + ".copy2"} {
		s := newStore(t, r, redisstore.Options{JournalPath: p, Scheme: "fpps"})
		if err := s.Flush(context.Background()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		if err := s.Stop(context.Background()); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		got := readPayoutState(t, c, hash)
		if i == 0 {
			first = got
			if len(got.Slices) != 3 || got.Shares != 300 || len(got.Window) != 4 || len(got.Owed) != 4 || len(got.Blocks) != 1 ||
				got.Blocks[0].NetDifficulty != 100 || got.Blocks[0].CoinbaseTxID != "ab"+fmt.Sprintf("%062d", 7) {
				t.Fatalf("after one replay: %+v", got)
			}
			var win float64
			for _, v := range got.Window {
				win += v
			}
			if math.Abs(win-200) > 1e-9 {
				t.Errorf("frozen window holds %v work, want N x D = 200", win)
			}
			for a, w := range ppsWorth("fpps", 210_000, rs) {
				if math.Abs(got.Owed[a]-w) > 1e-9*w {
					t.Errorf("owed[%s] = %v, want %v", a, got.Owed[a], w)
				}
			}
			continue
		}
		if !reflect.DeepEqual(got, first) {
			t.Errorf("replay %d changed what payout reads:\n got %+v\nwant %+v", i+1, got, first)
		}
	}
}

// TestJournalReplaysVersion1 replays testdata/journal-v1.bin, written by the
// release before the records carried the network difficulty and coinbase
// value: its shares and block land, the block froze its round and (its
// network difficulty unknown) every slice kept as its window.
func TestJournalReplaysVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	copyFile(t, filepath.Join("testdata", "journal-v1.bin"), path)
	rep, err := redisstore.ScanJournal(path)
	if err != nil || rep.Batches != 2 || rep.Shares != 7 || rep.Blocks != 1 {
		t.Fatalf("ScanJournal = %+v, %v; want 2 batches, 7 shares, 1 block", rep, err)
	}
	r := startRedis(t)
	c := client(t, r)
	s := newStore(t, r, redisstore.Options{JournalPath: path, Scheme: "pps"})
	ctx := context.Background()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	const hash = "00000000000000000002a7c4c1e48d76c5a37902165a270156b7a8d72728a054"
	st := stats(t, c, "tarbela")
	if st.TotalShares != 7 || st.TotalWork != 1+2.5+1e-12+4+3+8+0.5 || st.Blocks != 1 || st.Slices != 2 {
		t.Errorf("stats %+v", st)
	}
	_, accounts, err := s.RoundWork(ctx, hash)
	if err != nil {
		t.Fatalf("RoundWork: %v", err)
	}
	want := map[string]float64{"a": 1 + 2.5 + 3 + 0.5, "b": 1e-12 + 8, "solo": 4}
	if !reflect.DeepEqual(accounts, want) {
		t.Errorf("frozen round %v, want %v", accounts, want)
	}
	win, err := s.PPLNSWindow(ctx, hash)
	if err != nil {
		t.Fatalf("PPLNSWindow: %v", err)
	}
	for a, w := range want {
		if math.Abs(win[a]-w) > 1e-12*w || len(win) != len(want) {
			t.Errorf("window %v, want %v", win, want)
			break
		}
	}
	bs, err := s.Blocks(ctx, 1)
	if err != nil || len(bs) != 1 {
		t.Fatalf("Blocks = %v, %v", bs, err)
	}
	if b := bs[0]; b.Hash != hash || b.Round != hash || b.Reward != 312500000 || b.Status != share.BlockAccepted ||
		b.CoinbaseTxID != "" || b.NetDifficulty != 0 || b.Node != 3 {
		t.Errorf("block %+v", b)
	}
	// The shares' network difficulty is unknown, so PPS owes nothing for
	// them (the release that wrote them had no PPS).
	if owed := ppsOwed(t, s); len(owed) != 0 {
		t.Errorf("pps:owed = %v, want empty", owed)
	}
}
