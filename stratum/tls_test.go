package stratum

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/internal/tlscert"
	"github.com/tarbela-pool/tarbela/share"
)

// testCert is the self-signed pair of the package's TLS tests, made once.
var testCert = sync.OnceValues(func() (tls.Certificate, error) {
	certPEM, keyPEM, err := tlscert.SelfSigned(tlscert.Loopback, time.Hour)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
})

// serverTLS is the TLS listener's configuration with the test pair.
func serverTLS(t testing.TB) *tls.Config {
	t.Helper()
	pair, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}}
}

// clientTLS trusts the test pair alone, for 127.0.0.1.
func clientTLS(t testing.TB) *tls.Config {
	t.Helper()
	pair, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(pair.Leaf)
	return &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
}

// startTLSServer is startServer with the TLS listener on too.
func startTLSServer(t testing.TB, edit func(*Options)) *testEnv {
	t.Helper()
	return startServer(t, func(o *Options) {
		transports[1].listen(t, o)
		if edit != nil {
			edit(o)
		}
	})
}

// dialTLS connects to srv's TLS listener from 127.0.0.1 and completes the
// TLS handshake.
func dialTLS(t testing.TB, srv *Server) *client {
	t.Helper()
	return dialTLSFrom(t, srv, honestIP)
}

// dialTLSFrom connects to srv's TLS listener from the loopback address ip
// and completes the TLS handshake.
func dialTLSFrom(t testing.TB, srv *Server, ip string) *client {
	t.Helper()
	c, err := tryDialTLS(t, srv, ip)
	if err != nil {
		t.Fatalf("TLS dial from %s: %v", ip, err)
	}
	return c
}

// tryDialTLS is dialTLSFrom reporting a failed dial or handshake.
func tryDialTLS(t testing.TB, srv *Server, ip string) (*client, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: ioWait}, Config: clientTLS(t)}
	conn, err := d.Dial("tcp", srv.TLSAddr().String())
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}, nil
}

// dialRaw opens a plain TCP connection to srv's TLS listener.
func dialRaw(t testing.TB, srv *Server) *client {
	t.Helper()
	return dialAddr(t, srv.TLSAddr().String())
}

// transport is one way a miner connects, for tests that must hold over
// both: listen sets the server's options up for it, dial connects a miner
// (for TLS, through the TLS handshake).
type transport struct {
	name   string
	listen func(testing.TB, *Options)
	dial   func(testing.TB, *Server) (*client, error)
}

var transports = []transport{
	{"tcp", func(testing.TB, *Options) {}, func(t testing.TB, srv *Server) (*client, error) { return dial(t, srv), nil }},
	{"tls", func(t testing.TB, o *Options) { o.TLSListen, o.TLSConfig = "127.0.0.1:0", serverTLS(t) },
		func(t testing.TB, srv *Server) (*client, error) { return tryDialTLS(t, srv, honestIP) }},
}

