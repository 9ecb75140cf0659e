package stratum

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tarbela-pool/tarbela/share"
)

// benchMiner is a miner's end for benchmarks: it sends the recorded share
// with a fresh nonce and reads its reply, allocating nothing itself.
type benchMiner struct {
	conn  net.Conn
	r     *bufio.Reader
	line  []byte
	nonce int // offset of the nonce's 8 hex digits in line
	n     uint32
}

// newBenchMiner connects over tr, subscribes and authorizes at difficulty
// 1e-12 (every hash is a share) and readies its submit line.
func newBenchMiner(b *testing.B, e *testEnv, tr transport) *benchMiner {
	b.Helper()
	c, err := tr.dial(b, e.srv)
	if err != nil {
		b.Fatal(err)
	}
	job := c.mine("tb1qbench.rig")
	// No deadline: a reply that never comes hangs the benchmark, as a
	// lost reply must be seen.
	_ = c.conn.SetDeadline(time.Time{})
	line := []byte(shareLine(b, e.vec, 7, "tb1qbench.rig", job, 0) + "\n")
	return &benchMiner{conn: c.conn, r: c.r, line: line, nonce: bytes.Index(line, []byte(`"00000000"`)) + 1}
}

// roundTrip submits one new share and waits for its "true".
func (m *benchMiner) roundTrip(b *testing.B) {
	m.n++
	const digits = "0123456789abcdef"
	for i := range 8 {
		m.line[m.nonce+i] = digits[m.n>>(28-4*i)&15]
	}
	if _, err := m.conn.Write(m.line); err != nil {
		b.Fatal(err)
	}
	reply, err := m.r.ReadSlice('\n')
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Contains(reply, []byte(`"result":true`)) {
		b.Fatalf("share %d: %s", m.n, reply)
	}
}

// startBenchServer is a server with both listeners whose store keeps
// nothing, so that a long run measures the share path and not a growing
// slice.
func startBenchServer(b *testing.B) *testEnv {
	return startTLSServer(b, func(o *Options) {
		o.Log = zap.NewNop()
		o.Validator = share.NewValidator(share.ValidatorOptions{Store: discardStore{}, Blocks: &recordingSink{}, Node: 0x57,
			Now: func() time.Time { return time.Unix(vectorNTime+60, 0) }})
		o.Difficulty = DifficultyOptions{Initial: 1e-12, Min: 1e-12, Max: 1e-12}
	})
}

// BenchmarkSubmitRoundTrip is one share's round trip over loopback, from the
// miner's write of mining.submit to its read of the "true": the server's
// read, decode, validation, store hand-off, acknowledgement and reply, and
// the miner's side, over plain TCP and over TLS (TLS 1.3, AES-GCM, the
// connection already set up). tcp and tls run apart with their allocations
// and the process's CPU time per share (client and server: one process);
// alternating takes one round trip over each in every iteration, so that
// both see the same machine load, and reports each one's wall and CPU time
// per share and their ratios.
//
//	go test -run '^$' -bench SubmitRoundTrip -benchtime=20000x ./stratum
func BenchmarkSubmitRoundTrip(b *testing.B) {
	e := startBenchServer(b)
	for _, tr := range transports {
		b.Run(tr.name, func(b *testing.B) {
			m := newBenchMiner(b, e, tr)
			b.ReportAllocs()
			c0 := cpuTime(b)
			for b.Loop() {
				m.roundTrip(b)
			}
			b.ReportMetric(float64((cpuTime(b)-c0).Nanoseconds())/float64(b.N), "cpu-ns/share")
		})
	}
	b.Run("alternating", func(b *testing.B) {
		plain, secure := newBenchMiner(b, e, transports[0]), newBenchMiner(b, e, transports[1])
		var dPlain, dSecure, cPlain, cSecure time.Duration
		for b.Loop() {
			t0, c0 := time.Now(), cpuTime(b)
			plain.roundTrip(b)
			t1, c1 := time.Now(), cpuTime(b)
			secure.roundTrip(b)
			dPlain += t1.Sub(t0)
			dSecure += time.Since(t1)
			cPlain += c1 - c0
			cSecure += cpuTime(b) - c1
		}
		n := float64(b.N)
		b.ReportMetric(float64(dPlain.Nanoseconds())/n, "tcp-ns/share")
		b.ReportMetric(float64(dSecure.Nanoseconds())/n, "tls-ns/share")
		b.ReportMetric(float64(dSecure)/float64(dPlain), "tls/tcp")
		b.ReportMetric(float64(cPlain.Nanoseconds())/n, "tcp-cpu-ns/share")
		b.ReportMetric(float64(cSecure.Nanoseconds())/n, "tls-cpu-ns/share")
		b.ReportMetric(float64(cSecure)/float64(cPlain), "tls/tcp-cpu")
	})
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHandshakeTLS is one miner's connection over each transport,
// from the dial to its first job: the TCP handshake, over tls the TLS one
// (TLS 1.3, ECDSA P-256 certificate, the client's default key exchange),
// then subscribe and authorize, then close. Client and server run in this
// process, so ns/op and allocations are both sides'.
//
//	go test -run '^$' -bench HandshakeTLS -benchtime=2000x ./stratum
func BenchmarkHandshakeTLS(b *testing.B) {
	e := startTLSServer(b, func(o *Options) { o.Log = zap.NewNop() })
	hello := []byte(`{"id":2,"method":"mining.subscribe","params":["bench/1.0"]}` + "\n" +
		`{"id":3,"method":"mining.authorize","params":["tb1qbench.w","x"]}` + "\n")
	for _, tr := range transports {
		b.Run(tr.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, err := tr.dial(b, e.srv)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.conn.Write(hello); err != nil {
					b.Fatal(err)
				}
				for {
					line, err := c.r.ReadSlice('\n')
					if err != nil {
						b.Fatal(err)
					}
					if bytes.Contains(line, []byte(`"mining.notify"`)) {
						break
					}
				}
				_ = c.conn.Close()
			}
		})
	}
}

