package stratum

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/share"
)

// maxStrikes is how many malformed requests a connection may send before it
// is closed: enough to forgive a firmware quirk, few enough that a port
// scanner or an HTTP client is gone after its first request's headers.
const maxStrikes = 5

// maxWorkers caps the workers authorized on one connection (proxies carry
// several; an unbounded map would let one socket grow memory without end).
const maxWorkers = 256

// writeBatch is how many queued messages one writev carries at most.
const writeBatch = 32

// maxPooledBuf is the largest message buffer returned to bufPool, so that an
// occasional huge notify does not pin memory in the pool.
const maxPooledBuf = 16 << 10

// bufPool recycles outbound message buffers between the goroutine that
// encodes a message and the writer that sends it.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// closeFlush in the outbound queue tells the writer to flush what came before
// it, half-close the socket and stop: the graceful end after client.reconnect.
var closeFlush = new([]byte)

// session is one miner connection.
type session struct {
	srv  *Server
	conn net.Conn
	log  *zap.Logger
	// addr is the remote address's limit, ban and tally entry; nil when
	// the address is not tracked (allowlisted, or no per-address limit
	// and no bans configured).
	addr *addrState

	// out is the bounded outbound queue. Sends happen with mu held, so its
	// free space cannot shrink between a check and a send.
	out  chan *[]byte
	done chan struct{}
	// writerDone is closed when writeLoop returns.
	writerDone chan struct{}
	// closeOnce guards done and the socket close.
	closeOnce sync.Once
	// connected is when the connection was accepted.
	connected time.Time
	// handshaken is set once the session is subscribed and authorized; the
	// read deadline stops using HandshakeTimeout then.
	handshaken atomic.Bool
	// drainBy, when non-zero, is the unix-nano time by which a shutting
	// down session must be gone.
	drainBy atomic.Int64
	// acks holds accepted submits until the store reports them durable;
	// the writer then answers them (see ack.go). It has its own leaf lock.
	acks ackRing

	mu sync.Mutex // guards everything below
	// subscribed says mining.subscribe succeeded; en1 is then valid.
	subscribed bool
	en1        [share.Extranonce1Size]byte
	en1v       uint32
	// workers are the usernames authorized on this connection; account
	// is the first one's payout account, which chooses the job.
	workers    map[string]*share.Worker
	authorized bool
	account    string
	// ready says the session has been sent its first difficulty and job.
	ready bool
	// mask is the negotiated BIP310 mask (0 when not negotiated).
	mask uint32
	// diff and target are the difficulty for jobs sent from now on.
	diff   float64
	target share.Target
	// floor is the lowest difficulty the miner asked for (suggest or
	// minimum-difficulty); fixed says a d=N password turned vardiff off.
	floor float64
	fixed bool
	vd    vardiff
	// jobs are the recent assignments by session job id; cur is the job
	// last sent, resent under a new id when the difficulty changes.
	jobs   jobTable
	cur    *share.Job
	nextID uint64
	// sub and res are reused by every submit so judging does not allocate.
	sub     share.Submission
	res     share.Result
	strikes int
	// floodStart, floodAccepted and floodRejected are the connection's
	// share tally for the flood rule; the window starts at a rejected
	// share.
	floodStart    time.Time
	floodAccepted int64
	floodRejected int64
	// kick, when set, is the reason to end the connection once the reply
	// to the current request is written.
	kick string
}

func newSession(srv *Server, conn net.Conn, addr *addrState) *session {
	d := srv.o.Difficulty.Initial
	t, _ := share.TargetFromDifficulty(d) // validated by NewServer
	return &session{
		srv:        srv,
		conn:       conn,
		log:        srv.log.With(zap.Stringer("remote", conn.RemoteAddr())),
		addr:       addr,
		out:        make(chan *[]byte, srv.o.SendQueue),
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
		connected:  time.Now(),
		acks:       newAckRing(),
		workers:    make(map[string]*share.Worker),
		diff:       d,
		target:     t,
	}
}

// close ends the session once: the socket is closed, which ends both
// goroutines.
func (s *session) close(reason string) {
	s.closeOnce.Do(func() {
		close(s.done)
		_ = s.conn.Close()
		s.log.Debug("connection closed", zap.String("reason", reason))
	})
}

func (s *session) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// extranonce1 returns the session's extranonce1 once subscribed.
func (s *session) extranonce1() (uint32, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.en1v, s.subscribed
}

