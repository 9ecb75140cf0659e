package stratum

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/netip"
	"strings"
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
	e := startServer(b, func(o *Options) { o.Log = zap.NewNop() })
	var notifies atomic.Int64
	ready := make(chan struct{}, miners)
	for i := range miners {
		conn, err := net.DialTimeout("tcp", e.srv.Addr().String(), ioWait)
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
					notifies.Add(1)
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
	jobs := []*share.Job{vectorJob(b, e.vec), vectorJob(b, e.vec)}
	b.ReportAllocs()
	b.ResetTimer()
	var want int64
	for i := 0; b.Loop(); i++ {
		e.srv.Publish(fakeWork{job: jobs[i%2], clean: i%2 == 0})
		want += miners
		deadline := time.Now().Add(ioWait)
		for notifies.Load() < want {
			if time.Now().After(deadline) {
				b.Fatalf("only %d of %d notifies arrived", notifies.Load(), want)
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
	b.StopTimer()
	if n := e.srv.Connections(); n != miners {
		b.Fatalf("%d of %d miners still connected", n, miners)
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
