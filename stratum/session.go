package stratum

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unique"

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
// encodes a message and the goroutine that writes it.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// session is one miner connection.
type session struct {
	srv  *Server
	conn net.Conn
	log  sessionLog
	// addr is the remote address's limit, ban and tally entry; nil when
	// the address is not tracked (allowlisted, or no per-address limit
	// and no bans configured).
	addr *addrState

	// out is the outbound side: direct writes, and the bounded queue of
	// what the socket did not take yet (conn.go).
	out outbox
	// isClosed is set once by close.
	isClosed atomic.Bool
	// closeOnce guards the socket close.
	closeOnce sync.Once
	// connected is when the connection was accepted.
	connected time.Time
	// id numbers the connection among the server's (from 1), for the
	// admin's list and logs.
	id uint64
	// handshaken is set once the session is subscribed and authorized; the
	// read deadline stops using HandshakeTimeout then.
	handshaken atomic.Bool
	// drainBy, when non-zero, is the unix-nano time by which a shutting
	// down session must be gone.
	drainBy atomic.Int64
	// acks holds accepted submits until the store reports them durable;
	// a flusher then answers them (see ack.go). It has its own leaf lock.
	acks ackRing

	mu sync.Mutex // guards everything below
	// The flags come first, together, so the struct has no padding
	// between them (every idle miner holds one session):
	// subscribed says mining.subscribe succeeded (en1 is then valid);
	// authorized says a worker is authorized (see worker); ready says the
	// session has been sent its first difficulty and job; fixed says a
	// d=N password turned vardiff off.
	subscribed, authorized, ready, fixed bool
	en1                                  [share.Extranonce1Size]byte
	en1v                                 uint32
	// seen is the duplicate memory of en1, set at subscribe: taken over
	// from the connection that last held en1 when that one had accepted
	// shares on the current tip (a resumed session), so the same share
	// is never credited twice whatever connection or job id it comes
	// under; handed back to the allocator when the session ends. It is
	// kept by value (the assignments point at it) so an idle session
	// holds no allocation for it.
	seen share.Seen
	// mask is the negotiated BIP310 mask (0 when not negotiated).
	mask uint32
	// worker is the first worker authorized on this connection, under
	// the username user; more holds any others by username (a proxy
	// carries several), nil until a second one, since most connections
	// authorize one. account is the first one's payout account, which
	// chooses the job.
	user    string
	worker  *share.Worker
	more    map[string]*share.Worker
	account string
	// diff and target are the difficulty for jobs sent from now on; the
	// target is shared (targets.intern) with the assignments made at it.
	diff   float64
	target *share.Target
	// floor is the lowest difficulty the miner asked for (suggest or
	// minimum-difficulty).
	floor float64
	vd    vardiff
	// jobs are the recent assignments by session job id; cur is the job
	// last sent, resent under a new id when the difficulty changes;
	// lastID is the session job id last sent (ids count from 1).
	jobs    jobTable
	cur     *share.Job
	lastID  uint32
	strikes int
	// agent is the user agent the miner gave at subscribe (at most
	// maxAgentBytes, printable ASCII), interned: a site's thousands of
	// ASICs send the same few agents. The zero handle is none.
	agent unique.Handle[string]
	// accepted and rejected count the connection's shares since it
	// connected; rate is the hashrate (H/s) of the last closed vardiff
	// window, 0 before one closed. All three are for the admin's list.
	accepted, rejected uint32
	rate               float64
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
	d := srv.difficulty().Initial
	t, _ := targets.forDifficulty(d) // validated by NewServer
	s := &session{
		srv:       srv,
		conn:      conn,
		addr:      addr,
		connected: time.Now(),
		id:        srv.connIDs.Add(1),
		diff:      d,
		target:    t,
	}
	s.log.s = s
	if rc := rawConn(conn); rc != nil {
		s.out.raw = newRawWriter(rc)
	}
	return s
}

// releaseExtranonce1 hands the session's extranonce1, with its duplicate
// memory, back to the allocator once the session has ended.
func (s *session) releaseExtranonce1() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.subscribed {
		return
	}
	s.srv.alloc.release(s.en1v, &s.seen)
	s.seen = share.Seen{}
}

