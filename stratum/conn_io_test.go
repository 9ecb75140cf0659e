package stratum

import (
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestLineReaderLines: lines are cut at newlines across reads, an unfinished
// line is carried over and joined, and a line of MaxLineBytes or more
// without its newline is refused whether it came in one read or several.
func TestLineReaderLines(t *testing.T) {
	const maxLine = 16
	tests := []struct {
		name   string
		chunks []string
		want   []string
		err    error // after the last chunk
	}{
		{"one line", []string{"abc\n"}, []string{"abc"}, nil},
		{"several lines in one read", []string{"a\nbb\n\nccc\n"}, []string{"a", "bb", "", "ccc"}, nil},
		{"line split over reads", []string{"ab", "cd", "e\nf\n"}, []string{"abcde", "f"}, nil},
		{"newline alone completes the line", []string{"abc", "\n"}, []string{"abc"}, nil},
		{"unfinished line is kept", []string{"x\nyy"}, []string{"x"}, nil},
		{"longest line fits with its newline", []string{strings.Repeat("a", maxLine-1) + "\n"}, []string{strings.Repeat("a", maxLine-1)}, nil},
		{"longest line in pieces", []string{strings.Repeat("a", 10), strings.Repeat("a", maxLine-11) + "\n"}, []string{strings.Repeat("a", maxLine-1)}, nil},
		{"line over the cap in one read", []string{"ok\n" + strings.Repeat("a", maxLine) + "\n"}, []string{"ok"}, errLineTooLong},
		{"unfinished line reaching the cap", []string{strings.Repeat("a", maxLine)}, nil, errLineTooLong},
		{"pieces reaching the cap", []string{strings.Repeat("a", 9), strings.Repeat("a", 7)}, nil, errLineTooLong},
		{"joined line over the cap", []string{strings.Repeat("a", 9), strings.Repeat("a", 7) + "\n"}, nil, errLineTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			r := newLineReader(nil, maxLine, func(line []byte) bool {
				got = append(got, string(line))
				return true
			})
			var err error
			for i, c := range tc.chunks {
				if _, err = r.lines([]byte(c)); err != nil && i != len(tc.chunks)-1 {
					t.Fatalf("chunk %d: %v", i, err)
				}
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Fatalf("lines %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLineReaderStops: a handler returning false stops the lines after it.
func TestLineReaderStops(t *testing.T) {
	var got []string
	r := newLineReader(nil, 64, func(line []byte) bool {
		got = append(got, string(line))
		return len(got) < 2
	})
	n, err := r.lines([]byte("a\nb\nc\n"))
	if err != nil || n != 2 || strings.Join(got, "|") != "a|b" {
		t.Fatalf("handled %d %q (%v), want a and b", n, got, err)
	}
}

// TestRequestInPieces: a request that arrives in several TCP segments is
// answered once complete.
func TestRequestInPieces(t *testing.T) {
	e := startServer(t, nil)
	c := dial(t, e.srv)
	line := `{"id":5,"method":"mining.extranonce.subscribe","params":[]}` + "\n"
	for _, piece := range []string{line[:7], line[7:30], line[30:]} {
		if _, err := io.WriteString(c.conn, piece); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // separate segments
	}
	c.expectResult("5", "true")
}

// TestHalfLineTimeout: a miner that trickles bytes without ever finishing a
// line is dropped at the idle timeout; partial data does not extend it. The
// handshake goes in one write (the timeout is short: a test that stalls on
// a busy machine must not lose the connection half-way through it), and the
// miner must be dropped while it still trickles, within ioWait.
func TestHalfLineTimeout(t *testing.T) {
	e := startServer(t, func(o *Options) { o.IdleTimeout = 300 * time.Millisecond })
	c := dial(t, e.srv)
	c.sendHandshakeAtOnce(e.vec)
	stop := time.Now().Add(ioWait)
	for {
		// Once the server has closed, a write is answered with a reset
		// and the next one fails.
		if err := c.conn.SetWriteDeadline(time.Now().Add(ioWait)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c.conn, "{"); err != nil {
			break
		}
		if time.Now().After(stop) {
			t.Fatalf("a miner trickling half a line was kept for %v: partial data extends the idle timeout", ioWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, "the trickling miner to be dropped", func() bool { return e.srv.Connections() == 0 })
}

// TestIdleConnectionsHoldOneGoroutine: an idle miner costs one goroutine,
// its reader, over TCP and over TLS; no writer waits per connection, before
// or after it was sent jobs.
func TestIdleConnectionsHoldOneGoroutine(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { testIdleGoroutines(t, tr) })
	}
}

func testIdleGoroutines(t *testing.T, tr transport) {
	const miners = 50
	e := startServer(t, func(o *Options) { tr.listen(t, o) })
	before := runtime.NumGoroutine()
	for range miners {
		c, err := tr.dial(t, e.srv)
		if err != nil {
			t.Fatal(err)
		}
		c.send(`{"id":1,"method":"mining.subscribe","params":["m"]}`)
		c.expectReply("1")
		c.authorize("tb1qidle", "x")
	}
	e.srv.Publish(fakeWork{job: e.job, clean: true})
	// Flushers started for the handshake replies end once written; the
	// clients read nothing more, and the jobs fit the socket buffers.
	var n int
	deadline := time.Now().Add(ioWait)
	for {
		n = runtime.NumGoroutine() - before
		if n <= miners || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n > miners {
		t.Fatalf("%d goroutines for %d idle miners, want at most one each", n, miners)
	}
	if got := e.srv.Connections(); got != miners {
		t.Fatalf("%d connections, want %d", got, miners)
	}
}
