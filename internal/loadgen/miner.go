package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/share"
)

// Request ids of the handshake; submits count up from firstSubmitID.
const (
	idConfigure = 1
	idSubscribe = 2
	idSuggest   = 3
	idAuthorize = 4

	firstSubmitID = 100
)

// readBuf is the per-miner read buffer. Lines longer than it (a notify with
// a big coinbase and branch) are gathered in a temporary slice, so the
// steady per-miner cost stays small.
const readBuf = 1024

// maxLine bounds one line from the pool; a longer one ends the miner.
const maxLine = 256 << 10

// pendingSlots bounds the submits a miner keeps awaiting a reply; when all
// are taken the oldest is counted lost. A pool that acknowledges a share
// only once it is durable (Tarbela with Redis) answers after its batch
// interval plus a Redis round trip, and near saturation after hundreds of
// milliseconds: 8 slots counted replies as lost at 20 shares/s per miner
// that did arrive, so there are as many slots as a real miner keeps
// unanswered (tarbela-miner: 32). 16 bytes each.
const pendingSlots = 32

// errLineTooLong ends a miner whose pool sent an overlong line.
var errLineTooLong = errors.New("line from pool exceeds 256 KiB")

// work is what a miner mines on: the job, the share target in force when the
// job arrived, and the job id already quoted for JSON.
type work struct {
	job    *share.Job
	target share.Target
	idJSON []byte
}

// pending is a submit awaiting its reply; sent is monotonic ns since the
// run started.
type pending struct {
	id   uint32
	sent int64
}

// miner is one simulated miner. Its goroutine dials, runs the handshake and
// reads every line; a submitter goroutine sends its shares. Writes and the
// pending table are guarded by mu.
type miner struct {
	r        *runner
	n        int
	userJSON []byte
	conn     net.Conn

	// Set during the handshake, read-only once the miner is registered
	// with a submitter.
	en1     []byte
	en2Size int
	mask    atomic.Uint32

	cur atomic.Pointer[work]

	mu     sync.Mutex
	nextID uint32
	pend   [pendingSlots]pending
	npend  int
	dead   bool

	// Submitter-owned.
	en2Seq uint64
	next   int64
	slot   int

	// Reader-owned.
	target     share.Target
	difficulty float64
	// lastPrev are the latest prevhashes seen, newest first: a pool that
	// goes back to an earlier tip (two blocks at one height) must not
	// count the same miner twice in a round.
	lastPrev   [4]string
	gotWork    bool
	registered bool
	authorized bool
}

// run dials, handshakes and reads until the connection ends or ctx is done.
func (m *miner) run(ctx context.Context, release func()) {
	r := m.r
	defer func() {
		if release != nil {
			release()
		}
	}()
	d := net.Dialer{Timeout: r.o.DialTimeout}
	if la := r.o.sourceAddr(m.n); la != nil {
		d.LocalAddr = la
	}
	t0 := r.since()
	r.c.attempted.Add(1)
	conn, err := d.DialContext(ctx, "tcp", r.o.Pool)
	if err != nil {
		if ctx.Err() == nil {
			r.dialFailed(err)
		}
		r.handshakeEnded()
		return
	}
	r.c.connected.Add(1)
	r.noteSource(conn.LocalAddr())
	m.mu.Lock()
	m.conn = conn
	dead := m.dead
	m.mu.Unlock()
	if dead { // the run ended while dialing
		conn.Close()
		r.handshakeEnded()
		return
	}
	err = m.readLoop(ctx, conn, t0, &release)
	m.mu.Lock()
	m.dead = true
	m.mu.Unlock()
	conn.Close()
	if ctx.Err() == nil && !r.stopping.Load() {
		r.c.disconnected.Add(1)
		r.o.Log.Debug("miner disconnected", zap.Int("miner", m.n), zap.Error(err))
	}
	if !m.registered {
		r.handshakeEnded()
	}
}

// start sends the handshake requests, pipelined: configure, subscribe,
// suggest_difficulty, authorize. Stratum servers answer in order.
func (m *miner) start() error {
	o := &m.r.o
	var b []byte
	if o.VersionRolling {
		b = append(b, `{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"ffffffff","version-rolling.min-bit-count":2}]}`+"\n"...)
	}
	b = append(b, `{"id":2,"method":"mining.subscribe","params":["tarbela-bench/1.0"]}`+"\n"...)
	if o.SuggestDifficulty > 0 {
		b = append(b, `{"id":3,"method":"mining.suggest_difficulty","params":[`...)
		b = strconv.AppendFloat(b, o.SuggestDifficulty, 'g', -1, 64)
		b = append(b, "]}\n"...)
	}
	b = append(b, `{"id":4,"method":"mining.authorize","params":[`...)
	b = append(b, m.userJSON...)
	pass, _ := json.Marshal(o.Pass)
	b = append(b, ',')
	b = append(b, pass...)
	b = append(b, "]}\n"...)
	return m.write(b)
}

