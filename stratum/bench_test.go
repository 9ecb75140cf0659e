package stratum

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/share"
)

// BenchmarkParseSubmit decodes the recorded mining.submit line: the request
// object and its params array.
func BenchmarkParseSubmit(b *testing.B) {
	line := []byte(loadVector(b).SubmitRequest)
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	var (
		req request
		p   [maxParams][]byte
	)
	for b.Loop() {
		if err := parseRequest(line, &req); err != nil {
			b.Fatal(err)
		}
		if n, err := stringParams(req.params, &p, "mining.submit"); err != nil || n != 6 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkHandleSubmit runs one session's whole share path over an
// in-memory pipe: decode, job lookup, submit parse, header rebuild and hash,
// duplicate check, store hand-off, the acknowledgement and the reply,
// encoded and written by the flusher goroutine the acknowledgement starts.
// Each iteration sends a new nonce at a difficulty every hash meets.
func BenchmarkHandleSubmit(b *testing.B) {
	v := loadVector(b)
	srv, err := NewServer(Options{
		Listen: "127.0.0.1:0", NodeID: 0x57, Extranonce2Size: v.Extranonce2Size, Auth: fakeAuth{},
		Validator: share.NewValidator(share.ValidatorOptions{Store: discardStore{}, Blocks: &recordingSink{},
			Now: func() time.Time { return time.Unix(vectorNTime+60, 0) }}),
		Difficulty: DifficultyOptions{Initial: 1e-12, Min: 1e-12, Max: 1e-12},
		SendQueue:  1024,
		Log:        zap.NewNop(),
	})
	if err != nil {
		b.Fatal(err)
	}
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	s := newSession(srv, server, nil)
	s.mu.Lock()
	s.subscribed, s.en1v, s.en1 = true, 0x57a6f098, [4]byte{0x57, 0xa6, 0xf0, 0x98}
	s.mask = DefaultVersionMask
	s.addWorker(vectorUser, &share.Worker{Name: vectorUser, Account: "tb1q"})
	s.authorized, s.ready, s.fixed = true, true, true
	s.notify(vectorJob(b, v), true)
	s.mu.Unlock()
	// The miner's end reads everything the session writes: the flusher's
	// part of an accepted share is its reply, written to the pipe.
	go func() { _, _ = io.Copy(io.Discard, client) }()

	line := []byte(v.SubmitRequest)
	nonceAt := strings.Index(v.SubmitRequest, `"ed460d91"`) + 1
	const digits = "0123456789abcdef"
	b.ReportAllocs()
	n := uint32(0)
	for b.Loop() {
		n++
		for i := range 8 {
			line[nonceAt+i] = digits[n>>(28-4*i)&15]
		}
		if !s.waitAckSlot() { // as readLoop does before each line
			b.Fatal("session closed")
		}
		if quit, _ := s.handle(line); quit != "" {
			b.Fatal(quit)
		}
	}
	b.StopTimer()
	if s.strikes != 0 {
		b.Fatalf("%d malformed", s.strikes)
	}
}

// discardStore is a share.Store that keeps nothing, so the benchmark
// measures the session and not a growing slice.
type discardStore struct{}

func (discardStore) AddShare(r share.Record) error {
	if r.Ack != nil {
		r.Ack.ShareRecorded(r.Token, nil)
	}
	return nil
}
func (discardStore) AddBlock(*share.BlockRecord) error { return nil }

// BenchmarkPublish1000 fans one new job out to 1,000 subscribed and
// authorized local sessions and waits until every miner has read it.
func BenchmarkPublish1000(b *testing.B) {
	const miners = 1000
	f := startFanout(b, miners)
	jobs := []*share.Job{vectorJob(b, f.e.vec), vectorJob(b, f.e.vec)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f.e.srv.Publish(fakeWork{job: jobs[i%2], clean: i%2 == 0})
		f.wait(b)
	}
	b.StopTimer()
	if n := f.e.srv.Connections(); n != miners {
		b.Fatalf("%d of %d miners still connected", n, miners)
	}
}

// BenchmarkFanoutFloor compares, in the same run and alternately, Publish
// to N sessions with the floor of a fan-out: the same notify line, encoded
// once, written to the same sockets with one non-blocking write each and
// nothing else but the outbox lock (no session lock, job table,
// per-session id or encoding),
// from as many goroutines as Publish uses. Both wait until every miner has
// read the line. It reports both per miner and their ratio, which is what
// Tarbela adds to the system calls on this machine. (N stays well under
// the 20,000 open files of one process: each miner is two sockets here.)
func BenchmarkFanoutFloor(b *testing.B) {
	for _, miners := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("miners=%d", miners), func(b *testing.B) {
			f := startFanout(b, miners)
			jobs := []*share.Job{vectorJob(b, f.e.vec), vectorJob(b, f.e.vec)}
			line := share.AppendNotify(nil, "1", jobs[0], true)
			sessions := f.e.srv.snapshot()
			var publish, floor time.Duration
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				t0 := time.Now()
				f.e.srv.Publish(fakeWork{job: jobs[i%2], clean: true})
				f.wait(b)
				t1 := time.Now()
				writeAllRaw(b, sessions, line)
				f.wait(b)
				publish += t1.Sub(t0)
				floor += time.Since(t1)
			}
			b.StopTimer()
			n := float64(b.N) * float64(miners)
			b.ReportMetric(float64(publish.Nanoseconds())/n, "publish-ns/miner")
			b.ReportMetric(float64(floor.Nanoseconds())/n, "floor-ns/miner")
			b.ReportMetric(float64(publish)/float64(floor), "publish/floor")
			if c := f.e.srv.Connections(); c != miners {
				b.Fatalf("%d of %d miners still connected", c, miners)
			}
		})
	}
}

