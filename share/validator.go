package share

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/hasher"
)

// Worker is an authorized miner identity on a connection.
type Worker struct {
	// Name is the full Stratum username, e.g. "bc1q….rig7".
	Name string
	// Account is the part before the first '.', the payout account.
	Account string
	// Rig is the part after the first '.', possibly empty.
	Rig string
	// Site is the energy site the worker's shares count for (see
	// internal/energy), resolved once when the connection authorizes it;
	// empty is the site "unassigned".
	Site string
}

// Record is one accepted share as the store keeps it.
type Record struct {
	// Node and Seq identify the share uniquely across the pool: Node is
	// the pool node id, Seq a per-process counter seeded from the clock at
	// start, so replays can be made idempotent.
	Node uint8
	Seq  uint64
	// Worker and Account credit the share.
	Worker  string
	Account string
	// Difficulty is the credited difficulty: the one in force when the job
	// was sent to the connection.
	Difficulty float64
	// ShareDifficulty is the difficulty the hash achieved.
	ShareDifficulty float64
	// Time is when the share was accepted.
	Time time.Time
	// Height and JobID name the job.
	Height int64
	JobID  string
	// Block says the share also met the network target.
	Block bool
	// NetDifficulty is the network difficulty of the share's job (its
	// target, share.Job.NetDifficulty), the D of a PPS share's worth d/D
	// and of the PPLNS window's N·D; 0 when unknown (a record journaled by
	// a release before it was kept).
	NetDifficulty float64
	// CoinbaseValue is the job's coinbase value in satoshis (subsidy and
	// fees), the value of a share under FPPS.
	CoinbaseValue int64
	// Site is the worker's energy site (Worker.Site); empty is
	// "unassigned".
	Site string

	// Ack, when set, is told once the share is durable (or was given up),
	// with Token: see Store. It is how the connection learns that it may
	// answer the miner "true". Stores never persist it.
	Ack   Acker
	Token uint64
}

// Acker is told when an accepted share has become durable, so that the
// share is acknowledged to the miner only then: after a crash of the pool,
// every share a miner saw accepted is in the store. The Stratum session
// implements it.
//
// ShareRecorded is called exactly once per share handed to Store.AddShare
// with a non-nil Ack (when AddShare returned nil): err nil once the share is
// in Redis or the fsynced journal, non-nil when the store gave it up (it was
// not recorded). It may be called from any goroutine, including from within
// AddShare itself, so it must not block nor take a lock that the caller of
// Validator.Submit holds.
type Acker interface {
	ShareRecorded(token uint64, err error)
}

// BlockStatus is the state of a found block.
type BlockStatus string

// Block states as the store records them.
const (
	BlockSubmitted BlockStatus = "submitted"
	BlockAccepted  BlockStatus = "accepted"
	BlockRejected  BlockStatus = "rejected"
)

// BlockRecord is a found block as the store keeps it.
type BlockRecord struct {
	Height int64
	// Hash is in display order (hex, as explorers show it).
	Hash   string
	Worker string
	// Account is the finder's payout account.
	Account string
	// Reward is the coinbase value in satoshis.
	Reward int64
	Status BlockStatus
	// Reason is the node's rejection reason, when rejected.
	Reason string
	Time   time.Time
	Node   uint8
	// CoinbaseTxID is the txid of the block's coinbase transaction in
	// display order (hex): the double SHA-256 of its non-witness
	// serialization. The payout job finds the block's outputs by it.
	CoinbaseTxID string
	// NetDifficulty is the block's network difficulty, the D of the PPLNS
	// window (N·D of work) frozen with it.
	NetDifficulty float64
	// Site is the finder's energy site (Worker.Site).
	Site string
}

// Store records accepted shares and found blocks. Implementations batch
// writes: AddShare and AddBlock must not wait on a network round trip. An
// error means the record could not be queued (backpressure, closed store).
//
// When AddShare returns nil and r.Ack is set, the store calls
// r.Ack.ShareRecorded(r.Token, err) exactly once, when the share's record is
// durable (err nil: it survives a crash of this process) or has been given
// up (err set). When AddShare returns an error it never calls r.Ack. A store
// that keeps nothing (a test fake) calls it at once.
type Store interface {
	AddShare(r Record) error
	AddBlock(b *BlockRecord) error
}

// Solved is a share that meets the network target, handed to a BlockSink.
type Solved struct {
	Job    *Job
	Header [80]byte
	Hash   [32]byte
	// Coinbase is the non-witness coinbase transaction (owned by Solved).
	Coinbase []byte
	Worker   string
}

// BlockSink assembles and submits solved blocks (package pool satisfies it).
// SubmitBlock returns nil only when the node confirmed it has the block.
type BlockSink interface {
	SubmitBlock(ctx context.Context, s *Solved) error
}

// Observer is told the outcome of every share and block, for metrics.
type Observer interface {
	ShareJudged(reason Reason, difficulty float64)
	BlockJudged(status BlockStatus)
}