// write sends b with the run's write deadline.
func (m *miner) write(b []byte) error {
	if err := m.conn.SetWriteDeadline(time.Now().Add(m.r.o.IOTimeout)); err != nil {
		return err
	}
	_, err := m.conn.Write(b)
	return err
}

// message is one line from the pool.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// readLoop reads lines until the connection fails. The handshake must
// complete (authorized, first notify) within IOTimeout.
func (m *miner) readLoop(ctx context.Context, conn net.Conn, t0 int64, release *func()) error {
	r := m.r
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := m.start(); err != nil {
		r.c.handshakeFail.Add(1)
		return fmt.Errorf("send handshake: %w", err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(r.o.IOTimeout)); err != nil {
		return err
	}
	br := bufio.NewReaderSize(conn, readBuf)
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(long)+len(line) > maxLine {
				return errLineTooLong
			}
			long = append(long, line...)
			continue
		}
		if err != nil {
			if !m.gotWork {
				r.c.handshakeFail.Add(1)
			}
			return err
		}
		if long != nil {
			line = append(long, line...)
			long = nil
		}
		now := r.since()
		if params, ok := notifyParams(line); ok && m.en1 != nil {
			m.notify(params, now)
			if m.gotWork && !m.registered {
				if err := m.ready(conn, now, t0, release); err != nil {
					return err
				}
			}
			continue
		}
		var msg message
		if json.Unmarshal(line, &msg) != nil {
			r.c.badLines.Add(1)
			continue
		}
		if err := m.handle(&msg, now, t0); err != nil {
			return err
		}
		if m.gotWork && !m.registered {
			if err := m.ready(conn, now, t0, release); err != nil {
				return err
			}
		}
	}
}

// ready ends the handshake: the miner is authorized and has work.
func (m *miner) ready(conn net.Conn, now, t0 int64, release *func()) error {
	r := m.r
	m.registered = true
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return err
	}
	r.handshake.Record(time.Duration(now - t0))
	r.register(m)
	r.handshakeEnded()
	if *release != nil {
		(*release)()
		*release = nil
	}
	return nil
}

// handle acts on one message.
func (m *miner) handle(msg *message, now, t0 int64) error {
	r := m.r
	if msg.Method != "" && (len(msg.ID) == 0 || string(msg.ID) == "null" || msg.Result == nil) {
		return m.notification(msg, now)
	}
	id, err := strconv.ParseUint(string(msg.ID), 10, 32)
	if err != nil {
		r.c.badLines.Add(1)
		return nil
	}
	okResult := string(msg.Result) == "true"
	switch {
	case id >= firstSubmitID:
		m.submitReply(uint32(id), okResult, msg.Error, now)
	case id == idConfigure:
		var res map[string]json.RawMessage
		if json.Unmarshal(msg.Result, &res) == nil && string(res["version-rolling"]) == "true" {
			var s string
			if json.Unmarshal(res["version-rolling.mask"], &s) == nil {
				if v, err := strconv.ParseUint(s, 16, 32); err == nil {
					m.mask.Store(uint32(v))
				}
			}
		}
	case id == idSubscribe:
		var res []json.RawMessage
		var en1 string
		if json.Unmarshal(msg.Result, &res) != nil || len(res) < 3 || json.Unmarshal(res[1], &en1) != nil ||
			json.Unmarshal(res[2], &m.en2Size) != nil {
			r.c.handshakeFail.Add(1)
			return fmt.Errorf("subscribe refused: %s %s", msg.Result, msg.Error)
		}
		b, err := hex.DecodeString(en1)
		if err != nil || m.en2Size < 1 || m.en2Size > 32 {
			r.c.handshakeFail.Add(1)
			return fmt.Errorf("subscribe: bad extranonce1 %q or size %d", en1, m.en2Size)
		}
		m.en1 = b
		r.c.subscribed.Add(1)
	case id == idAuthorize:
		if !okResult {
			r.c.authFailed.Add(1)
			return fmt.Errorf("authorize refused: %s", msg.Error)
		}
		m.authorized = true
		r.c.authorized.Add(1)
	}
	return nil
}