// clientHello returns the first record a TLS client sends: its ClientHello.
func clientHello(t testing.TB) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _ = tls.Client(a, clientTLS(t)).Handshake() }()
	_ = b.SetReadDeadline(time.Now().Add(ioWait))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(b, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(b, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

// TestTLSSession replays the recorded session over TLS beside a plain TCP
// miner: same replies, the share accepted and stored, TLS 1.2 or newer,
// both connections counted, and extranonce1s from the one allocator.
func TestTLSSession(t *testing.T) {
	e := startTLSServer(t, nil)
	v := e.vec
	plain := dial(t, e.srv)
	plain.send(`{"id":1,"method":"mining.subscribe","params":["m", "` + v.Extranonce1 + `"]}`)
	var sub []json.RawMessage
	if err := json.Unmarshal(plain.expectReply("1").fields["result"], &sub); err != nil || len(sub) != 3 {
		t.Fatalf("subscribe result %s", sub)
	}

	c := dialTLS(t, e.srv)
	if st := c.conn.(*tls.Conn).ConnectionState(); st.Version < tls.VersionTLS12 {
		t.Fatalf("negotiated TLS version %#x", st.Version)
	}
	// The plain miner holds the recorded extranonce1, so the TLS one,
	// asking for it, gets another from the same allocator.
	c.send(`{"id": 1, "method": "mining.subscribe", "params": ["bitaxe v2.2", "` + v.Extranonce1 + `"]}`)
	var tlsSub []json.RawMessage
	if err := json.Unmarshal(c.expectReply("1").fields["result"], &tlsSub); err != nil || len(tlsSub) != 3 {
		t.Fatalf("subscribe result %s", tlsSub)
	}
	if string(sub[1]) != `"`+v.Extranonce1+`"` || string(tlsSub[1]) == string(sub[1]) || !strings.HasPrefix(string(tlsSub[1]), `"57`) {
		t.Fatalf("extranonce1s %s (TCP) and %s (TLS): want the recorded one, then another of node 0x57", sub[1], tlsSub[1])
	}
	_ = plain.conn.Close()
	waitFor(t, "the plain miner to leave", func() bool { return e.srv.Connections() == 1 })

	// A new TLS connection resumes the recorded extranonce1 now.
	c = dialTLS(t, e.srv)
	c.handshake(v, "x")
	c.send(v.SubmitRequest)
	if m := c.expectReply("5"); !jsonEqual([]byte(m.raw), []byte(v.SubmitResponse)) {
		t.Fatalf("submit over TLS: got %s, want %s", m.raw, v.SubmitResponse)
	}
	if n := len(e.store.records()); n != 1 {
		t.Fatalf("store has %d shares, want 1", n)
	}
	if n, tn := e.srv.Connections(), e.srv.TLSConnections(); n != 2 || tn != 2 {
		t.Fatalf("Connections() = %d, TLSConnections() = %d; want 2 and 2", n, tn)
	}
	_ = c.conn.Close()
	waitFor(t, "the TLS miner to leave", func() bool { return e.srv.TLSConnections() == 1 })
	if n := e.srv.TLSHandshakeFailures(); n != 0 {
		t.Fatalf("%d handshake failures", n)
	}
}

// TestTLSRefusesOldVersionsAndPlainStratum: a client that offers only TLS
// 1.1, and a miner speaking plain Stratum to the TLS port, fail the
// handshake at once; both count as handshake failures.
func TestTLSRefusesOldVersionsAndPlainStratum(t *testing.T) {
	e := startTLSServer(t, nil)
	old := clientTLS(t)
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: ioWait}, "tcp", e.srv.TLSAddr().String(), old)
	if err == nil {
		_ = conn.Close()
		t.Fatal("a TLS 1.1 client was served")
	}
	raw := dialRaw(t, e.srv)
	raw.send(`{"id":1,"method":"mining.subscribe","params":["m"]}`)
	raw.expectClosed()
	waitFor(t, "both failures counted", func() bool { return e.srv.TLSHandshakeFailures() == 2 })
	waitFor(t, "the sessions removed", func() bool { return e.srv.Connections() == 0 })
}

// TestTLSStalledHandshake: a client that connects to the TLS port and
// stalls the handshake (sends nothing, half a ClientHello, or a whole one
// and then never its Finished) is closed at the handshake timeout, which
// runs from the accept.
func TestTLSStalledHandshake(t *testing.T) {
	const timeout = 300 * time.Millisecond
	hello := clientHello(t)
	tests := []struct {
		name string
		send []byte
	}{
		{"nothing", nil},
		{"half a ClientHello", hello[:len(hello)/2]},
		{"a ClientHello, no Finished", hello},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startTLSServer(t, func(o *Options) { o.HandshakeTimeout = timeout })
			start := time.Now()
			c := dialRaw(t, e.srv)
			if len(tc.send) > 0 {
				if _, err := c.conn.Write(tc.send); err != nil {
					t.Fatal(err)
				}
			}
			c.expectClosed()
			if d := time.Since(start); d < timeout {
				t.Fatalf("closed after %v, before the %v handshake timeout", d, timeout)
			}
			waitFor(t, "the session removed", func() bool { return e.srv.Connections() == 0 })
			if n := e.srv.TLSHandshakeFailures(); n != 1 {
				t.Fatalf("%d handshake failures, want 1", n)
			}
		})
	}
}