// handle decodes and dispatches one request line. A non-empty quit is the
// reason to end the connection once the queued replies are written, which
// ended reports (nil when the session is already closed).
func (s *session) handle(line []byte) (quit string, ended <-chan struct{}) {
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
		return "", nil
	}
	return s.kick, s.endGracefully(nil)
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
	s.accepted++
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
	if now.Sub(s.floodStart) >= g.policy().window {
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
		zap.Stringer("addr", s.addr.addr), zap.Duration("for", g.policy().banFor))
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
func (s *session) notify(job *share.Job, clean bool) {
	id := s.nextJobID()
	s.jobs.add(id, job, s.diff, s.target, &s.seen, clean)
	s.cur = job
	var idb [maxJobIDLen]byte
	b := getBuf()
	*b = share.AppendNotify(*b, view(appendJobID(idb[:0], id)), job, clean)
	s.send(b)
}

// nextJobID returns a new session job id. Ids are a counter, formatted for
// the wire only when sent: a session would need 2^32 notifies (over a
// century at one a second) to wrap, and then skips 0. s.mu is held.
func (s *session) nextJobID() uint32 {
	s.lastID++
	if s.lastID == 0 {
		s.lastID = 1
	}
	return s.lastID
}

// publish sends the session its job from w, when it is ready. The time is
// not used: an assignment no longer records when it was sent.
func (s *session) publish(w share.Work) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready || s.closed() {
		return
	}
	s.sendWork(w, w.Clean())
}

// sendWork sends the job w holds for the session's account. s.mu is held.
func (s *session) sendWork(w share.Work, clean bool) {
	job, err := w.JobFor(s.account)
	if err != nil {
		s.log.Warn("no job for account", zap.String("account", s.account), zap.Error(err))
		return
	}
	s.notify(job, clean)
}

// findWorker returns the worker authorized on this connection under user,
// or nil. s.mu is held.
func (s *session) findWorker(user string) *share.Worker {
	if s.worker != nil && s.user == user {
		return s.worker
	}
	return s.more[user]
}

// addWorker records w as authorized under user, replacing an earlier
// authorization of the same username. s.mu is held.
func (s *session) addWorker(user string, w *share.Worker) {
	if s.worker == nil || s.user == user {
		s.user, s.worker = user, w
		return
	}
	if s.more == nil {
		s.more = make(map[string]*share.Worker)
	}
	s.more[user] = w
}

// workerCount returns how many usernames are authorized on this
// connection. s.mu is held.
func (s *session) workerCount() int {
	if s.worker == nil {
		return 0
	}
	return 1 + len(s.more)
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
		s.sendWork(w, true)
	}
}

// setDifficulty makes d the difficulty for jobs sent from now on. When the
// session is mining it tells the miner and resends the current job under a
// new id (clean=false) so the change applies at once; shares for older ids
// keep the difficulty they were sent with. The time is not used: an
// assignment no longer records when it was sent. s.mu is held.
func (s *session) setDifficulty(d float64) {
	if d == s.diff {
		return
	}
	t, err := targets.forDifficulty(d)
	if err != nil {
		return
	}
	s.diff, s.target = d, t
	if !s.ready {
		return
	}
	s.sendDifficulty()
	if s.cur != nil {
		s.notify(s.cur, false)
	}
}

// tick retargets a session that has sent too few shares to be retargeted
// on submit.
func (s *session) tick(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready || s.fixed || s.closed() || now.Sub(s.vd.start) < s.srv.difficulty().RetargetInterval {
		return
	}
	s.retarget(now)
}

// retarget closes the vardiff window and applies its verdict. s.mu is held.
func (s *session) retarget(now time.Time) {
	elapsed := now.Sub(s.vd.start)
	next, changed := retarget(s.diff, s.vd.sum, elapsed, s.floor, s.srv.difficulty())
	if elapsed > 0 {
		s.rate = s.vd.sum * hashesPerDifficulty / elapsed.Seconds()
	}
	s.vd.reset(now)
	if changed {
		s.log.Debug("vardiff", zap.Float64("from", s.diff), zap.Float64("to", next))
		s.setDifficulty(next)
	}
}
