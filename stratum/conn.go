package stratum

import (
	"bytes"
	"errors"
	"io"
	"os"
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
// producer (Server.Publish in particular) ever waits on a socket. tls.go
// says how a TLS connection differs.

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
// Stop. A miner whose queue is full is closed at once.
func (s *session) reconnect() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drainBy.Store(time.Now().Add(drainGrace).UnixNano())
	b := getBuf()
	*b = append(*b, `{"id":null,"method":"client.reconnect","params":[]}`+"\n"...)
	s.endGracefully(b)
}
