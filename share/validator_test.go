package share

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/internal/vectors"
)

// memStore is an in-memory Store for validator tests (the Redis store has
// its own suite against a real redis-server).
type memStore struct {
	mu     sync.Mutex
	shares []Record
	blocks []BlockRecord
	done   chan struct{}
	// refuse, when set, is returned by AddShare.
	refuse error
	// order records "share" and "block" in the order they arrived.
	order []string
}

// AddShare keeps r and, as a store that is durable at once, acknowledges it
// before returning.
func (m *memStore) AddShare(r Record) error {
	m.mu.Lock()
	if m.refuse != nil {
		m.mu.Unlock()
		return m.refuse
	}
	m.shares = append(m.shares, r)
	m.order = append(m.order, "share")
	m.mu.Unlock()
	if r.Ack != nil {
		r.Ack.ShareRecorded(r.Token, nil)
	}
	return nil
}

func (m *memStore) AddBlock(b *BlockRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blocks = append(m.blocks, *b)
	m.order = append(m.order, "block")
	if m.done != nil && b.Status != BlockSubmitted {
		close(m.done)
	}
	return nil
}

type sink struct {
	err    error
	solved chan *Solved
}

func (s *sink) SubmitBlock(_ context.Context, sv *Solved) error {
	s.solved <- sv
	return s.err
}

// recordedJob returns the recorded session's job and its accepted share.
func recordedJob(t *testing.T) (*Job, Submission, time.Time) {
	v := vectors.Load(t)[vectors.RecordedSession]
	job, err := JobFromNotify(v.Inputs["notify_params"], 4)
	if err != nil {
		t.Fatal(err)
	}
	p := vectors.SubmitParams(t, vectors.Str(t, v.Inputs, "submit_request"))
	var sub Submission
	if rej := ParseSubmit(&sub, vectors.Unhex(t, "57a6f098"), p[2], p[3], p[4], p[5], 4); rej != nil {
		t.Fatal(rej)
	}
	return job, sub, time.Unix(int64(sub.NTime)+30, 0)
}

func TestValidatorSubmit(t *testing.T) {
	job, good, now := recordedJob(t)
	store := &memStore{}
	v := NewValidator(ValidatorOptions{Store: store, Blocks: &sink{solved: make(chan *Solved, 1)}, Node: 7, Now: func() time.Time { return now }})
	w := &Worker{Name: "tb1qumezefzdeqqwn5zfvgdrhxjzc5ylr39uhuxcz4.bitaxe3", Account: "tb1qumezefzdeqqwn5zfvgdrhxjzc5ylr39uhuxcz4", Rig: "bitaxe3"}
	a, err := NewAssignment(job, 512)
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	mask := uint32(0x1fffe000)

	mod := func(f func(s *Submission)) *Submission {
		s := good
		s.Extranonce2 = append([]byte(nil), good.Extranonce2...)
		f(&s)
		return &s
	}
	for _, c := range []struct {
		name string
		sub  *Submission
		want Reason
	}{
		{"accepted", &good, ReasonNone},
		{"duplicate", &good, ReasonDuplicate},
		{"other nonce is low difficulty", mod(func(s *Submission) { s.Nonce++ }), ReasonLowDifficulty},
		{"short extranonce2", mod(func(s *Submission) { s.Extranonce2 = s.Extranonce2[:3] }), ReasonBadExtranonce2},
		{"ntime before mintime", mod(func(s *Submission) { s.NTime = job.MinTime - 1 }), ReasonNTimeRange},
		{"ntime over two hours ahead", mod(func(s *Submission) { s.NTime = uint32(now.Add(2*time.Hour).Unix()) + 1 }), ReasonNTimeRange},
		{"version bits outside mask", mod(func(s *Submission) { s.VersionBits = 1 }), ReasonVersionMask},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "ntime before mintime" {
				j, _, _ := recordedJob(t)
				j.MinTime = good.NTime
				a.Job = j
				defer func() { a.Job = job }()
			}
			rej := v.Submit(w, a, c.sub, mask, &res, nil, 0)
			got := ReasonNone
			if rej != nil {
				got = rej.Reason
			}
			if got != c.want {
				t.Fatalf("got %v (%v), want %v", got, rej, c.want)
			}
		})
	}
	if len(store.shares) != 1 {
		t.Fatalf("store has %d shares, want 1", len(store.shares))
	}
	r := store.shares[0]
	if r.Worker != w.Name || r.Account != w.Account || r.Difficulty != 512 || r.Node != 7 || r.Height != job.Height || r.Block {
		t.Errorf("record %+v", r)
	}
	// The job's network difficulty and coinbase value ride with the share
	// (PPS/FPPS and the PPLNS window need them).
	if want := job.NetTarget.Difficulty(); r.NetDifficulty != want || want <= 1 {
		t.Errorf("record NetDifficulty %v, want the job's %v", r.NetDifficulty, want)
	}
	if r.CoinbaseValue != job.CoinbaseValue {
		t.Errorf("record CoinbaseValue %d, want the job's %d", r.CoinbaseValue, job.CoinbaseValue)
	}
}

