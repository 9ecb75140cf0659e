package cpuminer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/share"
)

// MaxLineSize bounds one line from the pool. A notify with a large coinbase
// and a full merkle branch is a few kilobytes; anything past this is a
// broken or hostile pool and ends the connection.
const MaxLineSize = 256 << 10

// requestedMask is the version-rolling mask the miner asks for: every bit,
// leaving the choice to the pool.
const requestedMask = 0xffffffff

// maxPending bounds the submits awaiting a reply, so a pool that never
// answers cannot grow the miner's memory.
const maxPending = 1 << 16

// maxInflight bounds the submits awaiting a reply; well below the outbound
// queues pools use per connection (Tarbela's default is 64).
const maxInflight = 32

// maxReconnectWait caps the wait a client.reconnect may ask for.
const maxReconnectWait = 10 * time.Minute

// writeTimeout bounds one write to the pool.
const writeTimeout = 10 * time.Second

// errReconnect ends a session because the pool sent client.reconnect.
var errReconnect = errors.New("pool asked to reconnect")

// reqKind says what a pending request was, to interpret its reply.
type reqKind uint8

const (
	reqSubscribe reqKind = iota + 1
	reqConfigure
	reqAuthorize
	reqSuggest
	reqSubmit
	reqOther
)

// pendingReq is a request awaiting its reply.
type pendingReq struct {
	kind  reqKind
	jobID string
	nonce uint32
}

// redirect is where client.reconnect sent the miner.
type redirect struct {
	addr string
	wait time.Duration
}

// session is one connection to the pool. The reader goroutine (run) owns
// the protocol state; a submitter goroutine sends shares. Lock order: wmu
// before pmu.
type session struct {
	m    *Miner
	log  *zap.Logger
	conn net.Conn
	host string

	wmu    sync.Mutex
	nextID uint64

	pmu     sync.Mutex
	pending map[uint64]pendingReq
	// inflight holds one token per submit awaiting its reply, so the
	// miner never has more than maxInflight unanswered shares: a pool's
	// replies are never left queued behind a miner busy hashing.
	inflight chan struct{}

	// open counts this connection's submits awaiting a reply; those
	// left when it ends are Stats.Unanswered.
	open atomic.Int64

	// epoch counts clean_jobs notifies; shares of an older epoch are
	// dropped.
	epoch atomic.Uint64

	// Reader-owned state.
	subscribed bool
	authorized bool
	en1        []byte
	en2Size    int
	mask       uint32
	goal       *goal
	early      []byte // a notify that came before the subscribe reply
	redirect   *redirect
	rejectLog  rateLimit
}

// newSession starts a session at difficulty 1, Stratum's default until the
// pool sets one: a difficulty from an earlier connection may be lower than
// what the new one expects.
func newSession(m *Miner) *session {
	g := &goal{difficulty: 1}
	g.target, _ = share.TargetFromDifficulty(g.difficulty)
	return &session{m: m, log: m.log, pending: make(map[uint64]pendingReq), goal: g,
		inflight: make(chan struct{}, maxInflight)}
}

// run dials addr and speaks Stratum until the connection ends or ctx is
// done.
func (s *session) run(ctx context.Context, addr string, secure bool) error {
	conn, err := s.m.dial(ctx, addr, secure)
	if err != nil {
		return err
	}
	s.conn = conn
	s.host, _, _ = net.SplitHostPort(addr)
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	s.m.connects.Add(1)
	s.m.connected.Store(true)
	s.log.Info("connected to pool", zap.String("addr", addr), zap.Bool("tls", secure))

	if err := s.handshake(); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.submitLoop(sctx) })
	defer func() {
		cancel()
		conn.Close()
		wg.Wait()
	}()
	return s.readLoop()
}

