package redisstore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/share"
)

// Journal format: a sequence of records, each
//
//	length  uint32 little-endian, bytes of payload (1..maxRecord)
//	crc     uint32 little-endian, CRC-32C (Castagnoli) of payload
//	payload one batch, encoded by appendBatch (version byte first)
//
// Payload versions: 1, the shares and block as first released; 2 (written
// now) adds each share's network difficulty and coinbase value and the
// block's coinbase txid and network difficulty; 3 adds each share's and
// the block's energy site and the batch's rejected shares per site and
// hour. All are read, so a
// journal left by the previous release replays after an upgrade (its
// records carry those fields as zero: unknown).
//
// A record is written with one write call and the file is fsynced after
// each append call (a group of up to maxGroup batches), before the batches
// are reported done.
const (
	recordHeader    = 8
	maxRecord       = 64 << 20
	journalVersion  = 3
	corruptSuffix   = ".corrupt-"
	maxStringLength = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CorruptError reports where and why a journal stops being readable.
type CorruptError struct {
	Path   string
	Offset int64
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("redisstore: journal %s corrupt at offset %d: %s", e.Path, e.Offset, e.Reason)
}

// JournalReport describes a journal as opened: what valid records it holds
// and, when its tail was torn or corrupt, where and where the unreadable
// bytes were saved.
type JournalReport struct {
	Batches, Shares, Blocks int
	// Corrupt is set when the file has unreadable bytes after its valid
	// records; those bytes were not replayed.
	Corrupt *CorruptError
	// SavedAs is the file the unreadable bytes were moved to (by Start).
	SavedAs string
}

// ScanJournal reads the journal at path without changing it and reports its
// valid records. It returns a *CorruptError (also in the report) when the
// tail is torn or corrupt. A missing file is an empty journal.
func ScanJournal(path string) (JournalReport, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return JournalReport{}, nil
	}
	if err != nil {
		return JournalReport{}, fmt.Errorf("redisstore: open journal: %w", err)
	}
	defer f.Close()
	rep, _, err := scan(f, path)
	if err != nil {
		return rep, err
	}
	if rep.Corrupt != nil {
		return rep, rep.Corrupt
	}
	return rep, nil
}

// scan reads every valid record from r and returns the report and the
// offset where valid data ends. I/O errors are returned as errors;
// unreadable data is reported in rep.Corrupt.
func scan(r io.Reader, path string) (rep JournalReport, end int64, err error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var hdr [recordHeader]byte
	var buf []byte
	for {
		n, err := io.ReadFull(br, hdr[:])
		if err == io.EOF {
			return rep, end, nil
		}
		if err == io.ErrUnexpectedEOF {
			rep.Corrupt = &CorruptError{Path: path, Offset: end, Reason: fmt.Sprintf("torn record header (%d of %d bytes)", n, recordHeader)}
			return rep, end, nil
		}
		if err != nil {
			return rep, end, fmt.Errorf("redisstore: read journal: %w", err)
		}
		size := binary.LittleEndian.Uint32(hdr[0:])
		sum := binary.LittleEndian.Uint32(hdr[4:])
		if size == 0 || size > maxRecord {
			rep.Corrupt = &CorruptError{Path: path, Offset: end, Reason: fmt.Sprintf("record length %d out of range", size)}
			return rep, end, nil
		}
		if cap(buf) < int(size) {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if n, err := io.ReadFull(br, buf); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				rep.Corrupt = &CorruptError{Path: path, Offset: end, Reason: fmt.Sprintf("torn record (%d of %d bytes)", n, size)}
				return rep, end, nil
			}
			return rep, end, fmt.Errorf("redisstore: read journal: %w", err)
		}
		if crc32.Checksum(buf, castagnoli) != sum {
			rep.Corrupt = &CorruptError{Path: path, Offset: end, Reason: "checksum mismatch"}
			return rep, end, nil
		}
		b, err := decodeBatch(buf)
		if err != nil {
			rep.Corrupt = &CorruptError{Path: path, Offset: end, Reason: err.Error()}
			return rep, end, nil
		}
		rep.Batches++
		rep.Shares += len(b.shares)
		if b.block != nil {
			rep.Blocks++
		}
		end += recordHeader + int64(size)
	}
}

