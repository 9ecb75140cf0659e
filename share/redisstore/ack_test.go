package redisstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// ackLog records ShareRecorded calls by token and counts repeated ones.
type ackLog struct {
	mu    sync.Mutex
	calls map[uint64]error
	dup   int
	ch    chan struct{}
}

func newAckLog() *ackLog { return &ackLog{calls: map[uint64]error{}, ch: make(chan struct{}, 1)} }

func (a *ackLog) ShareRecorded(token uint64, err error) {
	a.mu.Lock()
	if _, ok := a.calls[token]; ok {
		a.dup++
	}
	a.calls[token] = err
	a.mu.Unlock()
	select {
	case a.ch <- struct{}{}:
	default:
	}
}

func (a *ackLog) snapshot() (map[uint64]error, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[uint64]error, len(a.calls))
	for k, v := range a.calls {
		out[k] = v
	}
	return out, a.dup
}

// waitAcks waits until n acknowledgements arrived (ioWait-style hang
// guard, not a speed assertion).
func (a *ackLog) waitAcks(t *testing.T, n int) map[uint64]error {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		calls, dup := a.snapshot()
		if dup > 0 {
			t.Fatalf("%d shares acknowledged twice", dup)
		}
		if len(calls) >= n {
			return calls
		}
		select {
		case <-a.ch:
		case <-deadline:
			t.Fatalf("%d of %d shares acknowledged", len(calls), n)
		}
	}
}

// TestAckWhenDurable: a share handed to AddShare with an Acker is
// acknowledged exactly once, and only when it is durable: in Redis (the
// count read right after each acknowledgement covers it), or in the
// journal while Redis is frozen; without a journal, a batch that Stop
// gives up is acknowledged with ErrUnflushed.
func TestAckWhenDurable(t *testing.T) {
	for _, c := range []struct {
		name    string
		journal bool
		freeze  bool
		wantErr error
	}{
		{"redis up", false, false, nil},
		{"redis frozen, journal", true, true, nil},
		{"redis frozen, no journal, given up at close", false, true, redisstore.ErrUnflushed},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := startRedis(t)
			cl := client(t, r)
			o := redisstore.Options{BatchSize: 16, BatchInterval: 5 * time.Millisecond,
				Timeout: 200 * time.Millisecond, RetryInterval: 20 * time.Millisecond, StopTimeout: time.Second}
			var journal string
			if c.journal {
				journal = filepath.Join(t.TempDir(), "journal")
				o.JournalPath = journal
			}
			s := newStore(t, r, o)
			if c.freeze {
				if err := r.Freeze(); err != nil {
					t.Fatalf("Freeze: %v", err)
				}
				defer func() { _ = r.Thaw() }()
			}
			acks := newAckLog()
			const n = 100
			for i := range n {
				rc := rec(uint64(i+1), "acct", "rig", 1)
				rc.Ack, rc.Token = acks, uint64(1000+i)
				if err := s.AddShare(rc); err != nil {
					t.Fatalf("AddShare: %v", err)
				}
				if !c.freeze && i%10 == 9 {
					// Every acknowledged share is in Redis already.
					calls, _ := acks.snapshot()
					if got := stats(t, cl, "tarbela").TotalShares; got < int64(len(calls)) {
						t.Fatalf("%d shares acknowledged, Redis holds %d", len(calls), got)
					}
				}
			}
			if c.wantErr != nil {
				// Nothing can be durable: no acknowledgement before
				// Stop gives the batches up.
				time.Sleep(100 * time.Millisecond)
				if calls, _ := acks.snapshot(); len(calls) != 0 {
					t.Fatalf("%d shares acknowledged while redis is frozen without a journal", len(calls))
				}
				if err := s.Stop(context.Background()); !errors.Is(err, redisstore.ErrUnflushed) {
					t.Fatalf("Stop = %v, want ErrUnflushed", err)
				}
			}
			calls := acks.waitAcks(t, n)
			for i := range n {
				err, ok := calls[uint64(1000+i)]
				if !ok {
					t.Fatalf("share %d not acknowledged", i)
				}
				if !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) {
					t.Fatalf("share %d acknowledged with %v, want %v", i, err, c.wantErr)
				}
			}
			if c.journal {
				rep, err := redisstore.ScanJournal(journal)
				if err != nil || rep.Shares != n {
					t.Fatalf("journal holds %d shares (%v), want all %d acknowledged ones", rep.Shares, err, n)
				}
			}
			if !c.freeze {
				if got := stats(t, cl, "tarbela").TotalShares; got != n {
					t.Fatalf("Redis holds %d shares, want %d", got, n)
				}
			}
		})
	}
}

var _ share.Acker = (*ackLog)(nil)
