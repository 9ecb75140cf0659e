package stratum

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/share"
)

// ErrServerClosed is returned by Start after Stop.
var ErrServerClosed = errors.New("stratum: server closed")

// drainGrace is how long a session may stay open after client.reconnect was
// sent on shutdown, waiting for the miner to hang up, before it is closed.
const drainGrace = 5 * time.Second

// workRef boxes the current work so it can sit in an atomic.Pointer.
type workRef struct{ w share.Work }

// Server is a Stratum v1 server. Create it with NewServer, start it once with
// Start, feed it templates with Publish and stop it with Stop.
type Server struct {
	o     Options
	log   *zap.Logger
	alloc *allocator
	guard *guard
	// diff is the difficulty policy in force; Reload replaces it. Read it
	// through difficulty(), never through o.Difficulty.
	diff atomic.Pointer[DifficultyOptions]
	// retargetEvery carries a new vardiff tick interval to vardiffLoop.
	retargetEvery chan time.Duration
	// reloadMu serializes Reload.
	reloadMu sync.Mutex

	// work is the latest published work; sessions that become ready read
	// it so they start mining at once.
	work atomic.Pointer[workRef]
	// publishMu serializes Publish so that every session sees templates in
	// the order they were published.
	publishMu sync.Mutex
	// published is Publish's list of the sessions to send to, reused from
	// one call to the next under publishMu: a fresh list per publish is a
	// pointer per miner of garbage every template (160 KB at 20,000
	// miners), which kept an idle pool's heap growing towards the
	// collector's goal. It is emptied after each use so that it keeps no
	// closed session alive; its capacity follows the most sessions seen.
	published []*session
	conns     atomic.Int64
	// connIDs numbers the connections (session.id).
	connIDs atomic.Uint64
	// acceptErrors counts failed accepts (EMFILE and the like).
	acceptErrors atomic.Uint64

	mu       sync.Mutex // guards the fields below; never held while a session's mutex is taken
	ln       net.Listener
	tls      tlsSide // the TLS listener (tls.go); its ln is guarded by mu
	sessions map[*session]struct{}
	started  bool
	closing  bool

	wg           sync.WaitGroup // accept loop, vardiff and guard tickers, each session's reader and running flusher
	quit         chan struct{}
	shutdownOnce sync.Once
}

// NewServer validates o (every bad field is named in the error) and returns
// a server that is not yet listening.
func NewServer(o Options) (*Server, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		o:             o,
		log:           o.Log.Named("stratum"),
		alloc:         newAllocator(o.NodeID),
		guard:         newGuard(&o),
		sessions:      make(map[*session]struct{}),
		quit:          make(chan struct{}),
		retargetEvery: make(chan time.Duration, 1),
	}
	s.tls.cfg = tlsConfig(o.TLSConfig)
	d := o.Difficulty
	s.diff.Store(&d)
	return s, nil
}

// difficulty returns the difficulty policy in force.
func (s *Server) difficulty() *DifficultyOptions { return s.diff.Load() }

// Start listens on Options.Listen (and Options.TLSListen) and accepts miners
// in the background. It may be called once; after Stop it returns
// ErrServerClosed.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrServerClosed
	}
	if s.started {
		return errors.New("stratum: server already started")
	}
	ln, err := net.Listen("tcp", s.o.Listen)
	if err != nil {
		return fmt.Errorf("stratum: listen on %s: %w", s.o.Listen, err)
	}
	tln, err := s.listenTLS()
	if err != nil {
		_ = ln.Close()
		return err
	}
	s.ln, s.started = ln, true
	s.wg.Add(3)
	go s.acceptLoop(ln, nil)
	go s.vardiffLoop()
	go s.guardLoop()
	if tln != nil {
		s.wg.Add(1)
		go s.acceptLoop(tln, s.tls.cfg)
	}
	s.log.Info("listening", zap.Stringer("addr", ln.Addr()))
	return nil
}

// Addr returns the listening address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Connections returns the number of open miner connections.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// Refused returns how many connections were closed on arrival since the
// server started: limit counts those over MaxConnections or
// MaxConnectionsPerIP, banned those from a banned address.
func (s *Server) Refused() (limit, banned uint64) {
	return s.guard.refusedLimit.Load(), s.guard.refusedBanned.Load()
}