// journal is the append-only file batches go to while Redis is unreachable.
// The writer appends; the store's replayer reads from readOff and, once it
// reaches the end, truncates the file: an empty file means "not
// backlogged", and only then does the writer go to Redis directly, so order
// is kept.
type journal struct {
	path string
	log  *zap.Logger
	// report is what openJournal found.
	report JournalReport

	mu      sync.Mutex
	f       *os.File
	size    int64 // bytes in the file
	readOff int64 // start of the first record not yet in Redis
	pending int   // shares after readOff
	closed  bool
	kick    chan struct{}
	buf     []byte
}

// openJournal opens (creating) the journal at path, checks every record and
// sets an unreadable tail aside in "<path>.corrupt-<unix nanos>" so that
// appends continue after the last valid record.
func openJournal(path string, log *zap.Logger) (*journal, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("redisstore: journal directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("redisstore: open journal: %w", err)
	}
	j := &journal{path: path, log: log, f: f, kick: make(chan struct{}, 1)}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("redisstore: journal seek: %w", err)
	}
	rep, end, err := scan(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	if rep.Corrupt != nil {
		saved, err := j.setAside(end)
		if err != nil {
			f.Close()
			return nil, err
		}
		rep.SavedAs = saved
	}
	j.report = rep
	j.size = end
	j.pending = rep.Shares
	if err := syncDir(filepath.Dir(path)); err != nil {
		f.Close()
		return nil, err
	}
	if end > 0 {
		j.kick <- struct{}{}
	}
	return j, nil
}

// setAside copies the file from off to its end into a .corrupt file and
// truncates the journal at off.
func (j *journal) setAside(off int64) (string, error) {
	st, err := j.f.Stat()
	if err != nil {
		return "", fmt.Errorf("redisstore: journal stat: %w", err)
	}
	saved := j.path + corruptSuffix + strconv.FormatInt(time.Now().UnixNano(), 10)
	out, err := os.OpenFile(saved, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", fmt.Errorf("redisstore: save corrupt journal tail: %w", err)
	}
	_, err = io.Copy(out, io.NewSectionReader(j.f, off, st.Size()-off))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("redisstore: save corrupt journal tail: %w", err)
	}
	if err := j.f.Truncate(off); err != nil {
		return "", fmt.Errorf("redisstore: truncate journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return "", fmt.Errorf("redisstore: sync journal: %w", err)
	}
	return saved, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("redisstore: open journal directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("redisstore: sync journal directory: %w", err)
	}
	return nil
}

// backlog returns the shares in the journal not yet in Redis.
func (j *journal) backlog() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.pending
}

// appendIfBacklogged appends bs when the journal is not drained (so they
// stay behind what it holds) and reports whether it did. A failed append
// reports false: the writer then tries Redis, and journals again on failure.
func (j *journal) appendIfBacklogged(bs []*batch) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.size == 0 || j.closed {
		return false
	}
	if err := j.appendLocked(bs); err != nil {
		j.log.Error("journal append failed", zap.Error(err))
		return false
	}
	return true
}

// append writes bs and fsyncs.
func (j *journal) append(bs []*batch) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return errors.New("redisstore: journal closed")
	}
	return j.appendLocked(bs)
}

