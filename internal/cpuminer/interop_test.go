package cpuminer

import (
	"context"
	"crypto/tls"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/stratum"
)

// countingStore is a share.Store that keeps what it is given in memory.
type countingStore struct {
	mu     sync.Mutex
	shares []share.Record
}

// AddShare keeps r and, as a store that is durable at once, acknowledges
// it before returning (the pool answers the miner only then).
func (s *countingStore) AddShare(r share.Record) error {
	s.mu.Lock()
	ack := r.Ack
	r.Ack = nil
	s.shares = append(s.shares, r)
	s.mu.Unlock()
	if ack != nil {
		ack.ShareRecorded(r.Token, nil)
	}
	return nil
}

func (s *countingStore) AddBlock(*share.BlockRecord) error { return nil }

func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.shares)
}

// discardBlocks is a share.BlockSink for a job whose network target no CPU
// reaches (the recorded testnet job).
type discardBlocks struct{}

func (discardBlocks) SubmitBlock(context.Context, *share.Solved) error { return nil }

// anyWorker authorizes every username.
type anyWorker struct{}

func (anyWorker) Authorize(name string) (*share.Worker, error) {
	account, rig, _ := strings.Cut(name, ".")
	return &share.Worker{Name: name, Account: account, Rig: rig}, nil
}

// staticWork publishes one job to every connection.
type staticWork struct{ job *share.Job }

func (w staticWork) JobFor(string) (*share.Job, error) { return w.job, nil }
func (w staticWork) Clean() bool                       { return true }
func (w staticWork) Height() int64                     { return 2442185 }

// startTarbela starts Tarbela's own Stratum server and validator on the
// recorded testnet job (no Redis or node: its network target no CPU
// reaches), with a TLS listener too when tc is not nil.
func startTarbela(t *testing.T, tc *tls.Config) (*stratum.Server, *countingStore) {
	t.Helper()
	v := loadVector(t)
	job, err := share.JobFromNotify(v.notifyParams(t, "1", 0x64b3f3ec, true), v.Extranonce2Size)
	if err != nil {
		t.Fatal(err)
	}
	store := &countingStore{}
	val := share.NewValidator(share.ValidatorOptions{
		Store: store, Blocks: discardBlocks{},
		Now: func() time.Time { return time.Unix(0x64b3f3ec+60, 0) },
	})
	o := stratum.Options{
		Listen:          "127.0.0.1:0",
		Extranonce2Size: v.Extranonce2Size,
		Validator:       val,
		Auth:            anyWorker{},
		Difficulty:      stratum.DifficultyOptions{Initial: 1e-5, Min: 1e-12, Max: 1e12},
		Log:             zaptest.NewLogger(t).Named("server"),
	}
	if tc != nil {
		o.TLSListen, o.TLSConfig = "127.0.0.1:0", tc
	}
	srv, err := stratum.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	srv.Publish(staticWork{job: job})
	return srv, store
}

// mineAll runs a miner with o until it has want shares accepted, and
// checks that the server rejected none and stored every one. It returns
// the miner's stats from before it stopped (still connected).
func mineAll(t *testing.T, o Options, store *countingStore, want uint64) Stats {
	t.Helper()
	m, stop := startMiner(t, o)
	waitFor(t, "accepted shares", func() bool {
		s := m.Stats()
		return s.Accepted >= want || s.Rejected > 0
	})
	running := m.Stats()
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := m.Stats()
	if st.Rejected != 0 {
		t.Errorf("server rejected %d shares (accepted %d)", st.Rejected, st.Accepted)
	}
	if n := store.count(); uint64(n) < st.Accepted {
		t.Errorf("store holds %d shares, miner saw %d accepted", n, st.Accepted)
	}
	return running
}

// TestMineAgainstTarbelaServer mines against Tarbela's own Stratum server
// and validator. Every share the miner sends must be accepted.
func TestMineAgainstTarbelaServer(t *testing.T) {
	srv, store := startTarbela(t, nil)
	st := mineAll(t, Options{URL: srv.Addr().String(), User: "tb1qminer.rig1", Threads: 2,
		VersionRolling: true, SuggestDifficulty: 1e-5}, store, 30)
	if mask := st.VersionMask; mask != 0x1fffe000 {
		t.Errorf("negotiated mask %08x, want 1fffe000", mask)
	}
}
