package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/cpuminer"
)

// honestMiner runs a real CPU miner on the pool for the whole test and lets
// each phase assert that it kept getting shares accepted.
type honestMiner struct {
	t    *testing.T
	m    *cpuminer.Miner
	stop func()
}

func startHonestMiner(t *testing.T, tp *testPool) *honestMiner {
	m, err := cpuminer.New(cpuminer.Options{URL: tp.d.StratumAddr(), User: minerAddr + ".honest", Threads: 1, VersionRolling: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	h := &honestMiner{t: t, m: m, stop: func() { cancel(); <-done }}
	t.Cleanup(h.stop)
	h.progress("start")
	return h
}

// progress waits until the honest miner has a share accepted after this
// call, and checks that it never had one rejected.
func (h *honestMiner) progress(phase string) {
	h.t.Helper()
	before := h.m.Stats().Accepted
	waitFor(h.t, "the honest miner's next accepted share after "+phase, func() bool { return h.m.Stats().Accepted > before })
	if st := h.m.Stats(); st.Rejected != 0 {
		h.t.Fatalf("after %s the honest miner had %d shares rejected", phase, st.Rejected)
	}
}

// closedWithin reads until the pool closes the connection, failing if that
// takes longer than d. It returns what was read.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	var got bytes.Buffer
	_, err := io.Copy(&got, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %s; got %q", d, got.String())
	}
	return got.Bytes()
}

// TestHostileInput sends the pool what broken firmware, scanners and
// floods send, each from its own loopback address, while an honest miner
// from 127.0.0.1 mines on the same pool: every phase must end with the
// hostile connection dealt with as documented and the honest miner still
// getting its shares accepted.
func TestHostileInput(t *testing.T) {
	tp := startPool(t, poolOptions{configure: func(c *config.Config) {
		c.Stratum.HandshakeTimeout = 2 * time.Second
		c.Stratum.MaxConnectionsPerIP = 3
		c.Stratum.BanMinRejects = 20
		c.Stratum.BanDuration = 30 * time.Second
	}}, nil)
	addr := tp.d.StratumAddr()
	honest := startHonestMiner(t, tp)

	t.Run("line over the limit", func(t *testing.T) {
		c := dialFrom(t, addr, "127.0.0.2")
		// 1 MiB without a newline: the pool must close the connection
		// rather than buffer it (the write may fail once it has).
		go c.conn.Write(bytes.Repeat([]byte("a"), 1<<20))
		closedWithin(t, c.conn, 10*time.Second)
		honest.progress("a 1 MiB line")
	})

	t.Run("garbage and invalid JSON", func(t *testing.T) {
		c := dialFrom(t, addr, "127.0.0.2")
		c.conn.Write([]byte("\x00\x01\x02\xff\xfe binary\n"))
		m, err := c.read()
		if err != nil || m.errorCode() != 20 {
			t.Fatalf("binary garbage: reply %+v, %v; want error 20", m, err)
		}
		for range 10 {
			c.conn.Write([]byte("{\"id\": 1, \"method\": \n"))
		}
		rest := closedWithin(t, c.conn, 10*time.Second)
		if !bytes.Contains(rest, []byte("Parse error")) {
			t.Errorf("invalid JSON got no parse error reply: %q", rest)
		}
		honest.progress("garbage")
	})

	t.Run("wrong types, counts and hex lengths", func(t *testing.T) {
		c := dialFrom(t, addr, "127.0.0.2")
		c.handshake(minerAddr+".bad", "x", 0)
		for _, bad := range []struct {
			name   string
			params []any
			want   string
		}{
			{"number worker", []any{1, "1", "00", "00", "00"}, "string"},
			{"four params", []any{minerAddr + ".bad", "1", "0000000000000000", "64b3f3ec"}, "5 or 6"},
			{"short extranonce2", []any{minerAddr + ".bad", "1", "00", "64b3f3ec", "00000000"}, "extranonce2"},
			{"long nonce", []any{minerAddr + ".bad", "1", "0000000000000000", "64b3f3ec", "000000000"}, "nonce"},
			{"bad ntime hex", []any{minerAddr + ".bad", "1", "0000000000000000", "64b3f3eg", "00000000"}, "ntime"},
		} {
			// The honest miner finds blocks all the time, so the job may go
			// stale between reading it and the pool reading the submit: use
			// the latest job, and try again on a stale reply.
			var r *message
			for range 5 {
				if len(bad.params) > 1 {
					bad.params[1] = latestJobID(t, c)
				}
				if r = c.call("mining.submit", bad.params...); r.errorCode() != 21 {
					break
				}
			}
			if r.errorCode() != 20 || len(r.Error) < 2 || !strings.Contains(strings.ToLower(string(r.Error[1])), bad.want) {
				t.Errorf("%s: error %s, want code 20 naming %q", bad.name, r.Error, bad.want)
			}
		}
		if r := c.call("mining.ping_me_maybe"); r.errorCode() != 20 {
			t.Errorf("unknown method: error %s, want 20", r.Error)
		}
		honest.progress("malformed params")
	})

	t.Run("submit before subscribe and before authorize", func(t *testing.T) {
		c := dialFrom(t, addr, "127.0.0.2")
		if r := c.call("mining.submit", minerAddr, "1", "0000000000000000", "64b3f3ec", "00000000"); r.errorCode() != 25 {
			t.Errorf("before subscribe: error %s, want 25", r.Error)
		}
		c.call("mining.subscribe", "hostile/1.0")
		if r := c.call("mining.submit", minerAddr, "1", "0000000000000000", "64b3f3ec", "00000000"); r.errorCode() != 24 {
			t.Errorf("before authorize: error %s, want 24", r.Error)
		}
		honest.progress("early submits")
	})

	t.Run("silent and half-line connections time out", func(t *testing.T) {
		// The handshake timeout runs from the pool's accept, which comes
		// after start: neither close can come sooner than the timeout
		// after start, however slowly the test runs.
		start := time.Now()
		silent := dialFrom(t, addr, "127.0.0.2")
		half := dialFrom(t, addr, "127.0.0.2")
		half.conn.Write([]byte(`{"id":1,"method":"mining.subscr`))
		closedWithin(t, silent.conn, 10*time.Second)
		closedWithin(t, half.conn, 10*time.Second)
		if waited, timeout := time.Since(start), tp.cfg.Stratum.HandshakeTimeout; waited < timeout {
			t.Errorf("closed after %s, before the %s handshake timeout", waited, timeout)
		}
		honest.progress("idle connections")
	})

	t.Run("per-address connection limit", func(t *testing.T) {
		var open []*stratumClient
		for range 3 {
			c := dialFrom(t, addr, "127.0.0.3")
			c.call("mining.subscribe", "site/1.0") // admitted: it answers
			open = append(open, c)
		}
		extra := dialFrom(t, addr, "127.0.0.3")
		if got := closedWithin(t, extra.conn, 5*time.Second); len(got) != 0 {
			t.Errorf("refused connection was sent %q", got)
		}
		// The other connections from that address are untouched.
		if r := open[0].call("mining.extranonce.subscribe"); r.errorCode() != 0 {
			t.Errorf("admitted connection broken: %s", r.Error)
		}
		honest.progress("a full address")
	})

	t.Run("share flood bans the address", func(t *testing.T) {
		c := dialFrom(t, addr, "127.0.0.4")
		c.handshake(minerAddr+".flood", "x", 0)
		for range 40 {
			c.send("mining.submit", minerAddr+".flood", "ffff", "0000000000000000", "64b3f3ec", "00000000")
		}
		closedWithin(t, c.conn, 10*time.Second)
		again := dialFrom(t, addr, "127.0.0.4")
		if got := closedWithin(t, again.conn, 5*time.Second); len(got) != 0 {
			t.Errorf("banned address was sent %q", got)
		}
		if n := tp.metricValue(t, `tarbela_bans_total`); n < 1 {
			t.Errorf("tarbela_bans_total = %v, want >= 1", n)
		}
		// A site address next door is not affected.
		ok := dialFrom(t, addr, "127.0.0.5")
		var sub json.RawMessage = ok.call("mining.subscribe", "site/1.0").Result
		if len(sub) == 0 || string(sub) == "null" {
			t.Errorf("neighbouring address refused: %s", sub)
		}
		honest.progress("a share flood")
	})
}

// latestJobID is the job id of the last mining.notify c received.
func latestJobID(t *testing.T, c *stratumClient) string {
	t.Helper()
	var params []json.RawMessage
	var id string
	if err := json.Unmarshal(c.notify, &params); err != nil || len(params) == 0 || json.Unmarshal(params[0], &id) != nil {
		t.Fatalf("no job id in the last notify %s", c.notify)
	}
	return id
}