// Validator judges shares and hands their consequences on: accepted shares to
// the Store, blocks to the BlockSink. It is safe for concurrent use; each
// connection passes its own Assignment and Result.
type Validator struct {
	store    Store
	sink     BlockSink
	observer Observer
	log      *zap.Logger
	node     uint8
	seq      atomic.Uint64
	now      func() time.Time
	// submitTimeout bounds one block submission.
	submitTimeout time.Duration

	// Block submissions run in goroutines that the Validator owns: mu
	// guards stopping, blocks counts those in flight, and stopCtx is
	// cancelled when Stop gives up waiting for them.
	mu       sync.Mutex
	stopping bool
	blocks   sync.WaitGroup
	stopCtx  context.Context
	cancel   context.CancelFunc
}

// ValidatorOptions configures a Validator. Store and Blocks are required.
type ValidatorOptions struct {
	Store    Store
	Blocks   BlockSink
	Observer Observer    // optional
	Log      *zap.Logger // optional; nop by default
	Node     uint8
	// Now is the clock (time.Now by default); tests set it.
	Now func() time.Time
}

// NewValidator returns a Validator.
func NewValidator(o ValidatorOptions) *Validator {
	v := &Validator{store: o.Store, sink: o.Blocks, observer: o.Observer, log: o.Log,
		node: o.Node, now: o.Now, submitTimeout: time.Minute}
	v.stopCtx, v.cancel = context.WithCancel(context.Background())
	if v.log == nil {
		v.log = zap.NewNop()
	}
	if v.now == nil {
		v.now = time.Now
	}
	v.seq.Store(uint64(time.Now().UnixNano()))
	return v
}

// Now returns the validator's clock reading.
func (v *Validator) Now() time.Time { return v.now() }

// ErrNotRecorded answers a valid share that the store could not take (its
// queue is full, or it is closed) or later gave up: the pool must not tell
// the miner "accepted" for a share that will not be paid. It is Stratum
// error 20 (reason "other"). The miner should not resubmit the same share:
// it would be a duplicate.
var ErrNotRecorded = &Reject{ReasonNotRecorded, "Share not recorded: the pool's share store is unavailable"}

// ErrShareLimit answers a valid share of a connection that already has
// MaxSeen shares accepted on this tip: its difficulty is far too low for
// its hashrate. It is Stratum error 20 and counts toward the flood rule.
var ErrShareLimit = &Reject{ReasonShareLimit, "Too many shares on this block for one connection: raise the difficulty"}

// Submit judges one share for an assignment and, when it is accepted,
// hands it to the store and submits a block if it solves one. res is the
// caller's scratch space (one per connection).
//
// A nil return means the share is valid and queued: when ack is non-nil,
// the caller acknowledges the share to the miner only once
// ack.ShareRecorded(token, err) reports it durable (see Acker; the call may
// come before Submit returns). A non-nil ack is the pool's rule; nil hands
// the share on without waiting for its record (tools and tests only).
// ErrNotRecorded is returned when the store refused the share at once.
func (v *Validator) Submit(w *Worker, a *Assignment, sub *Submission, mask uint32, res *Result, ack Acker, token uint64) *Reject {
	now := v.now()
	rej := a.Job.Check(sub, mask, a.Target, now, res)
	if rej == nil {
		switch dup, full := a.Seen.Mark(&res.Hash); {
		case dup:
			rej = ErrDuplicate
		case full:
			rej = ErrShareLimit
		}
	}
	if rej != nil {
		v.Rejected(rej.Reason)
		return rej
	}
	rec := Record{
		Node: v.node, Seq: v.seq.Add(1), Worker: w.Name, Account: w.Account,
		Difficulty: a.Difficulty, ShareDifficulty: res.Difficulty, Time: now,
		Height: a.Job.Height, JobID: a.Job.ID, Block: res.Block,
		NetDifficulty: a.Job.NetDifficulty(), CoinbaseValue: a.Job.CoinbaseValue, Site: w.Site, Ack: ack, Token: token,
	}
	err := v.store.AddShare(rec)
	if res.Block {
		// After the share, so the round the block closes includes the share
		// that found it; and even when the store refused the share, since
		// the block is worth submitting regardless.
		v.solved(w, a.Job, res, now)
	}
	if err != nil {
		// Backpressure or a closed store: an event of the pool's own
		// making, worth a warning, but one per share can flood the log
		// while Redis is down, so it is at debug level and counted by
		// the store's observer.
		if ce := v.log.Check(zap.DebugLevel, "share not queued for the store"); ce != nil {
			ce.Write(zap.String("worker", w.Name), zap.Error(err))
		}
		v.Rejected(ErrNotRecorded.Reason)
		return ErrNotRecorded
	}
	if v.observer != nil {
		v.observer.ShareJudged(ReasonNone, a.Difficulty)
	}
	return nil
}

