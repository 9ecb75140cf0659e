package stratum

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// The outbound side of a connection: what a session writes, at once when
// the socket takes it, otherwise queued for a flusher (see conn.go).

// outbox is a session's outbound side. mu is taken after session.mu (a
// notify is queued with the session locked) and never before it; the ack
// ring's mutex is never held with it. mu is held across a non-blocking
// write so that messages keep their order on the wire.
type outbox struct {
	mu sync.Mutex
	// q holds the messages the socket did not take yet, oldest first; off
	// is how much of q[0] is already written.
	q   []*[]byte
	off int
	// writing says a flusher goroutine owns the socket's write side:
	// messages are queued behind it rather than written directly.
	writing bool
	// acksDue says the ack ring has replies to write since the flusher
	// last collected them.
	acksDue bool
	// closed says the session ended: nothing is written or queued any more.
	closed bool
	// end asks the flusher, once the queue is written, to write the
	// replies of the shares still waiting for their record, half-close
	// the socket and close ended. wake (set with end) tells the flusher,
	// waiting for those records, that one arrived or the session closed.
	end   bool
	ended chan struct{}
	wake  chan struct{}
	// raw writes without blocking, nil when the connection has no file
	// descriptor (net.Pipe in tests): everything then goes through the
	// flusher.
	raw *rawWriter
}

// rawWriter is a non-blocking write through syscall.RawConn. Its callback
// is bound once per connection so that a write allocates nothing. It is
// used by one goroutine at a time: under outbox.mu when nothing is queued,
// otherwise by the flusher.
type rawWriter struct {
	rc  syscall.RawConn
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

func newRawWriter(rc syscall.RawConn) *rawWriter {
	w := &rawWriter{rc: rc}
	w.fn = w.write
	return w
}

// write is the RawConn callback: it never asks the runtime to wait for the
// socket (it always returns true), so EAGAIN comes back as a short write.
func (w *rawWriter) write(fd uintptr) bool {
	for {
		n, err := syscall.Write(int(fd), w.b)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			err = nil
		}
		w.n, w.err = max(n, 0), err
		return true
	}
}

// tryWrite writes as much of b as the socket takes now. A write deadline in
// the past (left by a flusher that timed out) also comes back as an error.
func (w *rawWriter) tryWrite(b []byte) (int, error) {
	w.b, w.n, w.err = b, 0, nil
	err := w.rc.Write(w.fn)
	n := w.n
	if err == nil {
		err = w.err
	}
	w.b, w.err = nil, nil
	return n, err
}

// rawConn returns conn's RawConn, or nil when it has none.
func rawConn(conn net.Conn) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// send writes msg, or queues it behind what is not yet written, without ever
// blocking; when SendQueue messages are already queued the miner is not
// reading and is dropped as a slow consumer. s.mu is held by callers that
// need order with other messages (all of them but the flusher).
func (s *session) send(msg *[]byte) {
	o := &s.out
	o.mu.Lock()
	reason := s.sendLocked(msg)
	o.mu.Unlock()
	if reason != "" {
		s.close(reason)
	}
}

// sendLocked is send with o.mu held; it returns the reason to close the
// session, if any.
func (s *session) sendLocked(msg *[]byte) string {
	o := &s.out
	if o.closed || o.end {
		putBuf(msg)
		return ""
	}
	if !o.writing && len(o.q) == 0 && o.raw != nil {
		n, err := o.raw.tryWrite(*msg)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			putBuf(msg)
			return "write: " + err.Error()
		}
		if n == len(*msg) {
			putBuf(msg)
			return ""
		}
		o.off = n
	}
	if len(o.q) >= s.srv.o.SendQueue {
		putBuf(msg)
		return "slow consumer: outbound queue full"
	}
	o.q = append(o.q, msg)
	s.startFlusher()
	return ""
}

// startFlusher starts the flusher unless it runs or the session is closed.
// o.mu is held. The reader's WaitGroup count is held until close marks the
// outbox closed, so the count is never zero here.
func (s *session) startFlusher() {
	o := &s.out
	if o.writing || o.closed {
		return
	}
	o.writing = true
	s.srv.wg.Add(1)
	go s.flushLoop()
}

// acksReady is called when the ack ring has replies to write: a flusher
// writes them, so that the store's goroutine never waits on a socket.
func (s *session) acksReady() {
	o := &s.out
	o.mu.Lock()
	o.acksDue = true
	if o.wake != nil {
		signal(o.wake)
	}
	s.startFlusher()
	o.mu.Unlock()
}