// BenchmarkIdleConnMemoryTLS compares, in the same run and on the same
// server, what one idle miner costs the server over plain TCP and over TLS:
// heap in use plus goroutine stacks in use, per connection, after GC, for n
// miners that configured, subscribed, authorized and read their first job.
// The miners run in a child process (this test binary, re-run as
// TestIdleClientsProcess), so nothing of theirs, in particular their own
// crypto/tls state, is counted: the figure is the server's alone,
// including its socket's Go side.
//
//	go test -run '^$' -bench IdleConnMemoryTLS -benchtime=1x ./stratum
func BenchmarkIdleConnMemoryTLS(b *testing.B) {
	const n = 2000
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel)
	e := startTLSServer(b, func(o *Options) { o.Log = zap.New(core) })
	for b.Loop() {
		for _, tr := range transports {
			addr := e.srv.Addr().String()
			if tr.name == "tls" {
				addr = e.srv.TLSAddr().String()
			}
			u, stop := idleClients(b, addr, tr.name == "tls", n)
			b.ReportMetric(u.total()/n, tr.name+"-B/conn")
			b.ReportMetric(u.stack/n, tr.name+"-stack-B/conn")
			stop()
			waitFor(b, "the idle miners to leave", func() bool { return e.srv.Connections() == 0 })
		}
	}
}

// idleClients starts a child process that opens n idle miners to addr and
// returns the server's heap and stacks in use for them; stop ends the
// child.
func idleClients(b *testing.B, addr string, secure bool, n int) (usage, func()) {
	b.Helper()
	before := inUse()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientsProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("TARBELA_IDLE_CLIENTS=%s,%v,%d", addr, secure, n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	stop := func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}
	// The child writes "ready" once every miner has its first job. The
	// kill is a hang guard, far beyond what a few thousand handshakes take.
	guard := time.AfterFunc(5*time.Minute, func() { _ = cmd.Process.Kill() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	guard.Stop()
	if err != nil || line != "ready\n" {
		stop()
		b.Fatalf("idle clients: %q %v", line, err)
	}
	for range 4 {
		inUse()
	}
	after := inUse()
	return usage{after.heap - before.heap, after.stack - before.stack}, stop
}

// TestIdleClientsProcess is BenchmarkIdleConnMemoryTLS's child: with
// TARBELA_IDLE_CLIENTS=addr,tls,n it opens n miners to addr (over TLS when
// tls is true, without checking the certificate), has each read its first
// job, writes "ready" and holds them until its stdin closes. Without the
// variable it does nothing.
func TestIdleClientsProcess(t *testing.T) {
	spec := os.Getenv("TARBELA_IDLE_CLIENTS")
	if spec == "" {
		t.Skip("runs only as BenchmarkIdleConnMemoryTLS's child process")
	}
	parts := strings.Split(spec, ",")
	if len(parts) != 3 {
		t.Fatalf("TARBELA_IDLE_CLIENTS=%q: want addr,tls,n", spec)
	}
	secure, _ := strconv.ParseBool(parts[1])
	n, err := strconv.Atoi(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	hello := []byte(`{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":2}]}` + "\n" +
		`{"id":2,"method":"mining.subscribe","params":["bench/1.0"]}` + "\n" +
		`{"id":3,"method":"mining.authorize","params":["tb1qbench.w","x"]}` + "\n")
	conns := make([]net.Conn, 0, n)
	buf := make([]byte, 16<<10)
	for i := range n {
		var conn net.Conn
		if secure {
			conn, err = tls.DialWithDialer(&net.Dialer{Timeout: ioWait}, "tcp", parts[0], &tls.Config{InsecureSkipVerify: true})
		} else {
			conn, err = net.DialTimeout("tcp", parts[0], ioWait)
		}
		if err != nil {
			t.Fatalf("miner %d: %v", i, err)
		}
		_ = conn.SetDeadline(time.Now().Add(ioWait))
		if _, err := conn.Write(hello); err != nil {
			t.Fatal(err)
		}
		got := 0
		for !bytes.Contains(buf[:got], []byte(`"method":"mining.notify"`)) || buf[got-1] != '\n' {
			k, err := conn.Read(buf[got:])
			if err != nil {
				t.Fatalf("miner %d: waiting for the first job: %v", i, err)
			}
			got += k
		}
		_ = conn.SetDeadline(time.Time{})
		conns = append(conns, conn)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		_ = c.Close()
	}
}
