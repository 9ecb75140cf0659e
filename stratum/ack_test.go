package stratum

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/share"
)

// TestAckRing drives the ring directly: replies come out in request order,
// only from the front, with the right verdict; a withdrawn entry leaves no
// reply; the ring grows to maxPendingAcks and refuses beyond it.
func TestAckRing(t *testing.T) {
	type step struct {
		op    string // reserve, unreserve, ok, fail, replies
		token uint64
		want  string // replies: the expected ids, space-separated (v true, x failed)
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"in order", []step{
			{op: "reserve"}, {op: "reserve"}, {op: "ok", token: 0}, {op: "ok", token: 1},
			{op: "replies", want: "v0 v1"},
		}},
		{"out of order waits for the front", []step{
			{op: "reserve"}, {op: "reserve"}, {op: "reserve"}, {op: "ok", token: 1}, {op: "fail", token: 2},
			{op: "replies", want: ""}, {op: "ok", token: 0}, {op: "replies", want: "v0 v1 x2"},
		}},
		{"withdrawn share has no reply", []step{
			{op: "reserve"}, {op: "reserve"}, {op: "unreserve", token: 1}, {op: "reserve"},
			{op: "ok", token: 1}, {op: "ok", token: 0}, {op: "replies", want: "v0 v1"},
		}},
		{"second completion ignored", []step{
			{op: "reserve"}, {op: "ok", token: 0}, {op: "fail", token: 0}, {op: "replies", want: "v0"},
			{op: "ok", token: 0}, {op: "ok", token: 7}, {op: "replies", want: ""},
		}},
		{"grows past its first size keeping entries", []step{
			{op: "reserve"}, {op: "reserve"}, {op: "reserve"}, {op: "ok", token: 0}, {op: "replies", want: "v0"},
			{op: "reserve"}, {op: "reserve"}, {op: "reserve"}, {op: "reserve"}, {op: "reserve"},
			{op: "ok", token: 3}, {op: "ok", token: 1}, {op: "ok", token: 2}, {op: "ok", token: 7},
			{op: "replies", want: "v1 v2 v3"},
			{op: "ok", token: 4}, {op: "ok", token: 5}, {op: "ok", token: 6}, {op: "replies", want: "v4 v5 v6 v7"},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r ackRing
			next := 0
			for i, st := range c.steps {
				switch st.op {
				case "reserve":
					tok, ok := r.reserve([]byte(fmt.Sprint(next)))
					if !ok || tok != uint64(next) {
						t.Fatalf("step %d: reserve = %d, %v; want %d", i, tok, ok, next)
					}
					next++
				case "unreserve":
					r.unreserve(st.token)
					next--
				case "ok":
					r.complete(st.token, nil)
				case "fail":
					r.complete(st.token, errors.New("given up"))
				case "replies":
					out, n := r.appendReplies(nil)
					if got := replyIDs(t, string(out)); got != st.want {
						t.Fatalf("step %d: replies %q, want %q (%s)", i, got, st.want, out)
					}
					if n != len(strings.Fields(st.want)) {
						t.Fatalf("step %d: count %d", i, n)
					}
				}
			}
		})
	}
	t.Run("bounded", func(t *testing.T) {
		var r ackRing
		if r.free != nil || r.slots != nil {
			t.Fatal("an unused ring holds memory")
		}
		for i := range maxPendingAcks {
			if _, ok := r.reserve([]byte("1")); !ok {
				t.Fatalf("reserve %d refused", i)
			}
		}
		if !r.full() {
			t.Fatal("ring not full")
		}
		if _, ok := r.reserve([]byte("1")); ok {
			t.Fatal("reserve beyond maxPendingAcks accepted")
		}
		r.complete(0, nil)
		if _, n := r.appendReplies(nil); n != 1 || r.full() {
			t.Fatalf("after one reply: %d replies, full %v", n, r.full())
		}
		select {
		case <-r.free:
		default:
			t.Fatal("a freed slot did not wake the reader")
		}
	})
}

// replyIDs renders replies as "v<id>" (true) or "x<id>" (share not
// recorded), space-separated.
func replyIDs(t *testing.T, out string) string {
	t.Helper()
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var id string
		var verdict string
		switch {
		case strings.Contains(line, `"result":true,"error":null`):
			verdict = "v"
		case strings.Contains(line, `"result":false,"error":[20,"`+share.ErrNotRecorded.Message+`",null]`):
			verdict = "x"
		default:
			t.Fatalf("unexpected reply %s", line)
		}
		id = strings.TrimPrefix(line, `{"id":`)
		id = id[:strings.IndexByte(id, ',')]
		ids = append(ids, verdict+id)
	}
	return strings.Join(ids, " ")
}

// heldStore keeps shares without acknowledging them until release, like a
// store whose batch has not reached Redis yet.
type heldStore struct {
	mu   sync.Mutex
	held []share.Record
	all  int
}

func (h *heldStore) AddShare(r share.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held = append(h.held, r)
	h.all++
	return nil
}

func (h *heldStore) AddBlock(*share.BlockRecord) error { return nil }

