package stratum

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Stratum over TLS (stratum+ssl://). Options.TLSListen opens a second
// listener on the same Server: its connections are admitted by the same
// guard (MaxConnections, per-address limits, allowlist, bans) before
// anything is allocated for them, get the same sessions, extranonce1s and
// share path, and are counted in Connections like the others.
//
// What differs is the I/O under the session (see conn.go for the plain TCP
// path):
//
//   - The TLS handshake runs on the session's reader goroutine, never on the
//     accept loop, as the first step of its first read, so a client that
//     stalls it holds only its own goroutine. The read deadline readLoop
//     sets first (the handshake deadline, HandshakeTimeout after the accept)
//     bounds it: a client that sends nothing, or half a ClientHello, is
//     closed then, like a miner that never subscribes. The handshake
//     timeout thus covers the TLS and the Stratum handshakes together (and
//     a handshake write that the socket never takes fails at WriteTimeout).
//   - Reading still holds no buffer while the miner is idle: crypto/tls
//     reads the socket through tlsTransport, which after the handshake
//     never waits: with nothing to read it returns errWouldBlock, which
//     crypto/tls passes up without failing the connection (a temporary
//     net.Error). The reader then gives its buffer back and waits for the
//     socket in the netpoller without one. It asks crypto/tls first, not the
//     socket, because crypto/tls may already hold the next records, and it
//     looks at the socket (MSG_PEEK) as its wait starts, because data that
//     came since its last read brings no new readiness. A reader that hands
//     over to a fresh goroutine (conn.go) after finding nothing lets that
//     one wait before it reads, so that it parks on its small stack: reading
//     a record grows one. What crypto/tls itself keeps per connection (its
//     record and handshake buffers, grown for the ClientHello, and the
//     cipher state) is not pooled: see BENCHMARKS.md for what an idle TLS
//     miner costs.
//   - Writes block: a *tls.Conn has no RawConn, and a record cannot be
//     half written and resumed later, so every message goes through the
//     session's flusher goroutine (the path conn.go takes for a connection
//     without a RawConn), which writes under WriteTimeout. A flusher exists
//     only while something is queued, as on TCP; the queue limit and the
//     write timeout drop a slow consumer exactly as on TCP, and Publish
//     still never waits on a socket.
//   - Closing a session closes the TCP socket at once, without the TLS
//     close_notify alert, which crypto/tls would try to write for up to 5 s
//     (a slow consumer's socket takes nothing): no close ever waits on the
//     miner. A graceful end (client.reconnect on shutdown) does send
//     close_notify from the flusher, as the TCP path half-closes.
//   - Before its TLS handshake is done a session writes nothing: a write
//     then (client.reconnect to a client still in the handshake, on
//     shutdown) fails at once and closes the connection, instead of waiting
//     for the handshake.

// tlsSide is the TLS listener's part of a Server.
type tlsSide struct {
	// cfg is the server configuration, nil when there is no TLS listener.
	cfg *tls.Config
	// ln is the listener, guarded by Server.mu.
	ln net.Listener
	// conns counts the open TLS connections; failures the TLS handshakes
	// that failed or timed out.
	conns    atomic.Int64
	failures atomic.Uint64
}

// minTLSVersion is the oldest TLS version the listener speaks.
const minTLSVersion = tls.VersionTLS12

// tlsConfig returns the configuration the TLS listener uses: a copy of c
// with MinVersion raised to TLS 1.2. nil stays nil.
func tlsConfig(c *tls.Config) *tls.Config {
	if c == nil {
		return nil
	}
	c = c.Clone()
	c.MinVersion = max(c.MinVersion, minTLSVersion)
	return c
}

// validateTLS reports the bad TLS fields of o through bad.
func (o *Options) validateTLS(bad func(field, format string, args ...any)) {
	if o.TLSListen == "" {
		return
	}
	c := o.TLSConfig
	switch {
	case c == nil:
		bad("TLSConfig", "required with TLSListen")
	case len(c.Certificates) == 0 && c.GetCertificate == nil && c.GetConfigForClient == nil:
		bad("TLSConfig", "has no certificate (Certificates, GetCertificate or GetConfigForClient)")
	case c.MaxVersion != 0 && c.MaxVersion < minTLSVersion:
		bad("TLSConfig", "MaxVersion %#x is below TLS 1.2, the oldest version served", c.MaxVersion)
	}
}

// listenTLS opens the TLS listener, when one is configured. s.mu is held.
func (s *Server) listenTLS() (net.Listener, error) {
	if s.o.TLSListen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", s.o.TLSListen)
	if err != nil {
		return nil, fmt.Errorf("stratum: listen (TLS) on %s: %w", s.o.TLSListen, err)
	}
	s.tls.ln = ln
	s.log.Info("listening (TLS)", zap.Stringer("addr", ln.Addr()))
	return ln, nil
}

// TLSAddr returns the TLS listener's address, or nil when there is none or
// before Start.
func (s *Server) TLSAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tls.ln == nil {
		return nil
	}
	return s.tls.ln.Addr()
}

