package loadgen

import (
	"bufio"
	"context"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/share"
)

// fakeStore records shares by acknowledging them, as a store with Redis
// behind it does once a share's batch is written.
type fakeStore struct {
	recorded atomic.Uint64
	closed   atomic.Bool
	closeErr error
}

func (s *fakeStore) AddShare(r share.Record) error {
	s.recorded.Add(1)
	if r.Ack != nil {
		r.Ack.ShareRecorded(r.Token, nil)
	}
	return nil
}

func (s *fakeStore) AddBlock(*share.BlockRecord) error { return nil }
func (s *fakeStore) SharesRecorded() uint64            { return s.recorded.Load() }
func (s *fakeStore) Stop(context.Context) error        { s.closed.Store(true); return s.closeErr }

// serving is a Serve running in the background, its output read line by
// line.
type serving struct {
	lines  chan string
	done   chan error
	cancel context.CancelFunc
}

func startServe(t *testing.T, o ServeOptions) *serving {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	o.Out = w
	s := &serving{lines: make(chan string, 1000), done: make(chan error, 1), cancel: cancel}
	go func() {
		err := Serve(ctx, o)
		w.Close()
		s.done <- err
	}()
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	t.Cleanup(cancel)
	return s
}

// stop stops Serve and returns the lines it wrote since the last read and
// its error.
func (s *serving) stop(t *testing.T) ([]string, error) {
	t.Helper()
	s.cancel()
	var rest []string
	for l := range s.lines {
		rest = append(rest, l)
	}
	select {
	case err := <-s.done:
		return rest, err
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return")
		return nil, nil
	}
}

var startLine = regexp.MustCompile(`^pool: stratum\+tcp://(127\.0\.0\.1:\d+) pid \d+ difficulty 1e-12 \((tarbela|bare)\)$`)

// TestServe loads each kind of server Serve runs and checks its lines:
// the start line, status lines, and the closing count that matches what
// the miners saw.
func TestServe(t *testing.T) {
	tests := []struct {
		name  string
		bare  bool
		store bool
		kind  string
		final string
	}{
		{name: "tarbela", kind: "tarbela", final: `^pool: stopped; (\d+) shares accepted$`},
		{name: "tarbela with a store", store: true, kind: "tarbela", final: `^pool: stopped; (\d+) shares accepted, (\d+) recorded in Redis$`},
		{name: "bare", bare: true, kind: "bare", final: `^pool: stopped; (\d+) shares answered unchecked, 0 miners dropped for a notify that did not fit$`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := ServeOptions{Pool: PoolOptions{Listen: "127.0.0.1:0", Difficulty: 1e-12}, Bare: tc.bare, Status: 20 * time.Millisecond}
			var st *fakeStore
			if tc.store {
				st = &fakeStore{}
				o.Store = st
			}
			s := startServe(t, o)
			first := <-s.lines
			m := startLine.FindStringSubmatch(first)
			if m == nil || m[2] != tc.kind {
				t.Fatalf("start line %q, want the address and (%s)", first, tc.kind)
			}
			rep, err := Run(context.Background(), Options{Pool: m[1], Miners: 4, Sources: 2, Duration: 500 * time.Millisecond, Rate: 20})
			if err != nil {
				t.Fatal(err)
			}
			rest, err := s.stop(t)
			if err != nil {
				t.Fatalf("Serve: %v", err)
			}
			if len(rest) < 2 || !strings.HasPrefix(rest[0], "pool: connections=") {
				t.Fatalf("want status lines, then the stop line; got %q", rest)
			}
			f := regexp.MustCompile(tc.final).FindStringSubmatch(rest[len(rest)-1])
			if f == nil {
				t.Fatalf("last line %q, want %s", rest[len(rest)-1], tc.final)
			}
			answered, _ := strconv.ParseUint(f[1], 10, 64) // the pattern holds digits only
			if rep.Shares.Accepted == 0 || answered < rep.Shares.Accepted {
				t.Errorf("server answered %d shares, miners saw %d accepted", answered, rep.Shares.Accepted)
			}
			if st != nil && (f[2] != f[1] || !st.closed.Load()) {
				t.Errorf("store: %s recorded for %s accepted, closed %v; want all recorded and the store closed", f[2], f[1], st.closed.Load())
			}
		})
	}
}

// TestServeErrors checks that Serve closes the store it was given however
// it fails, and says so.
func TestServeErrors(t *testing.T) {
	t.Run("store close fails", func(t *testing.T) {
		st := &fakeStore{closeErr: errors.New("flush failed")}
		s := startServe(t, ServeOptions{Pool: PoolOptions{Listen: "127.0.0.1:0", Difficulty: 1e-12}, Store: st})
		<-s.lines
		rest, err := s.stop(t)
		if err == nil || !strings.Contains(err.Error(), "stopping the Redis store: flush failed") {
			t.Errorf("Serve = %v, want the store's close error", err)
		}
		if len(rest) != 1 || rest[0] != "pool: stopped; 0 shares accepted, 0 recorded in Redis" {
			t.Errorf("lines %q, want the stop line alone", rest)
		}
	})
	t.Run("pool does not start", func(t *testing.T) {
		st := &fakeStore{}
		err := Serve(context.Background(), ServeOptions{Pool: PoolOptions{Listen: "127.0.0.1:-1"}, Store: st, Out: io.Discard})
		if err == nil || !st.closed.Load() {
			t.Errorf("Serve = %v, store closed %v; want an error and the store closed", err, st.closed.Load())
		}
	})
	t.Run("bare with the API", func(t *testing.T) {
		st := &fakeStore{}
		err := Serve(context.Background(), ServeOptions{Bare: true, Store: st, API: APIOptions{Listen: "127.0.0.1:0"}, Out: io.Discard})
		if err == nil || !st.closed.Load() {
			t.Errorf("Serve = %v, store closed %v; want an error and the store closed", err, st.closed.Load())
		}
	})
	t.Run("API without a source", func(t *testing.T) {
		st := &fakeStore{}
		var out strings.Builder
		err := Serve(context.Background(), ServeOptions{Pool: PoolOptions{Listen: "127.0.0.1:0"}, Store: st, API: APIOptions{Listen: "127.0.0.1:0"}, Out: &out})
		if err == nil || !strings.Contains(err.Error(), "APIOptions.Pool") || !st.closed.Load() || out.Len() != 0 {
			t.Errorf("Serve = %v, store closed %v, output %q; want the error, the store closed, nothing served", err, st.closed.Load(), out.String())
		}
	})
	t.Run("bare with a store", func(t *testing.T) {
		st := &fakeStore{}
		err := Serve(context.Background(), ServeOptions{Bare: true, Store: st, Out: io.Discard})
		if err == nil || !st.closed.Load() {
			t.Errorf("Serve = %v, store closed %v; want an error and the store closed", err, st.closed.Load())
		}
	})
}