// release acknowledges every held share with err and returns how many.
func (h *heldStore) release(err error) int {
	h.mu.Lock()
	rs := h.held
	h.held = nil
	h.mu.Unlock()
	for _, r := range rs {
		r.Ack.ShareRecorded(r.Token, err)
	}
	return len(rs)
}

func (h *heldStore) count() (held, all int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held), h.all
}

// startHeld starts a server at a difficulty every hash meets whose store is
// a heldStore, and a handshaken miner; it returns the submit params with
// the job id filled in.
func startHeld(t *testing.T) (*testEnv, *heldStore, *client, []string) {
	t.Helper()
	hs := &heldStore{}
	e := startServer(t, func(o *Options) {
		o.Difficulty = DifficultyOptions{Initial: 1e-12, Min: 1e-12, Max: 1e-12}
		o.Validator = share.NewValidator(share.ValidatorOptions{Store: hs, Blocks: &recordingSink{}, Node: 0x57,
			Now: func() time.Time { return time.Unix(vectorNTime+60, 0) }})
	})
	c := dial(t, e.srv)
	_, id := c.handshake(e.vec, "x")
	p := recordedParams(t, e.vec)
	p[1] = id
	return e, hs, c, p
}

// TestSubmitAnsweredWhenRecorded: an accepted share is answered only once
// the store reports it durable — a later request's reply overtakes it —
// with true, or with error 20 when the store gave it up; a rejected share
// is answered at once.
func TestSubmitAnsweredWhenRecorded(t *testing.T) {
	for _, c := range []struct {
		name    string
		err     error
		code    int
		message string
	}{
		{"recorded", nil, 0, ""},
		{"given up", errors.New("redisstore: batches not flushed"), 20, share.ErrNotRecorded.Message},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, hs, cl, p := startHeld(t)
			cl.send(vectorSubmit(5, p...))
			// A duplicate is rejected at once, ahead of the first
			// share's reply, and so is any other request.
			cl.send(vectorSubmit(6, p...))
			cl.expectError("6", 22)
			cl.send(`{"id":7,"method":"mining.extranonce.subscribe","params":[]}`)
			cl.expectResult("7", "true")
			waitFor(t, "the share in the store", func() bool { held, _ := hs.count(); return held == 1 })
			if n := hs.release(c.err); n != 1 {
				t.Fatalf("released %d shares", n)
			}
			if c.err == nil {
				cl.expectResult("5", "true")
				return
			}
			m := cl.expectError("5", c.code)
			if m.errorMessage() != c.message || string(m.fields["result"]) != "false" {
				t.Fatalf("reply %s", m.raw)
			}
		})
	}
}

// TestPipelinedSubmitsAcked: a proxy that pipelines more shares than a
// connection may have waiting (maxPendingAcks) gets every one answered
// true exactly once and in order. The store here acknowledges only full
// batches of maxPendingAcks shares (and the last, partial one), so the
// session must stop reading at the bound and resume when the replies free
// the ring, never refusing a share; a new job reaches the miner while
// shares wait.
func TestPipelinedSubmitsAcked(t *testing.T) {
	e, hs, cl, p := startHeld(t)
	const shares = 3*maxPendingAcks + 17
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	most := 0
	go func() { // the store's writer
		defer wg.Done()
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				held, all := hs.count()
				most = max(most, held)
				if held >= maxPendingAcks || (all == shares && held > 0) {
					hs.release(nil)
				}
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	var lines strings.Builder
	for i := range shares {
		p[4] = fmt.Sprintf("%08x", i)
		lines.WriteString(vectorSubmit(100+i, p...) + "\n")
	}
	go func() { _, _ = io.WriteString(cl.conn, lines.String()) }()
	// A notify published while shares wait for their record is sent at
	// once: Publish never waits on the store.
	e.srv.Publish(fakeWork{job: e.job, clean: false})
	next, notified := 100, false
	for next < 100+shares {
		m := cl.recv()
		if m.method() == "mining.notify" {
			notified = true
			continue
		}
		if got, want := string(m.fields["id"]), fmt.Sprint(next); got != want || string(m.fields["result"]) != "true" {
			t.Fatalf("reply %s, want id %s true", m.raw, want)
		}
		next++
	}
	if !notified {
		m := cl.recv()
		if m.method() != "mining.notify" {
			t.Fatalf("want the published notify, got %s", m.raw)
		}
	}
	close(stop)
	wg.Wait()
	stop = make(chan struct{})
	if _, all := hs.count(); all != shares || most != maxPendingAcks {
		t.Fatalf("store took %d shares, at most %d waiting; want %d, at most %d", all, most, shares, maxPendingAcks)
	}
}

// TestShutdownAnswersPendingShares: on graceful shutdown a share whose
// record arrives during the drain is still answered.
func TestShutdownAnswersPendingShares(t *testing.T) {
	e, hs, cl, p := startHeld(t)
	cl.send(vectorSubmit(5, p...))
	waitFor(t, "the share in the store", func() bool { held, _ := hs.count(); return held == 1 })
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioWait)
		defer cancel()
		done <- e.srv.Stop(ctx)
	}()
	cl.expectMethod("client.reconnect")
	hs.release(nil)
	cl.expectResult("5", "true")
	_ = cl.conn.Close()
	if err := <-done; err != nil {
		t.Fatalf("Stop: %v", err)
	}
}