// notification handles a method call from the pool.
func (m *miner) notification(msg *message, now int64) error {
	switch msg.Method {
	case "mining.set_difficulty":
		var p []float64
		if json.Unmarshal(msg.Params, &p) == nil && len(p) > 0 {
			if t, err := share.TargetFromDifficulty(p[0]); err == nil {
				m.target, m.difficulty = t, p[0]
			}
		}
	case "mining.set_version_mask":
		var p []string
		if json.Unmarshal(msg.Params, &p) == nil && len(p) > 0 {
			if v, err := strconv.ParseUint(p[0], 16, 32); err == nil {
				m.mask.Store(uint32(v))
			}
		}
	case "mining.notify":
		if m.en1 == nil {
			return nil // before the subscribe reply: Stratum pools send it after
		}
		m.notify(msg.Params, now)
	case "client.reconnect":
		m.r.c.reconnects.Add(1)
	}
	return nil
}

// notify takes a mining.notify's params. Parsed jobs are shared by every
// miner that got the same notify (only the job id may differ), so that the
// tool's own work per miner stays small while it times a fan-out.
func (m *miner) notify(params []byte, now int64) {
	r := m.r
	idJSON, rest, ok := splitJobID(params)
	if !ok {
		r.c.badLines.Add(1)
		return
	}
	j, err := r.jobs.get(rest, params, m.en2Size)
	if err != nil {
		r.c.badLines.Add(1)
		return
	}
	if m.difficulty == 0 { // Stratum's default until the pool says otherwise
		m.target, _ = share.TargetFromDifficulty(1)
		m.difficulty = 1
	}
	m.cur.Store(&work{job: j.job, target: m.target, idJSON: bytes.Clone(idJSON)})
	r.c.notifies.Add(1)
	if j.job.Clean && m.gotWork && !slices.Contains(m.lastPrev[:], j.prev) {
		r.fan.arrive(j.prev, r.at(now))
	}
	if m.lastPrev[0] != j.prev {
		copy(m.lastPrev[1:], m.lastPrev[:])
		m.lastPrev[0] = j.prev
	}
	if m.authorized {
		m.gotWork = true
	}
}

// submitReply matches a submit reply to its pending entry.
func (m *miner) submitReply(id uint32, ok bool, errField json.RawMessage, now int64) {
	r := m.r
	m.mu.Lock()
	sent := int64(-1)
	for i := 0; i < m.npend; i++ {
		if m.pend[i].id == id {
			sent = m.pend[i].sent
			m.npend--
			m.pend[i] = m.pend[m.npend]
			break
		}
	}
	m.mu.Unlock()
	if sent < 0 {
		r.c.unmatched.Add(1)
		return
	}
	r.c.pendingTotal.Add(-1)
	r.latency.Record(time.Duration(now - sent))
	if ok {
		r.c.accepted.Add(1)
		return
	}
	r.c.rejected.Add(1)
	r.reject(errorCode(errField))
}

// errorCode extracts the code of a Stratum error, [code, "message", data]
// or {"code": code, ...}; 0 when there is none (a plain false result).
func errorCode(e json.RawMessage) int {
	var arr []json.RawMessage
	if json.Unmarshal(e, &arr) == nil && len(arr) > 0 {
		var c int
		if json.Unmarshal(arr[0], &c) == nil {
			return c
		}
	}
	var obj struct {
		Code int `json:"code"`
	}
	if json.Unmarshal(e, &obj) == nil {
		return obj.Code
	}
	return 0
}

// send writes one submit line and records it as pending. It reports false
// when the miner is gone.
func (m *miner) send(line []byte, id uint32) bool {
	r := m.r
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dead || m.conn == nil {
		return false
	}
	if m.npend == pendingSlots {
		// The oldest entry never got a reply: count it lost.
		oldest := 0
		for i := 1; i < m.npend; i++ {
			if m.pend[i].sent < m.pend[oldest].sent {
				oldest = i
			}
		}
		m.npend--
		m.pend[oldest] = m.pend[m.npend]
		r.c.lost.Add(1)
		r.c.pendingTotal.Add(-1)
	}
	m.pend[m.npend] = pending{id: id, sent: r.since()}
	m.npend++
	r.c.pendingTotal.Add(1)
	r.c.submitted.Add(1)
	if err := m.write(line); err != nil {
		r.c.writeErrors.Add(1)
		m.dead = true
		m.conn.Close()
		return false
	}
	return true
}

// nextSubmitID returns the next submit request id.
func (m *miner) nextSubmitID() uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.nextID < firstSubmitID {
		m.nextID = firstSubmitID
	}
	id := m.nextID
	m.nextID++
	return id
}

// close ends the miner's connection (the run is over).
func (m *miner) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dead = true
	if m.conn != nil {
		m.conn.Close()
	}
}