// Floods returns how many connections were disconnected for flooding
// rejected shares, and how many address bans were imposed, since the server
// started.
func (s *Server) Floods() (disconnects, bans uint64) {
	return s.guard.kicks.Load(), s.guard.bans.Load()
}

// AcceptErrors returns how many times accepting a connection failed since
// the server started, typically for want of file descriptors (EMFILE): the
// server backs off and keeps serving its miners, but new ones wait, so an
// operator needs to see it.
func (s *Server) AcceptErrors() uint64 { return s.acceptErrors.Load() }

// Banned returns the number of addresses (IPv4 addresses and IPv6 prefixes
// of Options.IPv6Prefix bits) banned now.
func (s *Server) Banned() int { return s.guard.bannedCount(time.Now()) }

// Publish makes w the current work and sends every subscribed and authorized
// session w.JobFor(its account) as a new mining.notify, with clean_jobs =
// w.Clean(). Sessions that become ready later get w at once. Publish only
// enqueues: a session whose queue is full is dropped, never waited for.
func (s *Server) Publish(w share.Work) {
	if w == nil {
		return
	}
	s.publishMu.Lock()
	defer s.publishMu.Unlock()
	s.work.Store(&workRef{w})
	if w.Clean() {
		s.alloc.newTip()
	}
	sessions := s.snapshotInto(s.published[:0])
	s.publishTo(sessions, w)
	clear(sessions)
	s.published = sessions[:0]
}

// publishTo sends w to sessions. publishMu is held.
func (s *Server) publishTo(sessions []*session, w share.Work) {
	// Encoding and writing a notify is independent per session, so the
	// sessions are shared among GOMAXPROCS goroutines in chunks; each
	// session is still sent the templates in order (publishMu).
	workers := min(runtime.GOMAXPROCS(0), (len(sessions)+publishChunk-1)/publishChunk)
	if workers <= 1 {
		for _, sess := range sessions {
			sess.publish(w)
		}
		return
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	work := func() {
		for {
			end := int(next.Add(publishChunk))
			start := end - publishChunk
			if start >= len(sessions) {
				return
			}
			for _, sess := range sessions[start:min(end, len(sessions))] {
				sess.publish(w)
			}
		}
	}
	for range workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// publishChunk is how many sessions a Publish worker takes at a time: enough
// to make the shared counter cheap, few enough to balance the workers.
const publishChunk = 64

// currentWork returns the latest published work, or nil.
func (s *Server) currentWork() share.Work {
	if r := s.work.Load(); r != nil {
		return r.w
	}
	return nil
}

// snapshot returns the live sessions, or nil once shutting down.
func (s *Server) snapshot() []*session { return s.snapshotInto(nil) }

// snapshotInto appends the live sessions to dst (none once shutting down),
// growing it at most once.
func (s *Server) snapshotInto(dst []*session) []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return dst
	}
	dst = slices.Grow(dst, len(s.sessions))
	for sess := range s.sessions {
		dst = append(dst, sess)
	}
	return dst
}