// writeAllRaw is the floor of BenchmarkFanoutFloor: line written to every
// session's socket with one non-blocking write under the outbox lock,
// shared among GOMAXPROCS goroutines in chunks as Publish does.
func writeAllRaw(b *testing.B, sessions []*session, line []byte) {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		short atomic.Int64
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				end := int(next.Add(publishChunk))
				start := end - publishChunk
				if start >= len(sessions) {
					return
				}
				for _, s := range sessions[start:min(end, len(sessions))] {
					// o.mu, as every writer of the session takes it (a
					// vardiff retarget may write at the same time).
					s.out.mu.Lock()
					n, err := s.out.raw.tryWrite(line)
					s.out.mu.Unlock()
					if err != nil || n != len(line) {
						short.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	if short.Load() > 0 {
		b.Fatalf("%d sockets did not take the whole line", short.Load())
	}
}

// fanout is a Stratum server with N subscribed and authorized miners over
// loopback TCP whose readers count the notifies they get.
type fanout struct {
	e        *testEnv
	notifies atomic.Int64
	want     int64
	miners   int64
}

// startFanout connects miners and waits until each has its first job.
func startFanout(b *testing.B, miners int) *fanout {
	f := &fanout{e: startServer(b, func(o *Options) { o.Log = zap.NewNop() }), miners: int64(miners)}
	ready := make(chan struct{}, miners)
	for i := range miners {
		conn, err := net.DialTimeout("tcp", f.e.srv.Addr().String(), ioWait)
		if err != nil {
			b.Fatalf("miner %d: %v", i, err)
		}
		b.Cleanup(func() { _ = conn.Close() })
		if _, err := conn.Write([]byte(`{"id":1,"method":"mining.subscribe","params":["bench"]}` + "\n" +
			`{"id":2,"method":"mining.authorize","params":["tb1qbench","x"]}` + "\n")); err != nil {
			b.Fatal(err)
		}
		go func() {
			r := bufio.NewReader(conn)
			first := true
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return
				}
				if bytes.Contains(line, []byte(`"mining.notify"`)) {
					if first {
						first = false
						ready <- struct{}{}
						continue
					}
					f.notifies.Add(1)
				}
			}
		}()
	}
	for range miners {
		select {
		case <-ready:
		case <-time.After(ioWait):
			b.Fatal("miners did not all get their first job")
		}
	}
	return f
}

// wait waits until every miner has read one more notify.
func (f *fanout) wait(b *testing.B) {
	f.want += f.miners
	deadline := time.Now().Add(ioWait)
	for f.notifies.Load() < f.want {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d notifies arrived", f.notifies.Load(), f.want)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// BenchmarkAdmit is the guard's decision on a new connection: admitted (and
// released) from a tracked address, refused by the global limit, and refused
// from a banned address.
func BenchmarkAdmit(b *testing.B) {
	o := Options{MaxConnectionsPerIP: 10000, BanDuration: time.Minute,
		AllowIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}.withDefaults()
	addr := netip.MustParseAddr("192.0.2.1")
	now := time.Now()
	b.Run("admitted", func(b *testing.B) {
		g := newGuard(&o)
		b.ReportAllocs()
		for b.Loop() {
			st, why := g.admit(addr, 0, now)
			if why != admitted {
				b.Fatal(why)
			}
			g.release(st, now)
		}
	})
	b.Run("full", func(b *testing.B) {
		g := newGuard(&o)
		b.ReportAllocs()
		for b.Loop() {
			if _, why := g.admit(addr, g.policy().maxConns, now); why != refusedLimit {
				b.Fatal(why)
			}
		}
	})
	b.Run("banned", func(b *testing.B) {
		g := newGuard(&o)
		st, _ := g.admit(addr, 0, now)
		st.bannedUntil.Store(now.Add(time.Hour).UnixNano())
		b.ReportAllocs()
		for b.Loop() {
			if _, why := g.admit(addr, 0, now); why != refusedBanned {
				b.Fatal(why)
			}
		}
	})
}

// BenchmarkRefuseTCP is a full pool refusing connections over loopback TCP:
// each iteration dials and waits until the server has closed the
// connection, so it includes the client's dial and the kernel's handshake.
func BenchmarkRefuseTCP(b *testing.B) {
	e := startServer(b, func(o *Options) { o.MaxConnections = 1 })
	dial(b, e.srv).send(`{"id":1,"method":"mining.extranonce.subscribe"}`)
	waitFor(b, "the first connection", func() bool { return e.srv.Connections() == 1 })
	addr := e.srv.Addr().String()
	var buf [1]byte
	b.ReportAllocs()
	for b.Loop() {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			continue // the reset already failed the dial
		}
		_ = conn.SetReadDeadline(time.Now().Add(ioWait))
		if _, err := conn.Read(buf[:]); err == nil {
			b.Fatal("a connection over the limit was served")
		}
		_ = conn.Close()
	}
	b.StopTimer()
	if limit, _ := e.srv.Refused(); limit == 0 {
		b.Fatal("nothing refused")
	}
}