// handshake sends the opening requests. Their replies are handled as they
// arrive; the pool answers them in order, so the version-rolling mask is
// known before the first job.
func (s *session) handshake() error {
	if s.m.o.VersionRolling {
		if err := s.request(reqConfigure, "mining.configure", []any{
			[]string{"version-rolling"},
			map[string]any{"version-rolling.mask": uint32BE(requestedMask), "version-rolling.min-bit-count": 2},
		}, pendingReq{}); err != nil {
			return err
		}
	}
	if err := s.request(reqSubscribe, "mining.subscribe", []any{UserAgent}, pendingReq{}); err != nil {
		return err
	}
	if d := s.m.o.SuggestDifficulty; d > 0 {
		if err := s.request(reqSuggest, "mining.suggest_difficulty", []any{d}, pendingReq{}); err != nil {
			return err
		}
	}
	return s.request(reqAuthorize, "mining.authorize", []any{s.m.o.User, s.m.o.Pass}, pendingReq{})
}

// request sends one request and records it as pending.
func (s *session) request(kind reqKind, method string, params []any, p pendingReq) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.nextID++
	id := s.nextID
	line, err := json.Marshal(struct {
		ID     uint64 `json:"id"`
		Method string `json:"method"`
		Params []any  `json:"params"`
	}{id, method, params})
	if err != nil {
		return fmt.Errorf("encode %s: %w", method, err)
	}
	p.kind = kind
	s.pmu.Lock()
	if len(s.pending) < maxPending {
		s.pending[id] = p
	}
	s.pmu.Unlock()
	return s.writeLocked(append(line, '\n'))
}

// reply answers a request from the pool (client.get_version and the like).
func (s *session) reply(id json.RawMessage, result any, stratumErr any) error {
	line, err := json.Marshal(struct {
		ID     json.RawMessage `json:"id"`
		Result any             `json:"result"`
		Error  any             `json:"error"`
	}{id, result, stratumErr})
	if err != nil {
		return fmt.Errorf("encode reply: %w", err)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.writeLocked(append(line, '\n'))
}

// writeLocked writes one line with a deadline; wmu must be held. A failed
// write closes the connection so the reader ends the session.
func (s *session) writeLocked(line []byte) error {
	if err := s.conn.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil {
		return fmt.Errorf("write to pool: %w", err)
	}
	if _, err := s.conn.Write(line); err != nil {
		s.conn.Close()
		return fmt.Errorf("write to pool: %w", err)
	}
	return nil
}

// submitLoop sends the shares the threads find until ctx is done.
func (s *session) submitLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-s.m.found:
			if f.w.sess != s || f.w.epoch != s.epoch.Load() || s.m.held.Load() {
				s.m.stale.Add(1)
				continue
			}
			select {
			case s.inflight <- struct{}{}:
			case <-ctx.Done():
				return
			}
			if err := s.submit(f); err != nil {
				s.log.Debug("submit failed", zap.Error(err))
				return
			}
		}
	}
}

// submit sends one share.
func (s *session) submit(f found) error {
	w := f.w
	// Counted before the write, so that a reply read at once never finds
	// the counters behind it.
	s.open.Add(1)
	s.m.inflight.Add(1)
	if err := s.request(reqSubmit, "mining.submit", submitParams(s.m.o.User, f), pendingReq{jobID: w.job.ID, nonce: f.nonce}); err != nil {
		s.open.Add(-1)
		s.m.inflight.Add(-1)
		return err
	}
	s.m.submitted.Add(1)
	s.log.Debug("share submitted", zap.String("job", w.job.ID), zap.String("nonce", uint32BE(f.nonce)))
	return nil
}

// submitParams are the mining.submit params for f: [user, job_id,
// extranonce2, ntime, nonce] plus the rolled version bits when version
// rolling was negotiated for the job.
func submitParams(user string, f found) []any {
	w := f.w
	en2 := make([]byte, w.en2Size)
	putExtranonce2(en2, f.unit)
	params := []any{user, w.job.ID, hex.EncodeToString(en2), uint32BE(w.job.CurTime), uint32BE(f.nonce)}
	if w.mask != 0 {
		params = append(params, uint32BE(f.version&w.mask))
	}
	return params
}