func (j *journal) appendLocked(bs []*batch) error {
	j.buf = j.buf[:0]
	n := 0
	for _, b := range bs {
		start := len(j.buf)
		j.buf = append(j.buf, make([]byte, recordHeader)...)
		j.buf = appendBatch(j.buf, b)
		payload := j.buf[start+recordHeader:]
		if len(payload) > maxRecord {
			j.buf = j.buf[:start]
			return fmt.Errorf("redisstore: batch %s/%d encodes to %d bytes, above the journal limit", b.id, b.seq, len(payload))
		}
		binary.LittleEndian.PutUint32(j.buf[start:], uint32(len(payload)))
		binary.LittleEndian.PutUint32(j.buf[start+4:], crc32.Checksum(payload, castagnoli))
		n += len(b.shares)
	}
	w, err := j.f.Write(j.buf)
	if err != nil {
		// A short write leaves a torn record; cut it off so that later
		// appends stay readable.
		if w > 0 {
			_ = j.f.Truncate(j.size)
		}
		return fmt.Errorf("redisstore: journal write: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("redisstore: journal fsync: %w", err)
	}
	j.size += int64(w)
	j.pending += n
	select {
	case j.kick <- struct{}{}:
	default:
	}
	return nil
}

// read returns up to max batches from readOff and the offset after each. A
// record that cannot be read is set aside with everything after it and
// reported as a *CorruptError; the valid records before it are returned.
func (j *journal) read(max int) ([]*batch, []int64, error) {
	j.mu.Lock()
	off, size := j.readOff, j.size
	j.mu.Unlock()
	var bs []*batch
	var ends []int64
	var hdr [recordHeader]byte
	for off < size && len(bs) < max {
		bad := func(reason string) ([]*batch, []int64, error) {
			cerr := &CorruptError{Path: j.path, Offset: off, Reason: reason}
			if len(bs) > 0 {
				return bs, ends, nil // replay the good ones first
			}
			j.mu.Lock()
			defer j.mu.Unlock()
			saved, err := j.setAside(off)
			if err != nil {
				return nil, nil, errors.Join(cerr, err)
			}
			j.size = off
			j.log.Error("journal record unreadable; the rest was set aside",
				zap.Int64("offset", off), zap.String("reason", reason), zap.String("saved_as", saved))
			return nil, nil, cerr
		}
		if _, err := j.f.ReadAt(hdr[:], off); err != nil {
			return bad("unreadable record header: " + err.Error())
		}
		n := binary.LittleEndian.Uint32(hdr[0:])
		if n == 0 || n > maxRecord || off+recordHeader+int64(n) > size {
			return bad(fmt.Sprintf("record length %d out of range", n))
		}
		payload := make([]byte, n)
		if _, err := j.f.ReadAt(payload, off+recordHeader); err != nil {
			return bad("unreadable record: " + err.Error())
		}
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
			return bad("checksum mismatch")
		}
		b, err := decodeBatch(payload)
		if err != nil {
			return bad(err.Error())
		}
		bs = append(bs, b)
		off += recordHeader + int64(n)
		ends = append(ends, off)
	}
	return bs, ends, nil
}

// advance marks everything before off as in Redis. When that is the whole
// file it truncates the file, ending the backlog, and reports true.
func (j *journal) advance(off int64, shares int) (bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if off > j.readOff {
		j.readOff = off
	}
	j.pending -= shares
	if j.size == 0 || j.readOff < j.size {
		return false, nil
	}
	if err := j.f.Truncate(0); err != nil {
		return false, fmt.Errorf("redisstore: truncate drained journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return false, fmt.Errorf("redisstore: sync drained journal: %w", err)
	}
	j.size, j.readOff, j.pending = 0, 0, 0
	return true, nil
}

// close stops appends and wakes the replayer so that it can return; the
// file is closed by closeFile once the replayer is gone.
func (j *journal) close() {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

func (j *journal) isClosed() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.closed
}

func (j *journal) closeFile() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("redisstore: close journal: %w", err)
	}
	return nil
}

// appendBatch encodes b in the current format (journalVersion): version,
// id, shares, optional block.
func appendBatch(p []byte, b *batch) []byte {
	p = append(p, journalVersion)
	p = appendString(p, b.id)
	p = binary.AppendUvarint(p, b.seq)
	p = binary.AppendUvarint(p, uint64(len(b.shares)))
	for i := range b.shares {
		r := &b.shares[i]
		p = append(p, r.Node)
		p = binary.AppendUvarint(p, r.Seq)
		p = appendString(p, r.Worker)
		p = appendString(p, r.Account)
		p = binary.LittleEndian.AppendUint64(p, math.Float64bits(r.Difficulty))
		p = binary.LittleEndian.AppendUint64(p, math.Float64bits(r.ShareDifficulty))
		p = binary.AppendVarint(p, r.Time.UnixNano())
		p = binary.AppendVarint(p, r.Height)
		p = appendString(p, r.JobID)
		p = appendBool(p, r.Block)
		p = binary.LittleEndian.AppendUint64(p, math.Float64bits(r.NetDifficulty))
		p = binary.AppendVarint(p, r.CoinbaseValue)
		p = appendString(p, r.Site)
	}
	if bl := b.block; bl != nil {
		p = append(p, 1)
		p = binary.AppendVarint(p, bl.Height)
		p = appendString(p, bl.Hash)
		p = appendString(p, bl.Worker)
		p = appendString(p, bl.Account)
		p = binary.AppendVarint(p, bl.Reward)
		p = appendString(p, string(bl.Status))
		p = appendString(p, bl.Reason)
		p = binary.AppendVarint(p, bl.Time.UnixNano())
		p = append(p, bl.Node)
		p = appendString(p, bl.CoinbaseTxID)
		p = binary.LittleEndian.AppendUint64(p, math.Float64bits(bl.NetDifficulty))
		p = appendString(p, bl.Site)
	} else {
		p = append(p, 0)
	}
	p = binary.AppendUvarint(p, uint64(len(b.rejects)))
	for _, rc := range b.rejects {
		p = appendString(p, rc.site)
		p = binary.AppendVarint(p, rc.hour)
		p = binary.AppendUvarint(p, uint64(rc.n))
	}
	return p
}