// send queues msg without ever blocking; when the queue is full the miner is
// not reading and is dropped as a slow consumer. s.mu must be held.
func (s *session) send(msg *[]byte) {
	if s.closed() {
		putBuf(msg)
		return
	}
	select {
	case s.out <- msg:
	default:
		putBuf(msg)
		s.close("slow consumer: outbound queue full")
	}
}

// reconnect queues client.reconnect followed by a graceful close, for
// Shutdown. A miner whose queue is full is closed at once.
func (s *session) reconnect() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drainBy.Store(time.Now().Add(drainGrace).UnixNano())
	if cap(s.out)-len(s.out) < 2 {
		s.close("shutdown: outbound queue full")
		return
	}
	b := getBuf()
	*b = append(*b, `{"id":null,"method":"client.reconnect","params":[]}`+"\n"...)
	s.out <- b
	s.out <- closeFlush
}

// readLoop reads and handles request lines until the connection ends.
func (s *session) readLoop() {
	defer s.srv.wg.Done()
	defer s.srv.remove(s)
	br := bufio.NewReaderSize(s.conn, s.srv.o.MaxLineBytes)
	for {
		// A connection with maxPendingAcks shares waiting for their
		// record is not read until replies free a slot: backpressure on
		// that connection alone, never a wait per share.
		if !s.waitAckSlot() {
			return
		}
		if err := s.conn.SetReadDeadline(s.readDeadline(time.Now())); err != nil {
			s.close("set read deadline: " + err.Error())
			return
		}
		line, err := br.ReadSlice('\n')
		if err != nil {
			s.close(readErrorReason(err, s.handshaken.Load()))
			return
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if reason := s.handle(line); reason != "" {
			// Let the writer flush the final error reply first.
			select {
			case <-s.writerDone:
			case <-time.After(s.srv.o.WriteTimeout):
			}
			s.close(reason)
			return
		}
		if s.closed() {
			return
		}
	}
}

// readDeadline is when the next complete line must have arrived: IdleTimeout
// from now, sooner while the handshake is unfinished or during shutdown.
func (s *session) readDeadline(now time.Time) time.Time {
	d := now.Add(s.srv.o.IdleTimeout)
	if !s.handshaken.Load() {
		if h := s.connected.Add(s.srv.o.HandshakeTimeout); h.Before(d) {
			d = h
		}
	}
	if n := s.drainBy.Load(); n != 0 {
		if t := time.Unix(0, n); t.Before(d) {
			d = t
		}
	}
	return d
}

func readErrorReason(err error, handshaken bool) string {
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return "request line too long"
	case errors.Is(err, os.ErrDeadlineExceeded) && !handshaken:
		return "handshake timeout"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "idle timeout"
	case errors.Is(err, io.EOF):
		return "closed by miner"
	}
	return "read: " + err.Error()
}

// writeLoop sends queued messages and the replies of shares whose record
// is done (acks), several per write, each write bounded by WriteTimeout; a
// miner that does not read within it is dropped.
func (s *session) writeLoop() {
	defer s.srv.wg.Done()
	defer close(s.writerDone)
	var (
		owned [writeBatch]*[]byte
		vec   [writeBatch][]byte
	)
	for {
		var first *[]byte
		select {
		case <-s.done:
			return
		case first = <-s.out:
		case <-s.acks.ready:
		}
		n, finish := 0, false
		if b := s.ackReplies(); b != nil {
			owned[0], vec[0] = b, *b
			n++
		}
		for m := first; m != nil; {
			if m == closeFlush {
				finish = true
				break
			}
			owned[n], vec[n] = m, *m
			n++
			if n == writeBatch {
				break
			}
			select {
			case m = <-s.out:
			default:
				m = nil
			}
		}
		if !s.write(&owned, &vec, n) {
			return
		}
		if finish {
			s.drainAcks(&owned, &vec)
			s.finish()
			return
		}
	}
}

// write flushes the first n messages of vec, returns their buffers to the
// pool and reports whether the connection is still usable (it closes it
// otherwise).
func (s *session) write(owned *[writeBatch]*[]byte, vec *[writeBatch][]byte, n int) bool {
	err := s.flush(vec[:n])
	for i := range n {
		putBuf(owned[i])
		owned[i], vec[i] = nil, nil
	}
	if err == nil {
		return true
	}
	reason := "write: " + err.Error()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		reason = "slow consumer: write timeout"
	}
	s.close(reason)
	return false
}