// readLoop reads and handles lines until the connection ends or a message
// ends the session.
func (s *session) readLoop() error {
	r := bufio.NewReaderSize(s.conn, 16<<10)
	var long []byte
	for {
		if err := s.conn.SetReadDeadline(time.Now().Add(s.m.o.IdleTimeout)); err != nil {
			return fmt.Errorf("read from pool: %w", err)
		}
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) || (long != nil && err == nil) {
			long = append(long, line...)
			if len(long) > MaxLineSize {
				return fmt.Errorf("read from pool: line longer than %d bytes", MaxLineSize)
			}
			if err != nil {
				continue
			}
			line, long = long, nil
		} else if err != nil {
			return fmt.Errorf("read from pool: %w", err)
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if err := s.handle(line); err != nil {
			return err
		}
	}
}

// message is any line from the pool: a request or notification (Method
// set) or a reply to one of ours.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// handle dispatches one line. Malformed messages are logged and skipped; the
// returned error ends the session.
func (s *session) handle(line []byte) error {
	var msg message
	if err := json.Unmarshal(line, &msg); err != nil {
		s.log.Warn("unreadable line from pool", zap.Error(err), zap.ByteString("line", short(line)))
		return nil
	}
	if msg.Method != "" {
		return s.handleMethod(&msg)
	}
	id, err := strconv.ParseUint(string(bytes.Trim(msg.ID, `"`)), 10, 64)
	if err != nil {
		s.log.Debug("reply with an unknown id", zap.ByteString("id", short(msg.ID)))
		return nil
	}
	s.pmu.Lock()
	p, ok := s.pending[id]
	delete(s.pending, id)
	s.pmu.Unlock()
	if !ok {
		s.log.Debug("reply to no pending request", zap.Uint64("id", id))
		return nil
	}
	return s.handleReply(p, &msg)
}

// handleReply interprets the reply to one of our requests.
func (s *session) handleReply(p pendingReq, msg *message) error {
	failed := !isNull(msg.Error)
	switch p.kind {
	case reqSubmit:
		select {
		case <-s.inflight:
		default:
		}
		s.open.Add(-1)
		s.m.inflight.Add(-1)
		if !failed && bytes.Equal(msg.Result, []byte("true")) {
			s.m.accepted.Add(1)
			s.log.Debug("share accepted", zap.String("job", p.jobID))
			return nil
		}
		s.m.rejected.Add(1)
		_, text := stratumError(msg.Error)
		if ok, suppressed := s.rejectLog.allow(time.Now()); ok {
			s.log.Info("share rejected", zap.String("job", p.jobID), zap.String("nonce", uint32BE(p.nonce)),
				zap.String("reason", text), zap.Uint64("suppressed", suppressed))
		}
	case reqSubscribe:
		if failed {
			_, text := stratumError(msg.Error)
			return fmt.Errorf("subscribe refused: %s", text)
		}
		return s.onSubscribe(msg.Result)
	case reqConfigure:
		s.onConfigure(msg)
	case reqAuthorize:
		if failed || !bytes.Equal(msg.Result, []byte("true")) {
			_, text := stratumError(msg.Error)
			return &AuthError{User: s.m.o.User, Message: text}
		}
		s.authorized = true
		s.log.Info("worker authorized", zap.String("user", s.m.o.User))
	case reqSuggest:
		if failed {
			_, text := stratumError(msg.Error)
			s.log.Debug("suggest_difficulty refused", zap.String("reason", text))
		}
	}
	return nil
}

// onSubscribe reads [subscriptions, extranonce1, extranonce2_size].
func (s *session) onSubscribe(result json.RawMessage) error {
	var r []json.RawMessage
	if err := json.Unmarshal(result, &r); err != nil || len(r) < 3 {
		return fmt.Errorf("subscribe reply: want [subscriptions, extranonce1, extranonce2_size], got %s", short(result))
	}
	en1, size, err := parseExtranonce(r[1], r[2])
	if err != nil {
		return fmt.Errorf("subscribe reply: %w", err)
	}
	s.en1, s.en2Size, s.subscribed = en1, size, true
	s.log.Info("subscribed", zap.String("extranonce1", hex.EncodeToString(en1)), zap.Int("extranonce2_size", size))
	if s.early != nil {
		early := s.early
		s.early = nil
		s.onNotify(early)
	}
	return nil
}

