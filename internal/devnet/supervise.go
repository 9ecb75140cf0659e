package devnet

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"
)

// service is a process the devnet runs and restarts: *localnet.Btcd and
// *localnet.Redis.
type service[T any] interface {
	Exited() <-chan struct{}
	ExitStatus() string
	OutputFile() string
	Stop()
	Restart(ctx context.Context) (T, error)
}

// backoff is the delay schedule of restarts: first, doubling up to max
// after each restart, back to first once a service has run for stable.
type backoff struct {
	first, max, stable time.Duration
}

// defaultBackoff restarts after 1 s, then 2, 4 … up to 30 s while a service
// keeps failing, and forgets the failures after a minute of running.
var defaultBackoff = backoff{first: time.Second, max: 30 * time.Second, stable: time.Minute}

// next is the delay after delay.
func (b backoff) next(delay time.Duration) time.Duration { return min(2*delay, b.max) }

// supervisor keeps one service running: when its process exits it says so
// in one line, restarts it on the same port and directory after the backoff
// delay, and says in one line when it is back. Its goroutine is started by
// supervise and ended by stop, which also stops the service.
type supervisor[T service[T]] struct {
	name, addr string
	out        io.Writer
	b          backoff
	// hold, when set, is called before each restart attempt (tests hold a
	// service down with it).
	hold   func(ctx context.Context, name string)
	cur    T // owned by run until done is closed
	down   atomic.Bool
	cancel context.CancelFunc
	done   chan struct{}
}

// supervise starts watching s. The supervisor has its own context: the
// devnet stops it only after the pool has flushed its shares, so that
// Redis and the node stay up for that.
func supervise[T service[T]](name, addr string, s T, out io.Writer, b backoff, hold func(context.Context, string)) *supervisor[T] {
	ctx, cancel := context.WithCancel(context.Background())
	sv := &supervisor[T]{name: name, addr: addr, out: out, b: b, hold: hold, cur: s, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(sv.done)
		sv.run(ctx)
	}()
	return sv
}

// Down reports whether the service is down and being restarted.
func (sv *supervisor[T]) Down() bool { return sv.down.Load() }

// stop ends the supervision, waits for its goroutine and stops the service
// as it then is. Call it once.
func (sv *supervisor[T]) stop() {
	sv.cancel()
	<-sv.done
	sv.cur.Stop()
}

func (sv *supervisor[T]) run(ctx context.Context) {
	delay := sv.b.first
	for {
		started := time.Now()
		select {
		case <-ctx.Done():
			return
		case <-sv.cur.Exited():
		}
		sv.down.Store(true)
		if time.Since(started) >= sv.b.stable {
			delay = sv.b.first
		}
		fmt.Fprintf(sv.out, "devnet: %s exited (%s; output in %s); restarting on %s in %v\n",
			sv.name, sv.cur.ExitStatus(), sv.cur.OutputFile(), sv.addr, delay)
		for {
			if !sleep(ctx, delay) {
				return
			}
			if sv.hold != nil {
				sv.hold(ctx, sv.name)
			}
			next, err := sv.cur.Restart(ctx)
			delay = sv.b.next(delay)
			if err == nil {
				sv.cur = next
				break
			}
			if ctx.Err() != nil {
				return
			}
			fmt.Fprintf(sv.out, "devnet: %s did not restart (%s); next try in %v\n", sv.name, oneLine(err.Error(), 300), delay)
		}
		sv.down.Store(false)
		fmt.Fprintf(sv.out, "devnet: %s is back on %s\n", sv.name, sv.addr)
	}
}

// sleep waits d and reports true, or reports false as soon as ctx ends.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// oneLine joins the lines of s with " | " and cuts it to at most n bytes,
// so that a process's output quoted in an error stays one status line.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(s), "\n", " | ")), " ")
	if len(s) > n {
		cut := n
		for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