// endGracefully queues msg (when not nil) and then the graceful end: the
// flusher writes everything queued and the replies of the shares still
// waiting for their record, half-closes the socket and closes the returned
// channel. It returns nil when the session is already closed, or was closed
// because the queue is full.
func (s *session) endGracefully(msg *[]byte) <-chan struct{} {
	o := &s.out
	o.mu.Lock()
	if o.end {
		ended := o.ended
		o.mu.Unlock()
		if msg != nil {
			putBuf(msg)
		}
		return ended
	}
	var reason string
	if msg != nil {
		reason = s.sendLocked(msg)
	}
	if o.closed || reason != "" {
		o.mu.Unlock()
		if reason != "" {
			s.close(reason)
		}
		return nil
	}
	o.end = true
	o.ended = make(chan struct{})
	o.wake = make(chan struct{}, 1)
	s.startFlusher()
	ended := o.ended
	o.mu.Unlock()
	return ended
}

// flushLoop writes the queue and the ready ack replies until both are empty,
// then exits; at a graceful end it also drains the pending acks and
// half-closes the socket.
func (s *session) flushLoop() {
	defer s.srv.wg.Done()
	o := &s.out
	var batch [writeBatch]*[]byte
	for {
		o.mu.Lock()
		if o.closed {
			s.exitFlusher()
			return
		}
		n := copy(batch[:], o.q)
		clear(o.q[:n])
		o.q = o.q[n:]
		if len(o.q) == 0 {
			o.q = nil
		}
		off := o.off
		o.off = 0
		acks := o.acksDue
		o.acksDue = false
		if n == 0 && !acks {
			if o.end {
				o.mu.Unlock()
				s.drainAcks()
				s.finish()
				o.mu.Lock()
			}
			s.exitFlusher()
			return
		}
		o.mu.Unlock()
		// Replies of recorded shares first, as they were usually
		// recorded before the queued messages were produced (a
		// retarget's set_difficulty follows the share's "true").
		// Unless a partly written message must be finished first.
		ok := true
		if acks && off == 0 {
			ok, acks = s.writeAcks(), false
		}
		for i := range n {
			if ok {
				ok = s.writeAll((*batch[i])[off:])
			}
			off = 0
			putBuf(batch[i])
			batch[i] = nil
		}
		if ok && acks {
			ok = s.writeAcks()
		}
		if !ok {
			o.mu.Lock()
			s.exitFlusher()
			return
		}
	}
}

// writeAcks writes the replies of the recorded shares, if any.
func (s *session) writeAcks() bool {
	b := s.ackReplies()
	if b == nil {
		return true
	}
	ok := s.writeAll(*b)
	putBuf(b)
	return ok
}

// exitFlusher marks the flusher gone and, at a graceful end, reports it
// done. o.mu is held and is released.
func (s *session) exitFlusher() {
	o := &s.out
	o.writing = false
	if o.end && o.ended != nil {
		select {
		case <-o.ended:
		default:
			close(o.ended)
		}
	}
	o.mu.Unlock()
}

// writeAll writes b completely: at once when the socket takes it, otherwise
// waiting for the socket under WriteTimeout. It closes the session and
// reports false when the write fails or times out. Only the flusher calls
// it.
func (s *session) writeAll(b []byte) bool {
	if raw := s.out.raw; raw != nil {
		n, err := raw.tryWrite(b)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			s.close("write: " + err.Error())
			return false
		}
		if n == len(b) {
			return true
		}
		b = b[n:]
	}
	err := s.conn.SetWriteDeadline(time.Now().Add(s.srv.o.WriteTimeout))
	if err == nil {
		_, err = s.conn.Write(b)
	}
	if err == nil {
		// No deadline may linger: a later direct write would fail on it.
		err = s.conn.SetWriteDeadline(time.Time{})
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
func (s *session) drainAcks() {
	deadline := time.Now().Add(s.srv.o.WriteTimeout)
	if n := s.drainBy.Load(); n != 0 {
		deadline = time.Unix(0, n)
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for s.acks.pending() > 0 && !s.closed() {
		if b := s.ackReplies(); b != nil {
			ok := s.writeAll(*b)
			putBuf(b)
			if !ok {
				return
			}
			continue
		}
		select {
		case <-s.out.wake:
		case <-t.C:
			return
		}
	}
}

// finish half-closes the socket after the graceful end so the miner reads
// everything before it sees the end, and gives it until the drain deadline
// to hang up.
func (s *session) finish() {
	if cw, ok := s.conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	if n := s.drainBy.Load(); n != 0 {
		_ = s.conn.SetReadDeadline(time.Unix(0, n))
	}
}