// TestTLSStalledHandshakesDoNotBlock: while clients stall their TLS
// handshakes (with a handshake timeout longer than the test), a TLS miner
// and a TCP miner connect and have their shares accepted: the handshake
// runs on the session's goroutine, not the accept loop.
func TestTLSStalledHandshakesDoNotBlock(t *testing.T) {
	const stalled = 8
	e := startTLSServer(t, func(o *Options) { o.HandshakeTimeout = time.Hour })
	hello := clientHello(t)
	for i := range stalled {
		c := dialRaw(t, e.srv)
		if i%2 == 1 {
			if _, err := c.conn.Write(hello[:len(hello)/2]); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "the stalled clients admitted", func() bool { return e.srv.Connections() == stalled })
	for _, c := range []*client{dialTLS(t, e.srv), dial(t, e.srv)} {
		h := &honestMiner{c: c, v: e.vec, job: c.mine("tb1qhonest.rig")}
		for range 3 {
			h.share()
		}
	}
	if n, tn := e.srv.Connections(), e.srv.TLSConnections(); n != stalled+2 || tn != stalled+1 {
		t.Fatalf("Connections() = %d, TLSConnections() = %d; want %d and %d", n, tn, stalled+2, stalled+1)
	}
}

// TestTLSLimitsAndBansShared: the TLS listener's connections count toward
// the same per-address limit as TCP's, and a ban earned over TLS refuses
// the address on both listeners, while a miner elsewhere keeps mining.
func TestTLSLimitsAndBansShared(t *testing.T) {
	e := startTLSServer(t, func(o *Options) {
		o.MaxConnectionsPerIP, o.BanDuration, o.BanMinRejects = 2, time.Minute, floodRejects
	})
	honest := &honestMiner{c: dialTLSFrom(t, e.srv, honestIP), v: e.vec}
	honest.job = honest.c.mine("tb1qhonest.rig")
	honest.share()

	dialFrom(t, e.srv, otherIP).served()
	dialTLSFrom(t, e.srv, otherIP).served()
	expectRefused(t, e.srv, otherIP)
	expectRefusedTLS(t, e.srv, otherIP)
	if limit, banned := e.srv.Refused(); limit != 2 || banned != 0 {
		t.Fatalf("Refused() = %d, %d; want 2, 0", limit, banned)
	}

	fl := dialTLSFrom(t, e.srv, floodIP)
	fl.mine("tb1qbroken.rig")
	floodUnknownJob(t, e, fl, "tb1qbroken.rig")
	expectRefused(t, e.srv, floodIP)
	expectRefusedTLS(t, e.srv, floodIP)
	if _, banned := e.srv.Refused(); banned != 2 {
		t.Fatalf("%d refused as banned, want 2", banned)
	}
	honest.share()
}

// expectRefusedTLS connects to srv's TLS listener from ip and expects the
// connection closed on arrival, before any TLS handshake.
func expectRefusedTLS(t testing.TB, srv *Server, ip string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: ioWait}
	conn, err := d.Dial("tcp", srv.TLSAddr().String())
	if err != nil {
		return // the reset already failed the dial
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expectClosed()
}

// TestTLSSlowConsumer: a TLS miner that stops reading is dropped, by its
// full queue or by the write timeout, while Publish keeps returning and a
// TLS miner that reads gets every job.
func TestTLSSlowConsumer(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Options)
	}{
		{"queue full", func(o *Options) { o.SendQueue, o.WriteTimeout = 4, time.Hour }},
		{"write timeout", func(o *Options) { o.SendQueue, o.WriteTimeout = 1<<16, 200*time.Millisecond }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startTLSServer(t, tc.edit)
			slow := dialTLS(t, e.srv)
			slow.handshake(e.vec, "x")
			fast := dialTLS(t, e.srv)
			fast.mine("tb1qfast")
			big := vectorJob(t, e.vec)
			big.Coinb2 = append(big.Coinb2, make([]byte, 64<<10)...)
			// Publish until the slow miner is dropped, each job once the
			// fast miner has read the previous one; the slow one never
			// reads. The loop is bounded by ioWait, as a hang guard.
			deadline := time.Now().Add(ioWait)
			for i := 0; e.srv.Connections() == 2; i++ {
				if time.Now().After(deadline) {
					t.Fatalf("the slow TLS miner is still connected after %d jobs", i)
				}
				e.srv.Publish(fakeWork{job: big, clean: i%10 == 0})
				fast.expectNotify()
			}
			if n := e.srv.TLSConnections(); n != 1 {
				t.Fatalf("TLSConnections() = %d, want 1", n)
			}
		})
	}
}