// drainAcks, at the graceful end of a connection, waits for the records of
// the shares still pending and writes their replies, so that a miner is
// told the verdict of every share it sent before the pool stopped. It waits
// until the shutdown's drain deadline, or WriteTimeout when none is set.
func (s *session) drainAcks(owned *[writeBatch]*[]byte, vec *[writeBatch][]byte) {
	deadline := time.Now().Add(s.srv.o.WriteTimeout)
	if n := s.drainBy.Load(); n != 0 {
		deadline = time.Unix(0, n)
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for s.acks.pending() > 0 {
		if b := s.ackReplies(); b != nil {
			owned[0], vec[0] = b, *b
			if !s.write(owned, vec, 1) {
				return
			}
			continue
		}
		select {
		case <-s.acks.ready:
		case <-s.done:
			return
		case <-t.C:
			return
		}
	}
}

// flush writes msgs with one writev under the write deadline.
func (s *session) flush(msgs [][]byte) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.srv.o.WriteTimeout)); err != nil {
		return err
	}
	bufs := net.Buffers(msgs)
	_, err := bufs.WriteTo(s.conn)
	return err
}

// finish half-closes the socket after client.reconnect so the miner reads
// everything before it sees the end, and gives it drainGrace to hang up.
func (s *session) finish() {
	if cw, ok := s.conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	if n := s.drainBy.Load(); n != 0 {
		_ = s.conn.SetReadDeadline(time.Unix(0, n))
	}
}

// handle decodes and dispatches one request line. A non-empty result is the
// reason to end the connection once the queued replies are written.
func (s *session) handle(line []byte) (quit string) {
	var req request
	err := parseRequest(line, &req)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		err = s.dispatch(&req)
	}
	if err != nil {
		s.fail(&req, err)
	}
	if s.kick == "" {
		return ""
	}
	select {
	case s.out <- closeFlush:
		return s.kick
	default:
		s.close(s.kick)
		return ""
	}
}

// fail answers a request that failed. A malformed request is a strike, and
// maxStrikes of them end the connection. s.mu is held.
func (s *session) fail(req *request, err error) {
	var pe *protocolError
	if !errors.As(err, &pe) {
		s.log.Warn("request failed", zap.ByteString("method", req.method), zap.Error(err))
		s.replyError(req.id, "null", 20, err.Error())
		return
	}
	s.replyError(req.id, "null", 20, pe.msg)
	s.strikes++
	s.log.Debug("malformed request", zap.String("error", pe.msg), zap.Int("strikes", s.strikes))
	if s.strikes >= maxStrikes && s.kick == "" {
		s.kick = "too many malformed requests"
	}
}

// shareAccepted tallies an accepted share for the flood rule. It is on the
// hot path: no clock, no lock. s.mu is held.
func (s *session) shareAccepted() {
	s.floodAccepted++
	if s.addr != nil {
		s.addr.acceptedShare()
	}
}

// shareRejected tallies a rejected share for the flood rule: a connection
// that floods is disconnected, and when its address as a whole floods the
// address is banned and all its connections closed. s.mu is held.
func (s *session) shareRejected() {
	g := s.srv.guard
	now := time.Now()
	if now.Sub(s.floodStart) >= g.window {
		s.floodStart, s.floodAccepted, s.floodRejected = now, 0, 0
	}
	s.floodRejected++
	if s.kick == "" && g.flood(s.floodRejected, s.floodAccepted) {
		s.kick = "flood of rejected shares"
		g.kicks.Add(1)
		s.log.Info("disconnecting a connection that floods rejected shares",
			zap.Int64("rejected", s.floodRejected), zap.Int64("accepted", s.floodAccepted),
			zap.Duration("in", now.Sub(s.floodStart)))
	}
	if s.addr == nil || !g.rejectedShare(s.addr, now) {
		return
	}
	s.kick = "address banned"
	s.log.Warn("banning an address that floods rejected shares",
		zap.Stringer("addr", s.addr.addr), zap.Duration("for", g.banFor))
	s.srv.closeAddr(s.addr, s)
}

