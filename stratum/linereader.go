package stratum

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
)

// The inbound side of a connection: request lines read without holding a
// buffer while the miner is idle (see conn.go).

// readChunk is the size of the pooled read buffers: several submits, or a
// whole handshake, in one read.
const readChunk = 4 << 10

// readPool holds the read buffers, shared by all connections.
var readPool = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

// errLineTooLong ends a connection that sends a line over MaxLineBytes.
var errLineTooLong = errors.New("request line too long")

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
	// tls is the connection when it came through the TLS listener
	// (tls.go), nil otherwise.
	tls *tlsConn
}

func newLineReader(conn net.Conn, maxLine int, handle func(line []byte) bool) *lineReader {
	r := &lineReader{conn: conn, rc: rawConn(conn), max: maxLine, handle: handle, deadlineDue: true}
	r.fn = r.read
	r.tls, _ = conn.(*tlsConn)
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
	if r.tls != nil {
		return r.fillTLS(false)
	}
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
	if r.tls != nil {
		data, _, err := r.fillTLS(true)
		return data, err
	}
	if r.rc == nil {
		return r.blockingFill()
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

// blockingFill is fill for a connection without a RawConn: a plain read,
// which holds its buffer while it waits.
func (r *lineReader) blockingFill() ([]byte, error) {
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