// TestJobNetDifficulty: the network difficulty of a job is diff1 over the
// target of its nbits (known values of real blocks).
func TestJobNetDifficulty(t *testing.T) {
	for _, c := range []struct {
		bits uint32
		want float64
	}{
		{0x1d00ffff, 1},                      // genesis
		{0x1b04864c, 14484.162361225399},     // mainnet block 100000
		{0x207fffff, 4.6565423739069247e-10}, // regtest
	} {
		tg, err := TargetFromBits(c.bits)
		if err != nil {
			t.Fatal(err)
		}
		j := &Job{Bits: c.bits, NetTarget: tg}
		if got := j.NetDifficulty(); math.Abs(got/c.want-1) > 1e-15 || j.NetDifficulty() != got {
			t.Errorf("bits %08x: NetDifficulty %v, want %v", c.bits, got, c.want)
		}
	}
}

// acks records ShareRecorded calls.
type acks struct {
	mu    sync.Mutex
	calls []ackCall
}

type ackCall struct {
	token uint64
	err   error
}

func (a *acks) ShareRecorded(token uint64, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, ackCall{token, err})
}

// reasons counts ShareJudged calls by reason.
type reasons map[Reason]int

func (r reasons) ShareJudged(x Reason, _ float64) { r[x]++ }
func (reasons) BlockJudged(BlockStatus)           {}

// TestValidatorAck: an accepted share carries the caller's acker and token
// to the store, which acknowledges it; a share the store refuses is
// answered ErrNotRecorded, counted as rejected and never acknowledged.
func TestValidatorAck(t *testing.T) {
	for _, c := range []struct {
		name     string
		refuse   error
		want     *Reject
		wantAcks int
	}{
		{"store takes the share", nil, nil, 1},
		{"store queue full", errors.New("queue full"), ErrNotRecorded, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			job, sub, now := recordedJob(t)
			store := &memStore{refuse: c.refuse}
			obs := reasons{}
			v := NewValidator(ValidatorOptions{Store: store, Blocks: &sink{solved: make(chan *Solved, 1)},
				Observer: obs, Now: func() time.Time { return now }})
			a, _ := NewAssignment(job, 512)
			var res Result
			ack := &acks{}
			rej := v.Submit(&Worker{Name: "w.1", Account: "w"}, a, &sub, 0x1fffe000, &res, ack, 41)
			if rej != c.want {
				t.Fatalf("Submit = %v, want %v", rej, c.want)
			}
			if len(ack.calls) != c.wantAcks {
				t.Fatalf("%d acks, want %d", len(ack.calls), c.wantAcks)
			}
			if c.wantAcks > 0 && (ack.calls[0].token != 41 || ack.calls[0].err != nil) {
				t.Errorf("ack %+v, want token 41 without error", ack.calls[0])
			}
			if c.want != nil {
				if c.want.Code() != 20 || obs[ReasonNotRecorded] != 1 || obs[ReasonNone] != 0 || !c.want.Reason.PoolFault() {
					t.Errorf("code %d, observed %v: want code 20 counted as not-recorded, the pool's fault", c.want.Code(), obs)
				}
			} else if obs[ReasonNone] != 1 {
				t.Errorf("observed %v, want one accepted", obs)
			}
		})
	}
}