// dispatch runs the method's handler. Handlers send their own replies (some
// follow them with notifications) and return a protocolError for a
// malformed request. s.mu is held.
func (s *session) dispatch(req *request) error {
	switch string(req.method) {
	case "mining.submit":
		return s.handleSubmit(req)
	case "mining.subscribe":
		return s.handleSubscribe(req)
	case "mining.authorize":
		return s.handleAuthorize(req)
	case "mining.configure":
		return s.handleConfigure(req)
	case "mining.suggest_difficulty":
		return s.handleSuggestDifficulty(req)
	case "mining.extranonce.subscribe":
		s.replyResult(req.id, "true")
		return nil
	}
	if bytes.HasPrefix(req.method, []byte("mining.suggest_difficulty(")) {
		return s.handleSuggestDifficulty(req)
	}
	s.log.Debug("unknown method", zap.ByteString("method", req.method))
	s.replyError(req.id, "null", 20, "Unknown method")
	return nil
}

// replyResult sends a success reply with a raw JSON result. s.mu is held.
func (s *session) replyResult(id []byte, result string) {
	b := getBuf()
	*b = appendResult(*b, id, result)
	s.send(b)
}

// replyError sends an error reply. s.mu is held.
func (s *session) replyError(id []byte, result string, code int, msg string) {
	b := getBuf()
	*b = appendError(*b, id, result, code, msg)
	s.send(b)
}

// sendDifficulty sends mining.set_difficulty with the current difficulty.
// s.mu is held.
func (s *session) sendDifficulty() {
	b := getBuf()
	*b = appendSetDifficulty(*b, s.diff)
	s.send(b)
}

// notify sends job under a new session job id at the current difficulty.
// s.mu is held.
func (s *session) notify(job *share.Job, clean bool, now time.Time) {
	s.nextID++
	id := formatJobID(s.nextID)
	s.jobs.add(id, &share.Assignment{Job: job, Difficulty: s.diff, Target: s.target, Sent: now}, clean)
	s.cur = job
	b := getBuf()
	*b = share.AppendNotify(*b, id, job, clean)
	s.send(b)
}

// publish sends the session its job from w, when it is ready.
func (s *session) publish(w share.Work, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready || s.closed() {
		return
	}
	s.sendWork(w, w.Clean(), now)
}

// sendWork sends the job w holds for the session's account. s.mu is held.
func (s *session) sendWork(w share.Work, clean bool, now time.Time) {
	job, err := w.JobFor(s.account)
	if err != nil {
		s.log.Warn("no job for account", zap.String("account", s.account), zap.Error(err))
		return
	}
	s.notify(job, clean, now)
}

// becomeReady sends the first difficulty and job once the session is both
// subscribed and authorized (in either order). s.mu is held.
func (s *session) becomeReady(now time.Time) {
	if s.ready || !s.subscribed || !s.authorized {
		return
	}
	s.ready = true
	s.handshaken.Store(true)
	s.vd.reset(now)
	s.sendDifficulty()
	if w := s.srv.currentWork(); w != nil {
		s.sendWork(w, true, now)
	}
}

// setDifficulty makes d the difficulty for jobs sent from now on. When the
// session is mining it tells the miner and resends the current job under a
// new id (clean=false) so the change applies at once; shares for older ids
// keep the difficulty they were sent with. s.mu is held.
func (s *session) setDifficulty(d float64, now time.Time) {
	if d == s.diff {
		return
	}
	t, err := share.TargetFromDifficulty(d)
	if err != nil {
		return
	}
	s.diff, s.target = d, t
	if !s.ready {
		return
	}
	s.sendDifficulty()
	if s.cur != nil {
		s.notify(s.cur, false, now)
	}
}

// tick retargets a session that has sent too few shares to be retargeted
// on submit.
func (s *session) tick(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready || s.fixed || s.closed() || now.Sub(s.vd.start) < s.srv.o.Difficulty.RetargetInterval {
		return
	}
	s.retarget(now)
}

// retarget closes the vardiff window and applies its verdict. s.mu is held.
func (s *session) retarget(now time.Time) {
	next, changed := retarget(s.diff, s.vd.sum, now.Sub(s.vd.start), s.floor, &s.srv.o.Difficulty)
	s.vd.reset(now)
	if changed {
		s.log.Debug("vardiff", zap.Float64("from", s.diff), zap.Float64("to", next))
		s.setDifficulty(next, now)
	}
}

// formatJobID renders a session job id as lower-case hex.
func formatJobID(n uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	i := len(b)
	for {
		i--
		b[i] = digits[n&15]
		n >>= 4
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}