// parseExtranonce reads an extranonce1 (hex string) and extranonce2 size.
func parseExtranonce(rawEn1, rawSize json.RawMessage) ([]byte, int, error) {
	var en1hex string
	if err := json.Unmarshal(rawEn1, &en1hex); err != nil {
		return nil, 0, fmt.Errorf("extranonce1: %w", err)
	}
	en1, err := hex.DecodeString(en1hex)
	if err != nil || len(en1) > 32 {
		return nil, 0, fmt.Errorf("extranonce1: want at most 32 hex bytes, got %q", short([]byte(en1hex)))
	}
	var size int
	if err := json.Unmarshal(rawSize, &size); err != nil || size < 0 || size > maxExtranonce2Size {
		return nil, 0, fmt.Errorf("extranonce2_size: want 0..%d, got %s", maxExtranonce2Size, short(rawSize))
	}
	return en1, size, nil
}

// onConfigure reads the pool's version-rolling answer.
func (s *session) onConfigure(msg *message) {
	s.mask = 0
	var r map[string]json.RawMessage
	if !isNull(msg.Error) || json.Unmarshal(msg.Result, &r) != nil {
		s.log.Info("pool does not support mining.configure; mining without version rolling")
		return
	}
	var on bool
	var maskHex string
	if json.Unmarshal(r["version-rolling"], &on) != nil || !on || json.Unmarshal(r["version-rolling.mask"], &maskHex) != nil {
		s.log.Info("pool declined version rolling")
		return
	}
	mask, err := strconv.ParseUint(maskHex, 16, 32)
	if err != nil {
		s.log.Warn("pool sent a bad version-rolling mask", zap.String("mask", string(short([]byte(maskHex)))))
		return
	}
	s.setMask(uint32(mask) & requestedMask)
}

// setMask records the negotiated mask; it applies from the next job.
func (s *session) setMask(mask uint32) {
	s.mask = mask
	s.m.mask.Store(mask)
	s.log.Info("version rolling negotiated", zap.String("mask", uint32BE(mask)))
}

// handleMethod handles a notification or request from the pool.
func (s *session) handleMethod(msg *message) error {
	switch msg.Method {
	case "mining.notify":
		if !s.subscribed {
			s.early = append(s.early[:0], msg.Params...)
			return nil
		}
		s.onNotify(msg.Params)
	case "mining.set_difficulty":
		s.onSetDifficulty(msg.Params)
	case "mining.set_extranonce":
		var p []json.RawMessage
		if json.Unmarshal(msg.Params, &p) != nil || len(p) < 2 {
			s.log.Warn("bad mining.set_extranonce", zap.ByteString("params", short(msg.Params)))
			return nil
		}
		en1, size, err := parseExtranonce(p[0], p[1])
		if err != nil {
			s.log.Warn("bad mining.set_extranonce", zap.Error(err))
			return nil
		}
		// The new extranonce applies to the jobs that follow.
		s.en1, s.en2Size = en1, size
		s.log.Info("extranonce changed", zap.String("extranonce1", hex.EncodeToString(en1)), zap.Int("extranonce2_size", size))
	case "mining.set_version_mask":
		var p []string
		if !s.m.o.VersionRolling || json.Unmarshal(msg.Params, &p) != nil || len(p) < 1 {
			return nil
		}
		if mask, err := strconv.ParseUint(p[0], 16, 32); err == nil {
			s.setMask(uint32(mask) & requestedMask)
		}
	case "client.reconnect":
		s.redirect = s.parseReconnect(msg.Params)
		return errReconnect
	case "client.show_message":
		var p []string
		if json.Unmarshal(msg.Params, &p) == nil && len(p) > 0 {
			s.log.Info("message from pool", zap.String("text", string(short([]byte(p[0])))))
		}
	case "client.get_version":
		if !isNull(msg.ID) {
			return s.reply(msg.ID, UserAgent, nil)
		}
	case "mining.ping":
		if !isNull(msg.ID) {
			return s.reply(msg.ID, "pong", nil)
		}
	default:
		s.log.Debug("unsupported method from pool", zap.String("method", string(short([]byte(msg.Method)))))
		if !isNull(msg.ID) {
			return s.reply(msg.ID, nil, []any{20, "Method not supported", nil})
		}
	}
	return nil
}