// Stop stops accepting, sends client.reconnect to every miner and waits
// for the sessions to end; when ctx ends first the remaining connections are
// closed and ctx's error returned. It is safe to call more than once.
func (s *Server) Stop(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		listeners := []net.Listener{s.ln, s.tls.ln}
		sessions := make([]*session, 0, len(s.sessions))
		for sess := range s.sessions {
			sessions = append(sessions, sess)
		}
		s.mu.Unlock()
		close(s.quit)
		for _, sess := range sessions {
			sess.reconnect()
		}
		for _, ln := range listeners {
			if ln == nil {
				continue
			}
			if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				s.log.Warn("closing the listener", zap.Error(err))
			}
		}
		s.log.Info("shutting down", zap.Int("connections", len(sessions)))
	})
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for sess := range s.sessions {
		sess.close("shutdown deadline")
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// acceptLoop accepts connections until the listener is closed; tc is the
// TLS configuration of the TLS listener, nil for plain TCP.
func (s *Server) acceptLoop(ln net.Listener, tc *tls.Config) {
	defer s.wg.Done()
	var (
		backoff  time.Duration
		failures int
		logged   time.Time
	)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off instead
			// of spinning, keep serving the miners we have, and log
			// the first failure of a run and then a count every
			// guardEvery rather than every retry.
			backoff = nextAcceptBackoff(backoff)
			failures++
			s.acceptErrors.Add(1)
			if now := time.Now(); failures == 1 || now.Sub(logged) >= guardEvery {
				s.log.Warn("accept failed", zap.Error(err), zap.Int("failures", failures), zap.Duration("retry_in", backoff))
				logged = now
			}
			select {
			case <-time.After(backoff):
				continue
			case <-s.quit:
				return
			}
		}
		if failures > 0 {
			s.log.Info("accepting again", zap.Int("failures", failures))
		}
		backoff, failures = 0, 0
		s.serve(conn, tc)
	}
}

// Accept backoff bounds: the first retry after a failed accept waits
// minAcceptBackoff, each further one twice as long, up to maxAcceptBackoff.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)

// nextAcceptBackoff returns the wait after a failed accept that followed a
// wait of prev (0 after a success).
func nextAcceptBackoff(prev time.Duration) time.Duration {
	return min(max(2*prev, minAcceptBackoff), maxAcceptBackoff)
}

// serve admits conn against the limits and bans, then registers a session
// for it (under TLS with tc, when not nil) and starts its goroutines, unless
// the server is shutting down. A refused connection is closed at once,
// before anything is allocated for it.
func (s *Server) serve(conn net.Conn, tc *tls.Config) {
	st, why := s.guard.admit(remoteAddr(conn), s.conns.Load(), time.Now())
	if why != admitted {
		refuse(conn)
		return
	}
	if tc != nil {
		conn = s.wrapTLS(conn, tc)
	}
	sess := newSession(s, conn, st)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.guard.release(st, time.Now())
		_ = conn.Close()
		return
	}
	s.sessions[sess] = struct{}{}
	s.conns.Add(1)
	if tc != nil {
		s.tls.conns.Add(1)
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go sess.readLoop(newLineReader(conn, s.o.MaxLineBytes, sess.handleLine))
}

// remove forgets a finished session and frees its extranonce1.
func (s *Server) remove(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	s.conns.Add(-1)
	if isTLS(sess.conn) {
		s.tls.conns.Add(-1)
	}
	s.guard.release(sess.addr, time.Now())
	sess.releaseExtranonce1()
}

// vardiffTick is how often vardiffLoop looks at sessions.
func vardiffTick(retarget time.Duration) time.Duration {
	return max(retarget/2, 100*time.Millisecond)
}

// vardiffLoop retargets sessions that send too few shares to be retargeted
// on submit (a miner whose difficulty is far too high sends none at all).
func (s *Server) vardiffLoop() {
	defer s.wg.Done()
	t := time.NewTicker(vardiffTick(s.difficulty().RetargetInterval))
	defer t.Stop()
	// sessions is reused from tick to tick, as Publish's list is.
	var sessions []*session
	for {
		select {
		case <-s.quit:
			return
		case every := <-s.retargetEvery:
			t.Reset(every)
		case now := <-t.C:
			sessions = s.snapshotInto(sessions[:0])
			for _, sess := range sessions {
				sess.tick(now)
			}
			clear(sessions)
		}
	}
}

// closeAddr closes every session from st's address except skip (the
// session that tripped the ban, which closes itself after its reply).
func (s *Server) closeAddr(st *addrState, skip *session) {
	for _, sess := range s.snapshot() {
		if sess.addr == st && sess != skip {
			sess.close("address banned")
		}
	}
}

// guardLoop summarizes refusals in the log and sweeps idle per-address
// entries every guardEvery.
func (s *Server) guardLoop() {
	defer s.wg.Done()
	t := time.NewTicker(guardEvery)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			s.guard.summarize(s.log)
			return
		case now := <-t.C:
			s.guard.summarize(s.log)
			s.guard.sweep(now)
		}
	}
}
