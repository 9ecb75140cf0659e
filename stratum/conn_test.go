package stratum

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestMalformedRequests: garbage gets error 20 with a precise message and,
// where the id could be read, the id echoed verbatim.
func TestMalformedRequests(t *testing.T) {
	tests := []struct {
		name string
		line string
		id   string
		code int
		msg  string
	}{
		{"not json", `hello`, "null", 20, "Parse error: request must be a JSON object"},
		{"truncated", `{"id":1,"method":`, "null", 20, "Parse error"},
		{"array", `[1,2]`, "null", 20, "Parse error: request must be a JSON object"},
		{"trailing data", `{"id":1,"method":"mining.extranonce.subscribe"} x`, "null", 20, "Parse error: trailing data"},
		{"bad number id", `{"id":01,"method":"mining.subscribe"}`, "null", 20, "Parse error: expected ',' or '}'"},
		{"method not a string", `{"id":7,"method":42}`, "7", 20, "Invalid request: method must be a string"},
		{"missing method", `{"id":7,"params":[]}`, "7", 20, "Invalid request: missing method"},
		{"params not an array", `{"id":8,"method":"mining.submit","params":"x"}`, "8", 20, "Invalid params: mining.submit params must be an array"},
		{"submit param not a string", `{"id":9,"method":"mining.submit","params":["a",1,"c","d","e"]}`, "9", 20, "Invalid params: mining.submit param 2 must be a string"},
		{"submit too few params", `{"id":10,"method":"mining.submit","params":["a","b","c","d"]}`, "10", 20, "Invalid params: mining.submit takes 5 or 6 string params, got 4"},
		{"submit too many params", `{"id":10,"method":"mining.submit","params":["a","b","c","d","e","f","g"]}`, "10", 20, "Invalid params: mining.submit takes at most 6 params"},
		{"authorize username not a string", `{"id":11,"method":"mining.authorize","params":[1,"x"]}`, "11", 20, "Invalid params: mining.authorize username (param 1) must be a string"},
		{"suggest not a number", `{"id":12,"method":"mining.suggest_difficulty","params":["abc"]}`, "12", 20, "Invalid params: mining.suggest_difficulty needs a positive number"},
		{"suggest negative", `{"id":12,"method":"mining.suggest_difficulty","params":[-5]}`, "12", 20, "Invalid params: mining.suggest_difficulty needs a positive number"},
		{"unknown method", `{"id":"abc","method":"mining.nope","params":[]}`, `"abc"`, 20, "Unknown method"},
		{"invalid utf-8", "{\"id\":1,\"method\":\"\xff\"}", "null", 20, "Parse error: request is not valid UTF-8"},
	}
	e := startServer(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, e.srv)
			c.send(tc.line)
			m := c.expectError(tc.id, tc.code)
			if !strings.HasPrefix(m.errorMessage(), tc.msg) {
				t.Fatalf("message %q, want prefix %q", m.errorMessage(), tc.msg)
			}
		})
	}
}

// TestOpaqueIDs: ids of any JSON type are echoed verbatim, and a repeated id
// does not confuse anything.
func TestOpaqueIDs(t *testing.T) {
	e := startServer(t, nil)
	c := dial(t, e.srv)
	for _, id := range []string{`{"a":[1,"x"]}`, `"str"`, `-1.5e3`, `null`, `"str"`, `true`} {
		c.send(`{"method":"mining.extranonce.subscribe","id":` + id + `,"params":[]}`)
		c.expectResult(id, "true")
	}
	c.send(`{"method":"mining.extranonce.subscribe"}`)
	c.expectResult("null", "true")
}

// TestConnectionLimits: a connection is closed for an over-long line, for
// too many malformed lines, for idling, and for not finishing the handshake,
// over TCP and over TLS alike.
func TestConnectionLimits(t *testing.T) {
	tests := []struct {
		name string
		// edit sets the options; short is the timeout a case tests.
		edit func(o *Options, short time.Duration)
		run  func(t *testing.T, e *testEnv, c *client)
	}{
		{"over-long line", func(o *Options, _ time.Duration) { o.MaxLineBytes = 256 }, func(t *testing.T, e *testEnv, c *client) {
			c.send(`{"id":1,"method":"mining.subscribe","params":["` + strings.Repeat("a", 300) + `"]}`)
		}},
		{"too many malformed lines", nil, func(t *testing.T, e *testEnv, c *client) {
			for range maxStrikes {
				c.send("GET / HTTP/1.1")
			}
			for range maxStrikes {
				c.expectError("null", 20)
			}
		}},
		// The two timeouts are short, so the requests before them go in
		// one write and no reply is waited for: a test goroutine that
		// stalls longer than the timeout on a busy machine must not end
		// the connection half-way. Only the close is checked.
		{"idle timeout", func(o *Options, short time.Duration) { o.IdleTimeout = short }, func(t *testing.T, e *testEnv, c *client) {
			// A connection whose handshake did not complete would be
			// closed only at the default 60 s handshake timeout, so a
			// close within ioWait is the idle timeout's.
			c.sendHandshakeAtOnce(e.vec)
		}},
		{"handshake timeout", func(o *Options, short time.Duration) { o.HandshakeTimeout = short }, func(t *testing.T, e *testEnv, c *client) {
			// The timeout runs from the accept, so the subscribe may
			// arrive after it; when it is answered, the answer is the
			// subscribe's.
			_, _ = io.WriteString(c.conn, `{"id":1,"method":"mining.subscribe","params":["m"]}`+"\n")
			if m, err := c.tryRecv(); err == nil && string(m.fields["id"]) != "1" {
				t.Fatalf("want the subscribe's reply or the close, got %s", m.raw)
			}
		}},
	}
	for _, tr := range transports {
		for _, tc := range tests {
			t.Run(tr.name+"/"+tc.name, func(t *testing.T) {
				// The short timeouts also bound a TLS handshake: when
				// the machine is too slow to finish it in time, the
				// case runs again with twice the timeout.
				for short := 100 * time.Millisecond; ; short *= 2 {
					e := startServer(t, func(o *Options) {
						tr.listen(t, o)
						if tc.edit != nil {
							tc.edit(o, short)
						}
					})
					c, err := tr.dial(t, e.srv)
					if err != nil {
						if short >= ioWait {
							t.Fatalf("dial: %v", err)
						}
						continue
					}
					tc.run(t, e, c)
					c.expectClosed()
					waitFor(t, "the session to be removed", func() bool { return e.srv.Connections() == 0 })
					return
				}
			})
		}
	}
}