// RejectStore is a Store that also counts rejected shares per energy
// site, aggregated per batch (no write per reject). The Redis store
// satisfies it.
type RejectStore interface {
	AddReject(site string, at time.Time)
}

// SiteRejected counts one rejected share of a worker of site with the
// store, when the store counts rejects (RejectStore). Connections call it
// for every rejected mining.submit, whoever decided the rejection.
func (v *Validator) SiteRejected(site string) {
	if rs, ok := v.store.(RejectStore); ok {
		rs.AddReject(site, v.now())
	}
}

// Rejected counts a rejection decided outside Submit (for example an unknown
// job id or an unauthorized worker, which the connection layer detects).
func (v *Validator) Rejected(r Reason) {
	if v.observer != nil {
		v.observer.ShareJudged(r, 0)
	}
}

// solved hands a block to the sink in the background and records the
// outcome; blocks are rare and the connection must not wait for the node.
func (v *Validator) solved(w *Worker, job *Job, res *Result, now time.Time) {
	s := &Solved{Job: job, Header: res.Header, Hash: res.Hash,
		Coinbase: append([]byte(nil), res.Coinbase...), Worker: w.Name}
	txid := hasher.DoubleSHA256(s.Coinbase)
	rec := &BlockRecord{Height: job.Height, Hash: DisplayHex(&res.Hash), Worker: w.Name,
		Account: w.Account, Reward: job.CoinbaseValue, Status: BlockSubmitted, Time: now, Node: v.node,
		CoinbaseTxID: DisplayHex(&txid), NetDifficulty: job.NetDifficulty(), Site: w.Site}
	v.log.Info("block found", zap.Int64("height", job.Height), zap.String("hash", rec.Hash), zap.String("worker", w.Name))
	if v.observer != nil {
		v.observer.BlockJudged(BlockSubmitted)
	}
	// Record the block at once, so the round closes at the share that
	// found it rather than when the node has answered; the final status
	// follows.
	found := *rec
	if err := v.store.AddBlock(&found); err != nil {
		v.log.Error("block not recorded", zap.String("hash", rec.Hash), zap.Error(err))
	}
	v.mu.Lock()
	if v.stopping {
		// The connections are meant to be gone by now (the daemon stops
		// the server first); a block that still arrives is submitted on
		// this goroutine rather than dropped.
		v.mu.Unlock()
		v.submit(context.Background(), s, rec)
		return
	}
	v.blocks.Add(1)
	v.mu.Unlock()
	go func() {
		defer v.blocks.Done()
		v.submit(v.stopCtx, s, rec)
	}()
}

// submit hands a solved block to the sink and records the node's verdict.
// When parent ends first (Stop cut the submission short), the verdict is
// unknown: the block keeps its status "submitted" in the store, which the
// unlocker settles by asking the node.
func (v *Validator) submit(parent context.Context, s *Solved, rec *BlockRecord) {
	ctx, cancel := context.WithTimeout(parent, v.submitTimeout)
	defer cancel()
	err := v.sink.SubmitBlock(ctx, s)
	switch {
	case err != nil && parent.Err() != nil:
		v.log.Warn("block submission cut short by shutdown; its status stays submitted until the node is asked",
			zap.Int64("height", rec.Height), zap.String("hash", rec.Hash), zap.Error(err))
		return
	case err != nil:
		rec.Status, rec.Reason = BlockRejected, err.Error()
		v.log.Warn("block rejected", zap.Int64("height", rec.Height), zap.String("hash", rec.Hash), zap.Error(err))
	default:
		rec.Status = BlockAccepted
		v.log.Info("block accepted", zap.Int64("height", rec.Height), zap.String("hash", rec.Hash))
	}
	if v.observer != nil {
		v.observer.BlockJudged(rec.Status)
	}
	if err := v.store.AddBlock(rec); err != nil {
		v.log.Error("block not recorded", zap.String("hash", rec.Hash), zap.Error(err))
	}
}

// Stop waits for the block submissions in flight and their records in the
// store, so that the store is closed only after them. When ctx ends first
// it cancels them and waits for their goroutines to return (a cancelled
// RPC returns at once); those blocks keep the status "submitted". Call it
// after the connections are gone and before the store and the node client
// stop. Safe to call twice.
func (v *Validator) Stop(ctx context.Context) error {
	v.mu.Lock()
	v.stopping = true
	v.mu.Unlock()
	done := make(chan struct{})
	go func() {
		v.blocks.Wait()
		close(done)
	}()
	select {
	case <-done:
		v.cancel()
		return nil
	case <-ctx.Done():
		v.cancel()
		<-done
		return fmt.Errorf("block submissions cut short: %w", ctx.Err())
	}
}

// DisplayHex returns a hash in display order (byte-reversed) as hex.
func DisplayHex(h *[32]byte) string {
	const digits = "0123456789abcdef"
	var b [64]byte
	for i := range 32 {
		c := h[31-i]
		b[2*i], b[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(b[:])
}
