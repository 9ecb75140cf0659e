package energy_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/internal/energy"
	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// chainEnv is a store, a closer and its keys on one Redis, with hours of
// two sites' shares sealed on demand.
type chainEnv struct {
	c      redis.UniversalClient
	st     *redisstore.Store
	l      *redisstore.EnergyLedger
	closer *energy.Closer
	pub    ed25519.PublicKey
	seq    uint64
	now    time.Time
}

func newChainEnv(t *testing.T) *chainEnv {
	t.Helper()
	c := startRedis(t)
	o := c.(*redis.Client).Options()
	st, err := redisstore.New(redisstore.Options{Addr: o.Addr, Password: o.Password})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Stop(context.Background()) })
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &chainEnv{c: c, st: st, l: redisstore.NewEnergyLedger(c, ""), pub: pub}
	e.closer = &energy.Closer{Ledger: e.l, Sites: testSites(), Key: priv, Now: func() time.Time { return e.now }}
	return e
}

// seal records shares of both sites in each hour from..to (exclusive) and
// closes them.
func (e *chainEnv) seal(t *testing.T, from, to time.Time) {
	t.Helper()
	ctx := context.Background()
	sites := e.closer.Sites
	for h := from; h.Before(to); h = h.Add(time.Hour) {
		for i, w := range [][2]string{{"accn", "accn.rig1"}, {"accs", "accs.big-1"}} {
			e.seq++
			r := share.Record{Node: 1, Seq: e.seq, Worker: w[1], Account: w[0], Difficulty: float64(100 * (i + 1)),
				Time: h.Add(time.Duration(i+1) * time.Minute), Site: sites.Resolve(w[0], w[1], netip.Addr{})}
			if err := e.st.AddShare(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := e.st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	e.now = to.Add(11 * time.Minute)
	if _, err := e.closer.CloseDue(ctx); err != nil {
		t.Fatal(err)
	}
}

// redisLines is every record Redis holds, in seq order.
func (e *chainEnv) redisLines(t *testing.T) []string {
	t.Helper()
	lines, err := e.l.Chain(context.Background(), 0, 1<<62)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// seqs returns the seq of each line of an archive file, and fails on a
// line that is not a record.
func fileSeqs(t *testing.T, path string) []uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var r energy.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("archive line %q: %v", l, err)
		}
		out = append(out, r.Seq)
	}
	return out
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestArchive seals ten hours of two sites, archives those older than the
// keep window, and checks: the archive verifies from the genesis, Redis
// keeps only the newer records and its head, records sealed afterwards
// link to the archive (archive + later export verify as one chain, and
// so does an export made before archiving that overlaps it); a rerun
// appends nothing; a run stopped between append and trim (a crash) leaves
// both, and the next run trims without appending twice; a partial line
// left by a crash in the middle of an append is cut; and a file that is
// not this chain's archive, or is behind Redis's trim, is refused.
func TestArchive(t *testing.T) {
	e := newChainEnv(t)
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Hour).Add(-100 * 24 * time.Hour)
	e.seal(t, base, base.Add(10*time.Hour))
	before := e.redisLines(t)
	if len(before) != 20 {
		t.Fatalf("%d records sealed, want 20 (10 hours, 2 sites)", len(before))
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "energy.archive")
	exportBefore := filepath.Join(dir, "before.jsonl")
	writeLines(t, exportBefore, before)
	a := &energy.Archiver{Ledger: e.l, Pub: e.pub, Keep: 24 * time.Hour,
		Now: func() time.Time { return base.Add(4*time.Hour + 24*time.Hour) }} // hours 0..3 are due
	res, err := a.Archive(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if res.Appended != 8 || res.FirstSeq != 1 || res.LastSeq != 8 || res.Archived != 8 {
		t.Fatalf("first run: %+v; want records 1..8 appended and archived", res)
	}
	if got := e.redisLines(t); len(got) != 12 || got[0] != before[8] {
		t.Fatalf("Redis holds %d records after the archive, want the 12 newer ones", len(got))
	}
	if h, _ := e.l.Head(ctx); h.Seq != 20 {
		t.Fatalf("chain head %+v, want seq 20 kept", h)
	}
	if _, err := energy.VerifyFiles([]string{path}, e.pub, false); err != nil {
		t.Fatalf("the archive does not verify: %v", err)
	}
	// New records link to the archive through the kept head.
	e.seal(t, base.Add(10*time.Hour), base.Add(12*time.Hour))
	later := filepath.Join(dir, "later.jsonl")
	writeLines(t, later, e.redisLines(t))
	res2, err := energy.VerifyFiles([]string{path, later}, e.pub, false)
	if err != nil || res2.Records != 24 || res2.FirstSeq != 1 || res2.LastSeq != 24 {
		t.Fatalf("archive + later export: %+v, %v; want records 1..24 as one chain", res2, err)
	}
	if _, err := energy.VerifyFiles([]string{path, exportBefore, later}, e.pub, false); err != nil {
		t.Fatalf("archive + an overlapping export + later: %v", err)
	}
	// A later export that skips a record after the archive is caught.
	gap := filepath.Join(dir, "gap.jsonl")
	writeLines(t, gap, e.redisLines(t)[1:])
	var ve *energy.VerifyError
	if _, err := energy.VerifyFiles([]string{path, gap}, e.pub, false); !errors.As(err, &ve) || ve.Problem != "removed" || ve.File != gap {
		t.Fatalf("archive + export missing record 9: %v; want removed in %s", err, gap)
	}
	// An overlapping export with an edited record is caught.
	edited := bytes.Replace([]byte(strings.Join(before, "\n")+"\n"), []byte(`"accepted":1,`), []byte(`"accepted":2,`), 1)
	bad := filepath.Join(dir, "edited.jsonl")
	if err := os.WriteFile(bad, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := energy.VerifyFiles([]string{path, bad}, e.pub, false); !errors.As(err, &ve) || ve.Problem != "altered" || ve.File != bad || ve.Line != 1 {
		t.Fatalf("archive + an edited overlapping export: %v; want line 1 of %s altered", err, bad)
	}

	// A rerun with nothing due changes nothing.
	was, _ := os.ReadFile(path)
	if res, err := a.Archive(ctx, path); err != nil || res.Appended != 0 || res.Archived != 8 {
		t.Fatalf("rerun: %+v, %v", res, err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, was) {
		t.Fatal("a rerun with nothing due changed the archive")
	}

	// A crash between append and trim: both hold records 9..12.
	a.Now = func() time.Time { return base.Add(6*time.Hour + 24*time.Hour) } // hours 4, 5
	crash := errors.New("crash")
	energy.SetAfterAppend(a, func() error { return crash })
	if _, err := a.Archive(ctx, path); !errors.Is(err, crash) {
		t.Fatalf("run stopped after the append: %v", err)
	}
	if n, _ := e.l.ChainArchived(ctx); n != 8 || len(e.redisLines(t)) != 16 {
		t.Fatalf("after the crash Redis trimmed to %d and holds %d records; want 8 and 16", n, len(e.redisLines(t)))
	}
	energy.SetAfterAppend(a, nil)
	res, err = a.Archive(ctx, path)
	if err != nil || res.Appended != 0 || res.Archived != 12 {
		t.Fatalf("run after the crash: %+v, %v; want nothing appended, Redis trimmed to 12", res, err)
	}
	seqs := fileSeqs(t, path)
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("archive seqs %v: not 1..n once each", seqs)
		}
	}
	if len(seqs) != 12 || len(e.redisLines(t)) != 12 {
		t.Fatalf("archive holds %d records, Redis %d; want 12 and 12", len(seqs), len(e.redisLines(t)))
	}

	// A crash in the middle of an append leaves a partial last line.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	partial := e.redisLines(t)[0][:40]
	f.WriteString(partial)
	f.Close()
	a.Now = func() time.Time { return base.Add(8*time.Hour + 24*time.Hour) } // hours 6, 7
	res, err = a.Archive(ctx, path)
	if err != nil || res.CutBytes != int64(len(partial)) || res.Appended != 4 || res.Archived != 16 {
		t.Fatalf("run after a torn append: %+v, %v; want the partial line cut, 13..16 appended", res, err)
	}
	if r, err := energy.VerifyFiles([]string{path}, e.pub, false); err != nil || r.LastSeq != 16 {
		t.Fatalf("archive after the torn append: %+v, %v", r, err)
	}

	// Refusals: a file behind Redis's trim, a file of another chain.

	if _, err := a.Archive(ctx, filepath.Join(dir, "new.archive")); !errors.Is(err, energy.ErrArchive) {
		t.Fatalf("a new file while Redis is trimmed to 16: %v; want ErrArchive", err)
	}
	other := newChainEnv(t)
	other.seal(t, base, base.Add(2*time.Hour))
	b := &energy.Archiver{Ledger: other.l, Pub: e.pub, Keep: time.Hour, Now: time.Now}
	if _, err := b.Archive(ctx, path); !errors.Is(err, energy.ErrArchive) {
		t.Fatalf("another chain's Redis with this archive: %v; want ErrArchive", err)
	}
	if r, err := energy.VerifyFiles([]string{path}, e.pub, false); err != nil || r.LastSeq != 16 {
		t.Fatalf("a refused run changed the archive: %+v, %v", r, err)
	}
}