func appendString(p []byte, s string) []byte {
	p = binary.AppendUvarint(p, uint64(len(s)))
	return append(p, s...)
}

func appendBool(p []byte, v bool) []byte {
	if v {
		return append(p, 1)
	}
	return append(p, 0)
}

// decoder reads what appendBatch wrote; the first error sticks.
type decoder struct {
	p   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("bad %s", what)
	}
}

func (d *decoder) byte(what string) byte {
	if d.err != nil || len(d.p) < 1 {
		d.fail(what)
		return 0
	}
	v := d.p[0]
	d.p = d.p[1:]
	return v
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.p)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.p)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) float(what string) float64 {
	if d.err != nil || len(d.p) < 8 {
		d.fail(what)
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.p))
	d.p = d.p[8:]
	return v
}

func (d *decoder) string(what string) string {
	n := d.uvarint(what)
	if d.err != nil || n > maxStringLength || n > uint64(len(d.p)) {
		d.fail(what)
		return ""
	}
	s := string(d.p[:n])
	d.p = d.p[n:]
	return s
}

// decodeBatch parses one journal payload of any version it knows. It never
// panics on bad input.
func decodeBatch(p []byte) (*batch, error) {
	d := &decoder{p: p}
	v := d.byte("version")
	if d.err == nil && (v < 1 || v > journalVersion) {
		return nil, fmt.Errorf("unknown record version %d", v)
	}
	b := &batch{id: d.string("batch stream")}
	b.seq = d.uvarint("batch seq")
	n := d.uvarint("share count")
	if d.err == nil && n > uint64(len(d.p)) { // every share takes more than a byte
		d.fail("share count")
	}
	if d.err == nil {
		b.shares = make([]share.Record, 0, n)
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		var r share.Record
		r.Node = d.byte("node")
		r.Seq = d.uvarint("seq")
		r.Worker = d.string("worker")
		r.Account = d.string("account")
		r.Difficulty = d.float("difficulty")
		r.ShareDifficulty = d.float("share difficulty")
		r.Time = time.Unix(0, d.varint("time"))
		r.Height = d.varint("height")
		r.JobID = d.string("job id")
		r.Block = d.byte("block flag") == 1
		if v >= 2 {
			r.NetDifficulty = d.float("network difficulty")
			r.CoinbaseValue = d.varint("coinbase value")
		}
		if v >= 3 {
			r.Site = d.string("site")
		}
		if d.err == nil {
			if err := check(&r); err != nil {
				return nil, fmt.Errorf("share %d: %w", i, err)
			}
		}
		b.shares = append(b.shares, r)
	}
	switch d.byte("block marker") {
	case 0:
	case 1:
		bl := &share.BlockRecord{}
		bl.Height = d.varint("block height")
		bl.Hash = d.string("block hash")
		bl.Worker = d.string("block worker")
		bl.Account = d.string("block account")
		bl.Reward = d.varint("block reward")
		bl.Status = share.BlockStatus(d.string("block status"))
		bl.Reason = d.string("block reason")
		bl.Time = time.Unix(0, d.varint("block time"))
		bl.Node = d.byte("block node")
		if v >= 2 {
			bl.CoinbaseTxID = d.string("block coinbase txid")
			bl.NetDifficulty = d.float("block network difficulty")
		}
		if v >= 3 {
			bl.Site = d.string("block site")
		}
		b.block = bl
	default:
		d.fail("block marker")
	}
	if v >= 3 {
		n := d.uvarint("reject count")
		if d.err == nil && n > uint64(len(d.p)) {
			d.fail("reject count")
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			rc := rejectCount{site: d.string("reject site"), hour: d.varint("reject hour")}
			c := d.uvarint("rejects")
			if c > math.MaxUint32 {
				d.fail("rejects")
			}
			rc.n = uint32(c)
			b.rejects = append(b.rejects, rc)
		}
	}
	if d.err == nil && len(d.p) != 0 {
		d.fail("record length (trailing bytes)")
	}
	if d.err == nil && (b.id == "" || b.seq == 0) {
		d.fail("batch id")
	}
	if d.err != nil {
		return nil, d.err
	}
	return b, nil
}
