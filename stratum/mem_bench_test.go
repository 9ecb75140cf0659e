package stratum

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// BenchmarkIdleConnMemory measures what one idle miner costs the server in
// process memory: heap in use plus goroutine stacks in use, per connection,
// for n connections that subscribed, authorized and received their first
// difficulty and job, and then went quiet. With jobs=16 every connection was
// then sent 15 more jobs, so its ring of recent jobs is full, as it is for a
// miner that has been connected for a few template refreshes. The clients live in the same
// process but hold no goroutine and no buffer (each reads its handshake
// replies synchronously with a throwaway reader), so their memory is one
// connected socket each; it is measured separately, as n plain loopback
// pairs (a bare listener that holds what it accepts), and taken out:
//
//	session-B/conn  what a stratum session adds over a bare accepted socket
//	server-B/conn   session-B/conn plus the accepted socket itself (half a
//	                bare pair): the server's whole cost per idle miner
//
// The server logs through a real (discarding) JSON core at info level, as
// in production, so per-session logger context is counted. Run with
// -benchtime=1x: one iteration is one full measurement.
//
//	go test -run '^$' -bench IdleConnMemory -benchtime=1x ./stratum
func BenchmarkIdleConnMemory(b *testing.B) {
	for _, tc := range []struct{ conns, jobs int }{{1000, 1}, {4000, 1}, {4000, maxJobs}} {
		n := tc.conns
		b.Run(fmt.Sprintf("conns=%d/jobs=%d", n, tc.jobs), func(b *testing.B) {
			var session, server, stacks float64
			for b.Loop() {
				pair := measureConns(b, n, dialBare(b))
				stratum := measureConns(b, n, dialStratum(b, tc.jobs))
				session = (stratum.total() - pair.total()) / float64(n)
				server = (stratum.total() - pair.total()/2) / float64(n)
				stacks = (stratum.stack - pair.stack) / float64(n)
			}
			b.ReportMetric(session, "session-B/conn")
			b.ReportMetric(server, "server-B/conn")
			b.ReportMetric(stacks, "stack-B/conn")
		})
	}
}

// usage is heap and stack bytes in use.
type usage struct{ heap, stack float64 }

func (u usage) total() float64 { return u.heap + u.stack }

// inUse returns heap and stack bytes in use after a full collection (two,
// so that finalizers and freed spans settle).
func inUse() usage {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return usage{float64(m.HeapInuse), float64(m.StackInuse)}
}

// connector opens client connections that end up idle: start (optional)
// runs once all are open, stop tears down what it set up once every client
// is closed.
type connector struct {
	open  func() (net.Conn, error)
	start func()
	stop  func()
}

// measureConns returns how many bytes of heap and stacks n connections opened
// by c hold while idle.
func measureConns(b *testing.B, n int, c connector) usage {
	b.Helper()
	defer c.stop()
	conns := make([]net.Conn, 0, n)
	if c.start == nil {
		c.start = func() {}
	}
	defer func() {
		for _, conn := range conns {
			_ = conn.Close()
		}
	}()
	before := inUse()
	for i := range n {
		conn, err := c.open()
		if err != nil {
			b.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, conn)
	}
	c.start()
	// Let parked goroutines' stacks shrink as they would over an idle
	// period (each collection halves a mostly unused stack).
	for range 4 {
		runtime.GC()
	}
	after := inUse()
	return usage{after.heap - before.heap, after.stack - before.stack}
}

// dialBare listens with a plain listener that keeps every accepted socket
// and no goroutine per connection.
func dialBare(b *testing.B) connector {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- conn
		}
	}()
	var held []net.Conn
	return connector{
		open: func() (net.Conn, error) {
			conn, err := net.DialTimeout("tcp", ln.Addr().String(), ioWait)
			if err != nil {
				return nil, err
			}
			select {
			case s := <-accepted:
				held = append(held, s)
			case <-time.After(ioWait):
				_ = conn.Close()
				return nil, fmt.Errorf("not accepted")
			}
			return conn, nil
		},
		stop: func() {
			_ = ln.Close()
			for range accepted {
			}
			for _, s := range held {
				_ = s.Close()
			}
		},
	}
}

// dialStratum starts a server logging like production and connects miners
// that complete the handshake and read their first job; once all are
// connected it publishes jobs-1 more jobs (which the miners leave unread in
// their socket buffers).
func dialStratum(b *testing.B, jobs int) connector {
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel)
	e := startServer(b, func(o *Options) {
		o.Log = zap.New(core)
		o.MaxConnections = 1 << 20
	})
	hello := []byte(`{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":2}]}` + "\n" +
		`{"id":2,"method":"mining.subscribe","params":["bench/1.0"]}` + "\n" +
		`{"id":3,"method":"mining.authorize","params":["tb1qbench.w","x"]}` + "\n")
	buf := make([]byte, 0, 16<<10)
	return connector{
		open: func() (net.Conn, error) {
			conn, err := net.DialTimeout("tcp", e.srv.Addr().String(), ioWait)
			if err != nil {
				return nil, err
			}
			_ = conn.SetDeadline(time.Now().Add(ioWait))
			if _, err := conn.Write(hello); err != nil {
				_ = conn.Close()
				return nil, err
			}
			// The replies and the first job, read into one buffer reused
			// by every connection (the server writes nothing more).
			got := buf[:0]
			for {
				if len(got) == cap(got) {
					_ = conn.Close()
					return nil, fmt.Errorf("no first job in %d bytes: %s", len(got), got)
				}
				n, err := conn.Read(got[len(got):cap(got)])
				got = got[:len(got)+n]
				if err != nil {
					_ = conn.Close()
					return nil, fmt.Errorf("waiting for the first job: %w", err)
				}
				i := bytes.Index(got, []byte(`"method":"mining.notify"`))
				if i < 0 {
					continue
				}
				if end := bytes.IndexByte(got[i:], '\n'); end >= 0 {
					if rest := got[i+end+1:]; len(rest) > 0 {
						_ = conn.Close()
						return nil, fmt.Errorf("unexpected data after the first job: %s", rest)
					}
					break
				}
			}
			_ = conn.SetDeadline(time.Time{})
			return conn, nil
		},
		start: func() {
			for i := 1; i < jobs; i++ {
				e.srv.Publish(fakeWork{job: vectorJob(b, e.vec), clean: i%4 == 0})
			}
		},
		stop: func() {
			ctx, cancel := context.WithTimeout(context.Background(), ioWait)
			defer cancel()
			_ = e.srv.Stop(ctx)
		},
	}
}

// BenchmarkHandshake measures what one miner's connection and handshake
// allocate in the process (server and client together): dial, configure,
// subscribe, authorize, read up to the first job, close. What the session
// keeps is BenchmarkIdleConnMemory's; the rest is garbage, which thousands
// of miners connecting at once turn into heap the pool process holds long
// after (freed heap stays resident until the runtime returns it). The
// client reads into one buffer reused by every iteration, so B/op is mostly
// the server's.
//
//	go test -run '^$' -bench Handshake -benchtime=2000x ./stratum
func BenchmarkHandshake(b *testing.B) {
	c := dialStratum(b, 1)
	defer c.stop()
	b.ReportAllocs()
	for b.Loop() {
		conn, err := c.open()
		if err != nil {
			b.Fatal(err)
		}
		_ = conn.Close()
	}
}