func TestValidatorBlock(t *testing.T) {
	for _, c := range []struct {
		name   string
		err    error
		status BlockStatus
	}{
		{"accepted", nil, BlockAccepted},
		{"rejected", errors.New("rejected: bad-txns"), BlockRejected},
	} {
		t.Run(c.name, func(t *testing.T) {
			j, sub, now := recordedJob(t)
			// A synthetic network target the recorded share meets, so the
			// share is also a block.
			j.NetTarget, _ = TargetFromDifficulty(600)
			j.CoinbaseValue = 312_500_000
			store := &memStore{done: make(chan struct{})}
			sk := &sink{err: c.err, solved: make(chan *Solved, 1)}
			v := NewValidator(ValidatorOptions{Store: store, Blocks: sk, Now: func() time.Time { return now }})
			a, _ := NewAssignment(j, 512)
			var res Result
			if rej := v.Submit(&Worker{Name: "w"}, a, &sub, 0x1fffe000, &res, nil, 0); rej != nil {
				t.Fatal(rej)
			}
			s := <-sk.solved
			if s.Hash != res.Hash || string(s.Coinbase) != string(res.Coinbase) {
				t.Error("solved block differs from the share")
			}
			<-store.done
			store.mu.Lock()
			defer store.mu.Unlock()
			// The block is recorded when found, then with the node's verdict.
			if len(store.blocks) != 2 || store.blocks[0].Status != BlockSubmitted || store.blocks[1].Status != c.status ||
				store.blocks[1].Hash != DisplayHex(&res.Hash) || store.blocks[0].Hash != store.blocks[1].Hash {
				t.Errorf("blocks %+v, want submitted then %s", store.blocks, c.status)
			}
			if len(store.shares) != 1 || !store.shares[0].Block {
				t.Errorf("shares %+v, want one block share", store.shares)
			}
			// The coinbase txid is the recorded block's (the session's
			// coinbase, in display order), and the network difficulty the
			// job's, in both records of the block.
			wantTxID := vectors.Str(t, vectors.Load(t)[vectors.RecordedSession].Expected, "coinbase_txid")
			for _, b := range store.blocks {
				if b.CoinbaseTxID != wantTxID || math.Abs(b.NetDifficulty/600-1) > 1e-12 || b.Reward != 312_500_000 {
					t.Errorf("block %s: coinbase txid %s, net difficulty %v, reward %d; want %s, 600, 312500000",
						b.Status, b.CoinbaseTxID, b.NetDifficulty, b.Reward, wantTxID)
				}
			}
			// The finding share reaches the store before the block, so the
			// round the block closes includes it.
			if len(store.order) == 0 || store.order[0] != "share" {
				t.Errorf("store saw %v, want the share first", store.order)
			}
		})
	}
}

func TestParseSubmitErrors(t *testing.T) {
	for _, c := range []struct {
		name                     string
		en2, ntime, nonce, vbits string
		want                     Reason
	}{
		{"ok", "c7080000", "64b3f3ec", "ed460d91", "00002000", ReasonNone},
		{"ok without version", "c7080000", "64b3f3ec", "ed460d91", "", ReasonNone},
		{"odd extranonce2", "c708000", "64b3f3ec", "ed460d91", "", ReasonBadExtranonce2},
		{"non-hex extranonce2", "zz080000", "64b3f3ec", "ed460d91", "", ReasonBadExtranonce2},
		{"short ntime", "c7080000", "64b3f3e", "ed460d91", "", ReasonBadNTime},
		{"non-hex nonce", "c7080000", "64b3f3ec", "ed460d9g", "", ReasonBadNonce},
		{"long version", "c7080000", "64b3f3ec", "ed460d91", "000020000", ReasonBadVersion},
	} {
		t.Run(c.name, func(t *testing.T) {
			var sub Submission
			rej := ParseSubmit(&sub, []byte{1, 2, 3, 4}, c.en2, c.ntime, c.nonce, c.vbits, 4)
			got := ReasonNone
			if rej != nil {
				got = rej.Reason
				if rej.Code() != 20 || rej.Message == "" {
					t.Errorf("reject %+v: want code 20 with a message", rej)
				}
			}
			if got != c.want {
				t.Fatalf("got %v (%v), want %v", got, rej, c.want)
			}
		})
	}
}