// onNotify turns mining.notify params into work for the threads.
func (s *session) onNotify(params json.RawMessage) {
	job, err := share.JobFromNotify(params, s.en2Size)
	if err != nil {
		s.log.Warn("bad mining.notify", zap.Error(err))
		return
	}
	if job.Clean {
		s.epoch.Add(1)
	}
	w := newWork(job, s, s.epoch.Load(), s.en1, s.en2Size, s.mask, s.goal, s.m.unitCounter(job.PrevHash))
	s.m.board.set(w)
	s.m.jobs.Add(1)
	s.log.Debug("new job", zap.String("job", job.ID), zap.Bool("clean", job.Clean), zap.Float64("difficulty", s.goal.difficulty))
}

// onSetDifficulty applies mining.set_difficulty: to the jobs that follow,
// and to the current job too when it is harder.
func (s *session) onSetDifficulty(params json.RawMessage) {
	var p []float64
	if err := json.Unmarshal(params, &p); err != nil || len(p) < 1 {
		s.log.Warn("bad mining.set_difficulty", zap.ByteString("params", short(params)))
		return
	}
	t, err := share.TargetFromDifficulty(p[0])
	if err != nil {
		s.log.Warn("bad mining.set_difficulty", zap.Error(err))
		return
	}
	g := &goal{target: t, difficulty: p[0]}
	s.goal = g
	s.m.difficulty.Store(math.Float64bits(g.difficulty))
	if w := s.m.board.current(); w != nil && w.sess == s && w.goal.Load().difficulty < g.difficulty {
		w.goal.Store(g)
	}
	s.log.Debug("difficulty set", zap.Float64("difficulty", g.difficulty))
}

// parseReconnect reads client.reconnect's optional [host, port, wait].
func (s *session) parseReconnect(params json.RawMessage) *redirect {
	r := &redirect{}
	var p []json.RawMessage
	if json.Unmarshal(params, &p) != nil || len(p) < 2 {
		return r
	}
	var host string
	if json.Unmarshal(p[0], &host) != nil || host == "" {
		host = s.host
	}
	var port string
	if json.Unmarshal(p[1], &port) != nil {
		var n uint16
		if json.Unmarshal(p[1], &n) != nil {
			return r
		}
		port = strconv.Itoa(int(n))
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return r
	}
	r.addr = net.JoinHostPort(host, port)
	if len(p) >= 3 {
		var wait float64
		if json.Unmarshal(p[2], &wait) == nil && wait > 0 {
			r.wait = min(time.Duration(wait*float64(time.Second)), maxReconnectWait)
		}
	}
	return r
}

// stratumError reads a Stratum error: [code, "message", data], or the
// {"code", "message"} object some pools send, or a bare string.
func stratumError(raw json.RawMessage) (int, string) {
	if isNull(raw) {
		return 0, ""
	}
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) == nil && len(arr) >= 2 {
		var code int
		var text string
		_ = json.Unmarshal(arr[0], &code)
		if json.Unmarshal(arr[1], &text) != nil {
			text = string(short(arr[1]))
		}
		return code, text
	}
	var obj struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Message != "" {
		return obj.Code, obj.Message
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return 0, text
	}
	return 0, string(short(raw))
}

// isNull reports whether a JSON value is absent or null.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// short cuts pool input to a size fit for a log line.
func short(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

// rateLimit lets a few log lines through per second and counts the rest,
// so a pool that rejects everything does not flood the log.
type rateLimit struct {
	second     time.Time
	n          int
	suppressed uint64
}

// logsPerSecond is how many lines rateLimit lets through each second.
const logsPerSecond = 5

// allow reports whether to log now, and how many lines were held back
// since the last one logged.
func (r *rateLimit) allow(now time.Time) (bool, uint64) {
	sec := now.Truncate(time.Second)
	if !sec.Equal(r.second) {
		r.second, r.n = sec, 0
	}
	if r.n >= logsPerSecond {
		r.suppressed++
		return false, 0
	}
	r.n++
	s := r.suppressed
	r.suppressed = 0
	return true, s
}
