package energy

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// DefaultKeep is how long sealed records stay in Redis when `tarbela
// energy archive` is given no --keep.
const DefaultKeep = 90 * 24 * time.Hour

// Archiver moves sealed records whose hour ended more than Keep ago from
// Redis to an archive file: one record per line (the export format, which
// VerifyFiles checks with later exports as one chain). It appends, syncs
// and checks the file first and trims Redis after, keyed by seq: a crash
// between the two leaves the records in both, and the next run appends
// nothing twice and trims them; a crash in the middle of the append
// leaves a partial last line, which the next run cuts before appending.
type Archiver struct {
	Ledger *redisstore.EnergyLedger
	// Pub checks the file's last record and what is appended.
	Pub  ed25519.PublicKey
	Keep time.Duration // DefaultKeep when 0
	Now  func() time.Time
	// afterAppend runs between the append and the trim (tests stop
	// there, as a crash would).
	afterAppend func() error
}

// ArchiveResult says what a run did.
type ArchiveResult struct {
	// Appended is the number of records appended, FirstSeq..LastSeq.
	Appended          int
	FirstSeq, LastSeq uint64
	// Archived is the last seq held only by archives after the run
	// (Redis holds the records after it).
	Archived uint64
	// CutBytes is the length of a partial last line cut from the file.
	CutBytes int64
}

// ErrArchive is wrapped by the refusals of Archive: the file and Redis do
// not fit together.
var ErrArchive = errors.New("energy: archive")

// Archive appends to the file at path (created when missing) the records
// after its last one whose hour ended at least Keep ago, in seq order up
// to the first record that is newer, then trims Redis up to the file's
// last record.
func (a *Archiver) Archive(ctx context.Context, path string) (ArchiveResult, error) {
	var res ArchiveResult
	keep := a.Keep
	if keep == 0 {
		keep = DefaultKeep
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	cutoff := now().Add(-keep)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return res, fmt.Errorf("energy: archive: %w", err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return res, err
	}
	if err := syncDir(path); err != nil {
		return res, err
	}
	last, lastAt, size, cut, err := lastLine(f)
	if err != nil {
		return res, fmt.Errorf("energy: archive %s: %w", path, err)
	}
	res.CutBytes = cut
	var tail *Record
	if last != nil {
		if _, err := Verify(bytes.NewReader(last), a.Pub); err != nil {
			return res, fmt.Errorf("%w %s: its last record: %v", ErrArchive, path, err)
		}
		var r Record
		if err := json.Unmarshal(last, &r); err != nil {
			return res, fmt.Errorf("%w %s: its last line is not a record: %v", ErrArchive, path, err)
		}
		tail = &r
	}
	done, err := a.Ledger.ChainArchived(ctx)
	if err != nil {
		return res, err
	}
	head, err := a.Ledger.Head(ctx)
	if err != nil {
		return res, err
	}
	var held uint64 // the file's last seq
	if tail != nil {
		held = tail.Seq
	}
	switch {
	case held < done:
		return res, fmt.Errorf("%w %s ends at record %d, but Redis was trimmed up to %d: records %d..%d are in the archive that trim was made for; use that file",
			ErrArchive, path, held, done, held+1, done)
	case held > head.Seq:
		return res, fmt.Errorf("%w %s ends at record %d, beyond Redis's chain head %d: it is not this chain's archive",
			ErrArchive, path, held, head.Seq)
	}
	if held > done {
		// Records in both (a run stopped between append and trim): the
		// file's last one must be Redis's.
		lines, err := a.Ledger.ChainRange(ctx, held, held)
		if err != nil {
			return res, err
		}
		if len(lines) != 1 || lines[0] != string(last) {
			return res, fmt.Errorf("%w %s: its last record %d differs from Redis's: not this chain's archive", ErrArchive, path, held)
		}
	}
	// The records to append: after held, while their hour has ended
	// before the cutoff.
	var add [][]byte
	prevHash := ""
	if tail != nil {
		prevHash = tail.Hash
	}
	for next := held + 1; next <= head.Seq; {
		to := min(head.Seq, next+999)
		lines, err := a.Ledger.ChainRange(ctx, next, to)
		if err != nil {
			return res, err
		}
		if uint64(len(lines)) != to-next+1 {
			return res, fmt.Errorf("%w: Redis lacks records of %d..%d", ErrArchive, next, to)
		}
		stop := false
		for i, l := range lines {
			var r Record
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				return res, fmt.Errorf("%w: record %d in Redis: %v", ErrArchive, next+uint64(i), err)
			}
			h, err := time.Parse(time.RFC3339, r.Hour)
			if err != nil {
				return res, fmt.Errorf("%w: record %d in Redis: hour %q: %v", ErrArchive, r.Seq, r.Hour, err)
			}
			if h.Add(time.Hour).After(cutoff) {
				stop = true
				break
			}
			if prevHash != "" && r.Prev != prevHash {
				return res, fmt.Errorf("%w: record %d in Redis does not link to record %d (the file's or Redis's)", ErrArchive, r.Seq, r.Seq-1)
			}
			prevHash = r.Hash
			add = append(add, []byte(l))
		}
		if stop {
			break
		}
		next = to + 1
	}
	if len(add) > 0 {
		if err := a.appendLines(f, path, last, lastAt, size, add); err != nil {
			return res, err
		}
		var first, end Record
		json.Unmarshal(add[0], &first)
		json.Unmarshal(add[len(add)-1], &end)
		res.Appended, res.FirstSeq, res.LastSeq = len(add), first.Seq, end.Seq
		held, tail = end.Seq, &end
	}
	if a.afterAppend != nil {
		if err := a.afterAppend(); err != nil {
			return res, err
		}
	}
	res.Archived = done
	if held > done {
		if err := a.Ledger.TrimChain(ctx, held, tail.Hash); err != nil {
			return res, err
		}
		res.Archived = held
	}
	return res, nil
}