// TLSConnections returns the number of open connections that came through
// the TLS listener (also counted in Connections).
func (s *Server) TLSConnections() int { return int(s.tls.conns.Load()) }

// TLSHandshakeFailures returns how many TLS handshakes failed since the
// server started: timed out, refused by crypto/tls (a client that speaks
// plain Stratum, or no common version or cipher), or ended by the client.
func (s *Server) TLSHandshakeFailures() uint64 { return s.tls.failures.Load() }

// wrapTLS puts an admitted connection from the TLS listener under TLS. It
// does no I/O: the handshake is the reader's first step.
func (s *Server) wrapTLS(conn net.Conn, c *tls.Config) net.Conn {
	t := &tlsTransport{Conn: conn, rc: rawConn(conn), writeTimeout: s.o.WriteTimeout}
	t.readFn, t.waitFn = t.read, t.wait
	return &tlsConn{Conn: tls.Server(t, c), t: t, side: &s.tls}
}

// isTLS reports whether conn came through the TLS listener.
func isTLS(conn net.Conn) bool {
	_, ok := conn.(*tlsConn)
	return ok
}

// tlsConn is a TLS connection as its session sees it.
type tlsConn struct {
	*tls.Conn
	t    *tlsTransport
	side *tlsSide
	// handshaken is set by the reader once the TLS handshake is done;
	// nothing is written before.
	handshaken atomic.Bool
	// drained is set by the reader (and only read by it) when crypto/tls
	// held nothing to decrypt and the socket was empty as it handed over
	// to a fresh goroutine: that one then waits for the socket before it
	// reads, so that it parks on its small stack.
	drained bool
}

// errTLSHandshakePending is what a write before the TLS handshake is done
// fails with.
var errTLSHandshakePending = errors.New("TLS handshake not done")

// Write writes b as TLS records; before the handshake is done it fails at
// once rather than wait for it.
func (c *tlsConn) Write(b []byte) (int, error) {
	if !c.handshaken.Load() {
		return 0, errTLSHandshakePending
	}
	return c.Conn.Write(b)
}

// Close closes the TCP socket at once, without close_notify, so that no
// close waits on the miner; it ends the reader and any writer.
func (c *tlsConn) Close() error { return c.t.Conn.Close() }

// handshake runs the TLS handshake under the read deadline already set,
// then switches the transport to reads that never wait. Only the reader
// calls it.
func (c *tlsConn) handshake() error {
	if err := c.Conn.Handshake(); err != nil {
		c.side.failures.Add(1)
		return fmt.Errorf("TLS handshake: %w", err)
	}
	c.t.nonBlocking = true
	c.handshaken.Store(true)
	return nil
}

// errWouldBlock is what tlsTransport's reads return when the socket has
// nothing to read. It is a temporary net.Error, which crypto/tls passes up
// without failing the connection, keeping any partial record it has read.
var errWouldBlock error = wouldBlockError{}

type wouldBlockError struct{}

func (wouldBlockError) Error() string   { return "stratum: TLS read would block" }
func (wouldBlockError) Timeout() bool   { return true }
func (wouldBlockError) Temporary() bool { return true }

