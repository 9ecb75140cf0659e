package loadgen

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/share"
)

// Bare is the floor that a pool's notify fan-out is compared with: a
// minimal Stratum v1 responder that does the least a server can do to
// deliver a new job, so that the same load tool, on the same machine and
// in the same run, shows how much of a fan-out figure is the pool and how
// much is the kernel and the clients.
//
// It answers the handshake with canned replies, accepts every share
// without looking at it (it is a yardstick, not a pool), and on every new
// block encodes one mining.notify line for everybody and writes it to each
// ready connection with one non-blocking write system call, spread over
// GOMAXPROCS goroutines. A connection whose socket does not take the whole
// line at once is closed rather than queued.
type Bare struct {
	ln   net.Listener
	o    PoolOptions
	mu   sync.Mutex
	live map[*bareConn]struct{}
	// ready holds the connections that finished the handshake; only the
	// fan-out reads it, under mu.
	ready  []*bareConn
	notify atomic.Pointer[[]byte]
	shares atomic.Uint64
	en1    atomic.Uint32
	// Dropped counts connections closed because a notify did not fit in
	// their socket.
	dropped atomic.Uint64
	height  int64
	stop    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// bareConn is one connection of a Bare server. wmu keeps a handshake
// reply and a fan-out write from interleaving.
type bareConn struct {
	c     net.Conn
	rc    syscall.RawConn
	wmu   sync.Mutex
	ready bool
}

// StartBare starts the floor server with o's Listen, Difficulty and
// NewBlockEvery (the other fields are a pool's and are ignored); stop it
// with Close.
func StartBare(o PoolOptions) (*Bare, error) {
	o = o.withDefaults()
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("bare server: %w", err)
	}
	b := &Bare{ln: ln, o: o, live: make(map[*bareConn]struct{}), height: vectorHeight, stop: make(chan struct{})}
	if err := b.setBlock(0); err != nil {
		ln.Close()
		return nil, err
	}
	b.wg.Go(b.accept)
	if o.NewBlockEvery > 0 {
		b.wg.Go(b.blocks)
	}
	return b, nil
}

// setBlock encodes the notify line of synthetic block n, the line every
// connection is sent from now on.
func (b *Bare) setBlock(n uint64) error {
	w, err := syntheticWork(n, b.height+int64(n))
	if err != nil {
		return err
	}
	j, _ := w.JobFor("")
	line := share.AppendNotify(nil, strconv.FormatUint(n+1, 16), j, true)
	b.notify.Store(&line)
	return nil
}

func (b *Bare) accept() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			select {
			case <-b.stop:
				return
			default:
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			time.Sleep(10 * time.Millisecond) // e.g. EMFILE: back off, then retry
			continue
		}
		rc, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			c.Close()
			continue
		}
		bc := &bareConn{c: c, rc: rc}
		b.mu.Lock()
		b.live[bc] = struct{}{}
		b.mu.Unlock()
		go b.serve(bc)
	}
}

// serve answers one connection's requests until it closes.
func (b *Bare) serve(bc *bareConn) {
	defer b.drop(bc)
	r := bufio.NewReaderSize(bc.c, 4096)
	var req struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return // also a line over 4 KiB: no miner sends one
		}
		req.ID, req.Method = nil, ""
		if json.Unmarshal(line, &req) != nil || len(req.ID) == 0 {
			return
		}
		out := append([]byte(`{"id":`), req.ID...)
		switch req.Method {
		case "mining.configure":
			out = append(out, `,"result":{"version-rolling":true,"version-rolling.mask":"1fffe000"},"error":null}`+"\n"...)
		case "mining.subscribe":
			var en1 [4]byte
			binary.BigEndian.PutUint32(en1[:], b.en1.Add(1))
			out = fmt.Appendf(out, `,"result":[[["mining.set_difficulty","1"],["mining.notify","1"]],"%x",%d],"error":null}`+"\n",
				en1, VectorExtranonce2Size)
		case "mining.authorize":
			out = append(out, `,"result":true,"error":null}`+"\n"...)
			out = fmt.Appendf(out, `{"id":null,"method":"mining.set_difficulty","params":[%g]}`+"\n", b.o.Difficulty)
		case "mining.submit":
			b.shares.Add(1)
			out = append(out, `,"result":true,"error":null}`+"\n"...)
		case "mining.suggest_difficulty", "mining.extranonce.subscribe":
			out = append(out, `,"result":true,"error":null}`+"\n"...)
		default:
			out = append(out, `,"result":null,"error":[20,"unknown method",null]}`+"\n"...)
		}
		bc.wmu.Lock()
		if req.Method == "mining.authorize" && !bc.ready {
			// Joining the fan-out and sending the current job happen
			// under wmu, so no block is missed or sent twice out of order.
			out = append(out, *b.notify.Load()...)
			bc.ready = true
			b.mu.Lock()
			b.ready = append(b.ready, bc)
			b.mu.Unlock()
		}
		_, err = bc.c.Write(out)
		bc.wmu.Unlock()
		if err != nil {
			return
		}
	}
}

// drop forgets a closed connection.
func (b *Bare) drop(bc *bareConn) {
	bc.c.Close()
	b.mu.Lock()
	delete(b.live, bc)
	if bc.ready {
		for i, x := range b.ready {
			if x == bc {
				last := len(b.ready) - 1
				b.ready[i], b.ready[last] = b.ready[last], nil
				b.ready = b.ready[:last]
				break
			}
		}
	}
	b.mu.Unlock()
}

// blocks publishes a new block at every tick.
func (b *Bare) blocks() {
	t := time.NewTicker(b.o.NewBlockEvery)
	defer t.Stop()
	for n := uint64(1); ; n++ {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		if err := b.setBlock(n); err != nil {
			b.o.Log.Error("building a synthetic job", zap.Error(err))
			return
		}
		b.fanOut(*b.notify.Load())
	}
}

// fanOut writes line to every ready connection: one write system call
// each, from GOMAXPROCS goroutines taking chunks of 64 connections.
func (b *Bare) fanOut(line []byte) {
	b.mu.Lock()
	conns := append([]*bareConn(nil), b.ready...)
	b.mu.Unlock()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				end := int(next.Add(64))
				start := end - 64
				if start >= len(conns) {
					return
				}
				for _, bc := range conns[start:min(end, len(conns))] {
					if !bc.writeNow(line) {
						b.dropped.Add(1)
						bc.c.Close() // serve's read fails and drops it
					}
				}
			}
		})
	}
	wg.Wait()
}

// writeNow writes line with one non-blocking write; it reports whether
// the socket took all of it.
func (bc *bareConn) writeNow(line []byte) bool {
	var n int
	var werr error
	bc.wmu.Lock()
	err := bc.rc.Write(func(fd uintptr) bool {
		n, werr = syscall.Write(int(fd), line)
		return true
	})
	bc.wmu.Unlock()
	return err == nil && werr == nil && n == len(line)
}

// Addr is the listen address.
func (b *Bare) Addr() string { return b.ln.Addr().String() }

// Connections returns the open connections.
func (b *Bare) Connections() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.live)
}

// Shares returns the shares answered (none is checked).
func (b *Bare) Shares() uint64 { return b.shares.Load() }

// Dropped returns the connections closed because a notify did not fit.
func (b *Bare) Dropped() uint64 { return b.dropped.Load() }

// Stop stops the server and closes every connection.
func (b *Bare) Stop(context.Context) error {
	b.once.Do(func() {
		close(b.stop)
		b.ln.Close()
		b.mu.Lock()
		for bc := range b.live {
			bc.c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return nil
}