// TestLineWithinLimitKept: a line of exactly MaxLineBytes (newline included)
// is served; the cap is not off by one.
func TestLineWithinLimitKept(t *testing.T) {
	e := startServer(t, func(o *Options) { o.MaxLineBytes = 256 })
	c := dial(t, e.srv)
	prefix := `{"id":1,"method":"mining.extranonce.subscribe","params":["`
	suffix := `"]}`
	c.send(prefix + strings.Repeat("a", 255-len(prefix)-len(suffix)) + suffix)
	c.expectResult("1", "true")
}

// TestSlowConsumer: a miner that stops reading is dropped when its queue
// fills, while Publish keeps returning and another miner gets every job.
func TestSlowConsumer(t *testing.T) {
	e := startServer(t, func(o *Options) {
		o.SendQueue = 4
		// Long enough that only the full queue can drop the slow
		// miner within the test's wait: Publish must not wait on it.
		o.WriteTimeout = time.Minute
	})
	slow := dial(t, e.srv)
	slow.handshake(e.vec, "x")
	fast := dial(t, e.srv)
	fast.send(`{"id":1,"method":"mining.subscribe","params":["m"]}`)
	fast.expectReply("1")
	fast.authorize("tb1qfast", "x")

	const publishes = 100
	var got atomic.Int64
	readErr := make(chan error, 1)
	go func() {
		for got.Load() < publishes {
			m, err := fast.tryRecv()
			if err != nil {
				readErr <- err
				return
			}
			if m.method() == "mining.notify" {
				got.Add(1)
			}
		}
		readErr <- nil
	}()

	// A large coinbase makes each notify ~128 KiB so the slow miner's
	// socket buffers fill after a few jobs.
	big := vectorJob(t, e.vec)
	big.Coinb2 = append(big.Coinb2, make([]byte, 64<<10)...)
	// Each job is published once the fast miner has the previous one, as
	// templates arrive in real life; the slow miner never reads.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range publishes {
			e.srv.Publish(fakeWork{job: big, clean: i%10 == 0})
			for got.Load() <= int64(i) && len(readErr) == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(ioWait):
		t.Fatalf("Publish blocked on a miner that does not read (fast miner has %d notifies)", got.Load())
	}
	waitFor(t, "the slow miner to be dropped", func() bool { return e.srv.Connections() == 1 })
	select {
	case err := <-readErr:
		if err != nil {
			t.Fatalf("fast miner: %v after %d notifies", err, got.Load())
		}
	case <-time.After(ioWait):
		t.Fatalf("fast miner got %d of %d notifies", got.Load(), publishes)
	}
}

// TestShutdown: every miner gets client.reconnect, the listener stops, and
// Stop returns once the miners hang up; a second call is harmless.
func TestShutdown(t *testing.T) {
	e := startServer(t, nil)
	addr := e.srv.Addr().String()
	c1 := dial(t, e.srv)
	c1.handshake(e.vec, "x")
	c2 := dial(t, e.srv) // not yet subscribed: told to reconnect too
	c2.send(`{"id":1,"method":"mining.extranonce.subscribe"}`)
	c2.expectResult("1", "true")

	errc := make(chan error, 1)
	go func() { errc <- e.srv.Stop(context.Background()) }()
	for _, c := range []*client{c1, c2} {
		m := c.recv()
		if m.raw != `{"id":null,"method":"client.reconnect","params":[]}` {
			t.Fatalf("want client.reconnect, got %s", m.raw)
		}
		c.expectClosed()
		_ = c.conn.Close()
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Stop: %v", err)
		}
	case <-time.After(ioWait):
		t.Fatal("Stop did not return after the miners left")
	}
	if err := e.srv.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if n := e.srv.Connections(); n != 0 {
		t.Fatalf("Connections() = %d after Stop", n)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = conn.Close()
		t.Fatal("still accepting after Stop")
	}
	if err := e.srv.Start(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Start after Stop: %v", err)
	}
}

// TestShutdownDeadline: a miner that ignores client.reconnect is closed when
// the context ends, and Stop reports the context's error.
func TestShutdownDeadline(t *testing.T) {
	e := startServer(t, nil)
	c := dial(t, e.srv)
	c.handshake(e.vec, "x")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.srv.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want deadline exceeded", err)
	}
	if n := e.srv.Connections(); n != 0 {
		t.Fatalf("Connections() = %d", n)
	}
}

// sendHandshakeAtOnce writes the recorded subscribe, configure and
// authorize in one write, reading nothing: the server handles them without
// a gap between requests, however slowly the test runs.
func (c *client) sendHandshakeAtOnce(v *vector) {
	c.t.Helper()
	c.send(`{"id": 1, "method": "mining.subscribe", "params": ["bitaxe v2.2", "` + v.Extranonce1 + `"]}` + "\n" +
		v.ConfigureRequest + "\n" +
		`{"id": 3, "method": "mining.authorize", "params": ["` + vectorUser + `", "x"]}`)
}