// appendLines writes lines at size (after the file's last complete line),
// syncs the file, and checks what is on disk from the file's last record
// (at lastAt; none when last is nil) to the end as one chain.
func (a *Archiver) appendLines(f *os.File, path string, last []byte, lastAt, size int64, lines [][]byte) error {
	var buf bytes.Buffer
	for _, l := range lines {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	if _, err := f.WriteAt(buf.Bytes(), size); err != nil {
		return fmt.Errorf("energy: archive %s: append: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("energy: archive %s: sync: %w", path, err)
	}
	from := size
	if last != nil {
		from = lastAt
	}
	res, err := Verify(io.NewSectionReader(f, from, size+int64(buf.Len())-from), a.Pub)
	if err != nil {
		return fmt.Errorf("%w %s: the appended records do not verify: %v", ErrArchive, path, err)
	}
	if want := uint64(len(lines)); last != nil && uint64(res.Records) != want+1 || last == nil && uint64(res.Records) != want {
		return fmt.Errorf("%w %s: %d records on disk after the append, want %d", ErrArchive, path, res.Records, want)
	}
	return nil
}

// lastLine finds the file's last complete line: its bytes (nil for an
// empty file), its offset, and the size of the complete lines. A partial
// last line (no newline: a write cut short) is cut off the file; its
// length is returned.
func lastLine(f *os.File) (last []byte, at, size, cut int64, err error) {
	st, err := f.Stat()
	if err != nil {
		return nil, 0, 0, 0, err
	}
	size = st.Size()
	// The end of the complete lines.
	end, err := lastNewline(f, size)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	if end+1 < size {
		cut = size - (end + 1)
		if err := f.Truncate(end + 1); err != nil {
			return nil, 0, 0, 0, fmt.Errorf("cut a partial last line: %w", err)
		}
		if err := f.Sync(); err != nil {
			return nil, 0, 0, 0, err
		}
		size = end + 1
	}
	if end < 0 {
		return nil, 0, 0, cut, nil
	}
	start, err := lastNewline(f, end)
	if err != nil {
		return nil, 0, 0, 0, err
	}
	at = start + 1
	last = make([]byte, end-at)
	if _, err := f.ReadAt(last, at); err != nil {
		return nil, 0, 0, 0, err
	}
	last = bytes.TrimSpace(last)
	if len(last) == 0 {
		return nil, 0, 0, 0, errors.New("its last line is empty: not an archive this command wrote")
	}
	return last, at, size, cut, nil
}

// lastNewline returns the offset of the last '\n' before end (-1: none).
func lastNewline(f *os.File, end int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for end > 0 {
		n := min(int64(len(buf)), end)
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return end - n + int64(i), nil
		}
		end -= n
	}
	return -1, nil
}

// syncDir syncs the directory of path, so a file just created survives a
// crash.
func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("energy: archive: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("energy: archive: sync the directory: %w", err)
	}
	return nil
}