func TestJobFromNotifyErrors(t *testing.T) {
	for _, c := range []struct{ name, params string }{
		{"not an array", `{}`},
		{"too short", `["1"]`},
		{"bad prevhash", `["1","zz","","",[],"20000000","192495f8","64b3f3ec",false]`},
		{"bad branch", `["1","171592f223740e92d223f6e68bff25279af7ac4f2246451e0000000200000000","","",["00"],"20000000","192495f8","64b3f3ec",false]`},
		{"wrong type", `["1","171592f223740e92d223f6e68bff25279af7ac4f2246451e0000000200000000","","",[],20000000,"192495f8","64b3f3ec",false]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := JobFromNotify(json.RawMessage(c.params), 4); err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestSeen: the duplicate memory of one extranonce1. An idle memory holds no
// table and a rejected share does not make one; a share is a duplicate under
// any assignment that shares the memory: the same job resent at another
// difficulty (a new session job id), a refreshed job with the same content,
// a resumed connection that took the memory over. A clean job on the same
// tip keeps the memory; a new tip drops it. Past MaxSeen, new shares are
// refused (ErrShareLimit) while duplicates stay duplicates.
func TestSeen(t *testing.T) {
	job, good, now := recordedJob(t)
	v := NewValidator(ValidatorOptions{Store: &memStore{}, Blocks: &sink{solved: make(chan *Solved, 1)}, Now: func() time.Time { return now }})
	w := &Worker{Name: "w"}
	a, err := NewAssignment(job, 512)
	if err != nil {
		t.Fatal(err)
	}
	seen := a.Seen
	seen.NewTip(&job.PrevHash)
	refreshed, _, _ := recordedJob(t) // same content, another *Job
	other := func(j *Job, d float64) *Assignment {
		b, err := NewAssignment(j, d)
		if err != nil {
			t.Fatal(err)
		}
		b.Seen = seen
		return b
	}
	newTip := job.PrevHash
	newTip[0] ^= 1
	var res Result
	steps := []struct {
		name     string
		a        *Assignment
		nonce    uint32
		before   func()
		want     *Reject
		wantSeen int
	}{
		{"low difficulty share", a, good.Nonce + 1, nil, ErrLowDifficulty, 0},
		{"accepted share", a, good.Nonce, nil, nil, 1},
		{"its duplicate", a, good.Nonce, nil, ErrDuplicate, 1},
		{"same job resent at another difficulty", other(job, 256), good.Nonce, nil, ErrDuplicate, 1},
		{"refreshed job with the same content", other(refreshed, 512), good.Nonce, nil, ErrDuplicate, 1},
		{"clean job on the same tip", a, good.Nonce, func() { seen.NewTip(&job.PrevHash) }, ErrDuplicate, 1},
		{"new tip", a, good.Nonce, func() { seen.NewTip(&newTip) }, nil, 1},
		{"full memory refuses a new share", a, good.Nonce, func() {
			seen.NewTip(&job.PrevHash)
			for i := range MaxSeen {
				var k [16]byte
				k[0], k[1], k[2], k[15] = byte(i), byte(i>>8), byte(i>>16), 0xee
				seen.seen[k] = struct{}{}
			}
		}, ErrShareLimit, MaxSeen},
	}
	if seen.seen != nil {
		t.Fatal("a new memory has a table")
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		sub := good
		sub.Nonce = st.nonce
		if rej := v.Submit(w, st.a, &sub, 0x1fffe000, &res, nil, 0); rej != st.want {
			t.Fatalf("%s: Submit = %v, want %v", st.name, rej, st.want)
		}
		if seen.Len() != st.wantSeen || (st.wantSeen == 0 && seen.seen != nil) {
			t.Fatalf("%s: memory holds %d, want %d entries", st.name, seen.Len(), st.wantSeen)
		}
	}
}

// heldSink is a BlockSink whose submissions wait until release is closed or
// their context ends; started is told of each.
type heldSink struct {
	started chan struct{}
	release chan struct{}
}

func (h *heldSink) SubmitBlock(ctx context.Context, _ *Solved) error {
	h.started <- struct{}{}
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestValidatorStopWaitsForBlocks: Stop returns only once the block
// submission in flight has ended and its verdict is in the store; when its
// context ends first, it cancels the submission, waits for the goroutine,
// and the block keeps the status "submitted" (the node is asked later).
func TestValidatorStopWaitsForBlocks(t *testing.T) {
	for _, c := range []struct {
		name     string
		deadline bool // Stop's context ends before the node answers
		want     []BlockStatus
	}{
		{"node answers", false, []BlockStatus{BlockSubmitted, BlockAccepted}},
		{"shutdown deadline first", true, []BlockStatus{BlockSubmitted}},
	} {
		t.Run(c.name, func(t *testing.T) {
			j, sub, now := recordedJob(t)
			j.NetTarget, _ = TargetFromDifficulty(600) // the share is a block
			store := &memStore{}
			sk := &heldSink{started: make(chan struct{}, 1), release: make(chan struct{})}
			v := NewValidator(ValidatorOptions{Store: store, Blocks: sk, Now: func() time.Time { return now }})
			a, _ := NewAssignment(j, 512)
			var res Result
			if rej := v.Submit(&Worker{Name: "w"}, a, &sub, 0x1fffe000, &res, nil, 0); rej != nil {
				t.Fatal(rej)
			}
			<-sk.started
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stopped := make(chan error, 1)
			go func() { stopped <- v.Stop(ctx) }()
			select {
			case err := <-stopped:
				t.Fatalf("Stop returned (%v) while the submission was in flight", err)
			case <-time.After(50 * time.Millisecond):
			}
			if c.deadline {
				cancel()
			} else {
				close(sk.release)
			}
			err := <-stopped
			if (err != nil) != c.deadline {
				t.Fatalf("Stop = %v", err)
			}
			store.mu.Lock()
			defer store.mu.Unlock()
			var got []BlockStatus
			for _, b := range store.blocks {
				got = append(got, b.Status)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("block records %v when Stop returned, want %v", got, c.want)
			}
			if err := v.Stop(context.Background()); err != nil {
				t.Fatalf("second Stop: %v", err)
			}
		})
	}
}
