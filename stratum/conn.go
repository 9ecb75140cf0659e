package stratum

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"go.uber.org/zap"
)

// The connection I/O layer. An idle miner must cost little memory, because a
// pool node holds tens of thousands of them, so a connection holds no buffer
// and at most one goroutine while nothing happens:
//
//   - The reader goroutine waits for the socket in the runtime's netpoller
//     through syscall.RawConn, without a buffer: a read buffer is taken from
//     readPool only once the socket is readable, and returned before the
//     goroutine parks again. Only an unfinished line is kept between reads
//     (rare: a line split by TCP), bounded by MaxLineBytes. Lines are handled
//     by the reader itself, in functions that return before it parks, so its
//     parked stack is shallow and the collector shrinks it.
//   - There is no writer goroutine. A message is written at once, by the
//     goroutine that produced it, with a non-blocking write; only what the
//     socket does not take (a miner that reads slowly, or a burst) is queued,
//     and a flusher goroutine is started to write the queue under
//     WriteTimeout and exits when the queue is empty. Replies to accepted
//     shares, which the store acknowledges from its own goroutine, are also
//     written by a flusher so that the store never waits on a socket.
//
// A miner whose queue reaches SendQueue messages, or whose socket does not
// take a write within WriteTimeout, is dropped as a slow consumer; no
// producer (Server.Publish in particular) ever waits on a socket.

// readChunk is the size of the pooled read buffers: several submits, or a
// whole handshake, in one read.
const readChunk = 4 << 10

// readPool holds the read buffers, shared by all connections.
var readPool = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

// errLineTooLong ends a connection that sends a line over MaxLineBytes.
var errLineTooLong = errors.New("request line too long")

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

// lineReader reads request lines from a connection without holding a buffer
// while it waits. It belongs to the reader goroutine.
type lineReader struct {
	conn net.Conn
	rc   syscall.RawConn
	max  int
	// partial is an unfinished line carried over between reads; nil
	// between lines.
	partial []byte
	// buf, n and err are the RawConn callback's results; fn is the
	// callback, bound once.
	buf *[]byte
	n   int
	err error
	fn  func(fd uintptr) bool
	// noWait makes the callback report an empty socket (idle) instead of
	// waiting for it.
	noWait, idle bool
	// handle is called for each complete line; false ends the reading.
	handle func(line []byte) bool
	// deadlineDue says a line was handled since the read deadline was
	// last set.
	deadlineDue bool
}

func newLineReader(conn net.Conn, maxLine int, handle func(line []byte) bool) *lineReader {
	r := &lineReader{conn: conn, rc: rawConn(conn), max: maxLine, handle: handle, deadlineDue: true}
	r.fn = r.read
	return r
}

// read is the RawConn callback: it takes a buffer only when there is data
// (or an error) to read into it, and gives it back before asking the runtime
// to wait for the socket (returning false on EAGAIN).
func (r *lineReader) read(fd uintptr) bool {
	if r.buf == nil {
		r.buf = readPool.Get().(*[]byte)
	}
	for {
		n, err := syscall.Read(int(fd), *r.buf)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			readPool.Put(r.buf)
			r.buf = nil
			if r.noWait {
				r.idle = true
				return true
			}
			return false
		}
		r.n, r.err = max(n, 0), err
		return true
	}
}

// fillNow is fill without waiting: idle reports that the socket has nothing
// to read right now (data and err are then nil).
func (r *lineReader) fillNow() (data []byte, idle bool, err error) {
	if r.rc == nil {
		return nil, true, nil
	}
	r.noWait, r.idle = true, false
	data, err = r.fill()
	r.noWait = false
	if r.idle {
		return nil, true, nil
	}
	return data, false, err
}

// fill reads the next chunk into a pooled buffer, which the caller returns
// with release. io.EOF reports the miner's end of the stream.
func (r *lineReader) fill() ([]byte, error) {
	if r.rc == nil {
		r.buf = readPool.Get().(*[]byte)
		n, err := r.conn.Read(*r.buf)
		if n > 0 {
			return (*r.buf)[:n], nil
		}
		r.release()
		if err == nil {
			err = io.ErrNoProgress
		}
		return nil, err
	}
	r.n, r.err = 0, nil
	err := r.rc.Read(r.fn)
	if err == nil {
		err = r.err
	}
	if err == nil && r.n == 0 {
		err = io.EOF
	}
	if err != nil {
		r.release()
		return nil, err
	}
	return (*r.buf)[:r.n], nil
}

// release returns the read buffer to the pool.
func (r *lineReader) release() {
	if r.buf != nil {
		readPool.Put(r.buf)
		r.buf = nil
	}
}