// TestTLSShutdown: a TLS miner is sent client.reconnect and then the end of
// the stream; a client still in its TLS handshake is closed at once, not at
// its handshake timeout, and Stop returns without waiting for it.
func TestTLSShutdown(t *testing.T) {
	e := startTLSServer(t, func(o *Options) { o.HandshakeTimeout = time.Hour })
	miner := dialTLS(t, e.srv)
	miner.handshake(e.vec, "x")
	stalled := dialRaw(t, e.srv)
	waitFor(t, "both admitted", func() bool { return e.srv.Connections() == 2 })
	errc := make(chan error, 1)
	go func() { errc <- e.srv.Stop(context.Background()) }()
	if m := miner.recv(); m.raw != `{"id":null,"method":"client.reconnect","params":[]}` {
		t.Fatalf("want client.reconnect, got %s", m.raw)
	}
	miner.expectClosed()
	_ = miner.conn.Close()
	stalled.expectClosed()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Stop: %v", err)
		}
	case <-time.After(ioWait):
		t.Fatal("Stop did not return")
	}
	if conn, err := net.DialTimeout("tcp", e.srv.TLSAddr().String(), time.Second); err == nil {
		_ = conn.Close()
		t.Fatal("the TLS listener still accepts after Stop")
	}
}

// TestTLSPipelinedLines: several requests in one TLS record, one request
// over several records, and many requests each sent once the previous one
// is answered, are all answered: the reader takes what crypto/tls already
// decrypted before it waits for the socket, and looks at the socket before
// it parks (a request that arrives between its last read and its wait
// brings no new readiness: missing it would stall the miner).
func TestTLSPipelinedLines(t *testing.T) {
	e := startTLSServer(t, nil)
	c := dialTLS(t, e.srv)
	for i := range 2000 {
		c.send(fmt.Sprintf(`{"id":%d,"method":"mining.extranonce.subscribe","params":[]}`, i))
		c.expectResult(fmt.Sprint(i), "true")
	}
	var b strings.Builder
	const n = 50
	for i := range n {
		fmt.Fprintf(&b, `{"id":%d,"method":"mining.extranonce.subscribe","params":[]}`+"\n", i)
	}
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c.expectResult(fmt.Sprint(i), "true")
	}
	line := `{"id":"split","method":"mining.extranonce.subscribe","params":[]}` + "\n"
	for _, piece := range []string{line[:9], line[9:40], line[40:]} {
		if _, err := io.WriteString(c.conn, piece); err != nil {
			t.Fatal(err)
		}
	}
	c.expectResult(`"split"`, "true")
}

// TestTLSOptions: a TLS listener needs a configuration with a certificate
// that allows TLS 1.2; each problem names its field. A configuration that
// allows older versions is served with TLS 1.2 as its minimum.
func TestTLSOptions(t *testing.T) {
	base := func() Options {
		return Options{Listen: "127.0.0.1:0", TLSListen: "127.0.0.1:0", Validator: shareValidator(), Auth: fakeAuth{}}
	}
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no config", func(o *Options) {}, "Options.TLSConfig: required with TLSListen"},
		{"no certificate", func(o *Options) { o.TLSConfig = &tls.Config{} }, "Options.TLSConfig: has no certificate"},
		{"TLS 1.1 at most", func(o *Options) {
			o.TLSConfig = serverTLS(t)
			o.TLSConfig.MaxVersion = tls.VersionTLS11
		}, "below TLS 1.2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			tc.edit(&o)
			if _, err := NewServer(o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewServer: %v, want %q", err, tc.want)
			}
		})
	}
	o := base()
	o.TLSConfig = serverTLS(t)
	o.TLSConfig.MinVersion = tls.VersionTLS10
	s, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	if s.tls.cfg.MinVersion != tls.VersionTLS12 || o.TLSConfig.MinVersion != tls.VersionTLS10 {
		t.Fatalf("listener MinVersion %#x (caller's %#x), want TLS 1.2 on a copy", s.tls.cfg.MinVersion, o.TLSConfig.MinVersion)
	}
}

// TestTLSListenFails: when the TLS address cannot be bound, Start fails
// naming it and leaves nothing listening.
func TestTLSListenFails(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	s, err := NewServer(Options{Listen: "127.0.0.1:0", TLSListen: busy.Addr().String(), TLSConfig: serverTLS(t),
		Validator: shareValidator(), Auth: fakeAuth{}})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Start()
	var ne *net.OpError
	if err == nil || !strings.Contains(err.Error(), "listen (TLS) on "+busy.Addr().String()) || !errors.As(err, &ne) {
		t.Fatalf("Start: %v", err)
	}
	if s.Addr() != nil || s.TLSAddr() != nil {
		t.Fatal("a listener is left open")
	}
	ctx, cancel := context.WithTimeout(context.Background(), ioWait)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("Stop after a failed Start: %v", err)
	}
}

// shareValidator is a validator over an in-memory store, for servers that
// judge no share.
func shareValidator() *share.Validator {
	return share.NewValidator(share.ValidatorOptions{Store: &memStore{}, Blocks: &recordingSink{}})
}