// tlsTransport is the TCP connection under crypto/tls. Its reads are the
// reader's alone (crypto/tls reads the socket only from Read and Handshake,
// which only the reader calls); its writes, serialized by crypto/tls, are
// bounded by WriteTimeout whoever makes them (the flusher, or crypto/tls
// answering a key update from within the reader's Read).
type tlsTransport struct {
	net.Conn
	// rc is the socket's RawConn; nil (a connection without a descriptor)
	// leaves every read blocking.
	rc           syscall.RawConn
	writeTimeout time.Duration
	// nonBlocking makes Read return errWouldBlock instead of waiting; set
	// once the handshake is done.
	nonBlocking bool
	// b, n and err are the read callback's buffer and results; peek is
	// the wait callback's. The callbacks are bound once.
	b              []byte
	n              int
	err            error
	peek           [1]byte
	readFn, waitFn func(fd uintptr) bool
}

// Read reads what the socket holds; once nonBlocking, it returns
// errWouldBlock rather than wait.
func (t *tlsTransport) Read(b []byte) (int, error) {
	if !t.nonBlocking || t.rc == nil || len(b) == 0 {
		return t.Conn.Read(b)
	}
	t.b, t.n, t.err = b, 0, nil
	err := t.rc.Read(t.readFn)
	n := t.n
	if err == nil {
		err = t.err
	}
	t.b, t.err = nil, nil
	return n, err
}

// read is the non-blocking read callback; it never asks the runtime to wait.
func (t *tlsTransport) read(fd uintptr) bool {
	for {
		n, err := syscall.Read(int(fd), t.b)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			t.err = errWouldBlock
		case err != nil:
			t.err = os.NewSyscallError("read", err)
		case n == 0:
			t.err = io.EOF
		}
		t.n = max(n, 0)
		return true
	}
}

// waitReadable parks until the socket is readable, without a buffer. It
// returns the read deadline's error when that passes first, or the close's.
func (t *tlsTransport) waitReadable() error {
	return t.rc.Read(t.waitFn)
}

// wait is waitReadable's callback: it reports whether the socket has data,
// its end or an error to read, looking without reading (MSG_PEEK); false
// makes the runtime wait for the socket and call it again. It must look:
// the runtime forgets the socket's past readiness when a read starts, so
// data that arrived since the last read, which brings no new readiness,
// would otherwise be waited for until more came.
func (t *tlsTransport) wait(fd uintptr) bool {
	for {
		_, _, err := syscall.Recvfrom(int(fd), t.peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		if err == syscall.EINTR {
			continue
		}
		return err != syscall.EAGAIN
	}
}

// Write writes b under WriteTimeout.
func (t *tlsTransport) Write(b []byte) (int, error) {
	if err := t.Conn.SetWriteDeadline(time.Now().Add(t.writeTimeout)); err != nil {
		return 0, err
	}
	return t.Conn.Write(b)
}

// fillTLS is fill (wait) and fillNow (!wait) for a TLS connection. The
// first call runs the handshake and returns no data, so that readLoop can
// hand over to a fresh goroutine (the handshake grows the stack) before
// the reader parks. Afterwards it reads what crypto/tls can decrypt without
// waiting, into a pooled buffer; with nothing there it gives the buffer
// back and waits for the socket without one (or, !wait, reports idle).
// Reading a record grows a small stack, so a fresh goroutine taking over
// from an idle one waits first: it parks on its small stack, as a TCP
// reader does.
func (r *lineReader) fillTLS(wait bool) (data []byte, idle bool, err error) {
	c := r.tls
	if !c.handshaken.Load() {
		return nil, false, c.handshake()
	}
	if c.drained && wait && c.t.rc != nil {
		if err := c.t.waitReadable(); err != nil {
			return nil, false, err
		}
	}
	c.drained = false
	if c.t.rc == nil {
		if !wait {
			return nil, true, nil
		}
		data, err = r.blockingFill()
		return data, false, err
	}
	for {
		r.buf = readPool.Get().(*[]byte)
		n, err := c.Conn.Read(*r.buf)
		if n > 0 {
			// An error with data (close_notify right behind it) comes
			// back from the next Read.
			return (*r.buf)[:n], false, nil
		}
		r.release()
		if !errors.Is(err, errWouldBlock) {
			if err == nil {
				err = io.ErrNoProgress
			}
			return nil, false, err
		}
		if !wait {
			c.drained = true
			return nil, true, nil
		}
		if err := c.t.waitReadable(); err != nil {
			return nil, false, err
		}
	}
}