// lines calls r.handle for each complete line in data, in order, joining the
// unfinished line of the previous read with the first. The slices passed to
// handle are valid only during the call. It stops at the first line for
// which handle returns false, or with errLineTooLong at a line of
// MaxLineBytes or more without its newline (a line must fit MaxLineBytes
// with its newline). It reports how many lines it handled.
func (r *lineReader) lines(data []byte) (int, error) {
	handled := 0
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if len(r.partial)+len(data) >= r.max {
				r.partial = nil
				return handled, errLineTooLong
			}
			r.partial = append(r.partial, data...)
			return handled, nil
		}
		line := data[:i]
		data = data[i+1:]
		if r.partial != nil {
			if len(r.partial)+len(line) >= r.max {
				r.partial = nil
				return handled, errLineTooLong
			}
			line = append(r.partial, line...)
			// The joined line is handled before partial is dropped,
			// and nothing keeps it past the call.
			r.partial = nil
		} else if len(line) >= r.max {
			return handled, errLineTooLong
		}
		handled++
		if !r.handle(line) {
			return handled, nil
		}
	}
	return handled, nil
}

// readLoop reads and handles request lines until the connection ends. It
// runs on one goroutine at a time, which hands over to a fresh one (with the
// reader's state and the server's WaitGroup count) when its stack has grown,
// so that a parked reader never keeps the larger stack that handling a
// request needed: the runtime does not shrink a stack to its smallest size
// while any frames are on it, and parked readers are most of a pool's
// goroutines. Start it with s.srv.wg counted for it.
//
// It hands over only when the socket has nothing more to read: a busy
// connection (a proxy, a load test) keeps its grown stack while lines keep
// coming, instead of growing a fresh stack for nearly every line.
func (s *session) readLoop(r *lineReader) {
	var anchor byte
	base := stackAddr(&anchor)
	for {
		if r.deadlineDue {
			// The next complete line must arrive by then; a line
			// that comes in pieces does not extend it.
			if err := s.conn.SetReadDeadline(s.readDeadline(time.Now())); err != nil {
				s.endReader("set read deadline: " + err.Error())
				return
			}
			r.deadlineDue = false
		}
		var data []byte
		var err error
		if stackAddr(&anchor) != base {
			// The stack was copied: it grew while handling a line. Hand
			// over to a fresh goroutine if this one would now park.
			var idle bool
			if data, idle, err = r.fillNow(); idle {
				go s.readLoop(r)
				return
			}
		} else {
			data, err = r.fill()
		}
		if err != nil {
			s.endReader(readErrorReason(err, s.handshaken.Load()))
			return
		}
		n, err := r.lines(data)
		r.release()
		if err != nil {
			s.endReader(err.Error())
			return
		}
		if s.closed() {
			s.endReader("")
			return
		}
		r.deadlineDue = n > 0
	}
}

// stackAddr returns p's address as a number, to tell whether the goroutine's
// stack holding *p has been moved (the runtime copies a stack to grow it).
func stackAddr(p *byte) uintptr { return uintptr(unsafe.Pointer(p)) }

// endReader closes the session (reason is ignored when it is already closed)
// and forgets it: the reader's last act.
func (s *session) endReader(reason string) {
	s.close(reason)
	s.srv.remove(s)
	s.srv.wg.Done()
}

// handleLine handles one request line; false means the session is over.
func (s *session) handleLine(line []byte) bool {
	line = bytes.TrimRight(line, "\r")
	if len(bytes.TrimSpace(line)) == 0 {
		return true
	}
	// A connection with maxPendingAcks shares waiting for their record
	// is not read further until replies free a slot: backpressure on that
	// connection alone, never a wait per share.
	if !s.waitAckSlot() {
		return false
	}
	reason, ended := s.handle(line)
	if reason == "" {
		return !s.closed()
	}
	// Let the flusher write the final error reply first.
	if ended != nil {
		t := time.NewTimer(s.srv.o.WriteTimeout)
		select {
		case <-ended:
		case <-t.C:
		}
		t.Stop()
	}
	s.close(reason)
	return false
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
	case errors.Is(err, os.ErrDeadlineExceeded) && !handshaken:
		return "handshake timeout"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "idle timeout"
	case errors.Is(err, io.EOF):
		return "closed by miner"
	}
	return "read: " + err.Error()
}

// close ends the session once: the outbox stops, queued messages are
// dropped and the socket is closed, which ends the reader and any flusher.
func (s *session) close(reason string) {
	s.closeOnce.Do(func() {
		s.isClosed.Store(true)
		o := &s.out
		o.mu.Lock()
		o.closed = true
		for i, m := range o.q {
			putBuf(m)
			o.q[i] = nil
		}
		o.q = nil
		if o.wake != nil {
			signal(o.wake)
		}
		o.mu.Unlock()
		s.acks.wakeReader()
		_ = s.conn.Close()
		s.log.Debug("connection closed", zap.String("reason", reason))
	})
}

func (s *session) closed() bool { return s.isClosed.Load() }

// reconnect sends client.reconnect and then ends the session gracefully, for
// Shutdown. A miner whose queue is full is closed at once.
func (s *session) reconnect() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drainBy.Store(time.Now().Add(drainGrace).UnixNano())
	b := getBuf()
	*b = append(*b, `{"id":null,"method":"client.reconnect","params":[]}`+"\n"...)
	s.endGracefully(b)
}
