package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/share"
)

// batch is the unit the store writes: shares in arrival order, then at most
// one block. Its stream id and seq make writing it idempotent.
type batch struct {
	// id is the stream: "<node>-<process start, base 36>".
	id     string
	seq    uint64
	shares []share.Record
	block  *share.BlockRecord
	// rejects are the rejected shares counted per site and hour while
	// the batch was open (AddReject).
	rejects []rejectCount
	// created is when the batch took its first record; the writer seals
	// it BatchInterval later at the latest.
	created time.Time
	sealed  time.Time
	// done is closed once the batch reached Redis or the journal (err nil)
	// or was given up (err set).
	done chan struct{}
	err  error
}

// Store is the Redis share store. Create it with New, then Start; AddShare,
// AddShareWait and AddBlock are safe for concurrent use.
type Store struct {
	*Reader
	o   Options
	k   keys
	rdb redis.UniversalClient
	log *zap.Logger
	// replicas caches what WaitAuto waits for (see waitReplicas).
	replicas replicaCount
	// stream names this process's batches; nextID numbers them from 1.
	stream string
	nextID atomic.Uint64

	// mu guards the intake: cur, ready, queued and the closing flags.
	mu      sync.Mutex
	cur     *batch
	ready   []*batch
	queued  int
	started bool
	closing bool
	wake    chan struct{}

	journal *journal

	recorded atomic.Uint64
	refused  atomic.Uint64
	// givenUp counts shares of batches that Stop gave up on.
	givenUp atomic.Uint64
	// rejectsDropped counts rejects AddReject dropped for backlog.
	rejectsDropped atomic.Uint64

	abort      chan struct{} // closed when Stop gives up waiting
	done       chan struct{} // closed when the writer has returned
	closingCh  chan struct{} // closed when Stop starts
	replayDone chan struct{} // closed when the replayer has returned
	closeOnce  sync.Once
	closeErr   error
}

// New returns a Store for o. It does not connect; Start does.
func New(o Options) (*Store, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Store{
		o: o, k: newKeys(o.Prefix), log: o.Log,
		stream: strconv.Itoa(int(o.Node)) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		wake:   make(chan struct{}, 1), abort: make(chan struct{}), done: make(chan struct{}),
		closingCh: make(chan struct{}), replayDone: make(chan struct{}),
	}
	if s.rdb, err = NewClient(o.connection()); err != nil {
		return nil, err
	}
	s.Reader = NewReader(s.rdb, o.Prefix, o.HashrateBucket)
	s.Reader.tiers = o.tiers()
	return s, nil
}

// Start opens the journal (replaying what a previous run left in it),
// loads the script when Redis answers and starts the writer. It does not
// fail when Redis is down: with a journal, batches go there until Redis
// returns; without one they wait in memory.
func (s *Store) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closing {
		return errors.New("redisstore: Start called twice or after Stop")
	}
	if s.o.JournalPath != "" {
		j, err := openJournal(s.o.JournalPath, s.log)
		if err != nil {
			return err
		}
		s.journal = j
		if r := j.report; r.Corrupt != nil {
			s.log.Error("journal tail is corrupt; the valid prefix will be replayed, the rest was set aside",
				zap.String("path", s.o.JournalPath), zap.Int64("offset", r.Corrupt.Offset),
				zap.String("reason", r.Corrupt.Reason), zap.String("saved_as", r.SavedAs))
		}
		if r := j.report; r.Shares > 0 || r.Blocks > 0 {
			s.log.Info("journal holds batches from a previous run; replaying",
				zap.Int("batches", r.Batches), zap.Int("shares", r.Shares), zap.Int("blocks", r.Blocks))
		}
		go s.replay()
	}
	if err := applyScript.Load(ctx, s.rdb).Err(); err != nil {
		s.redisError(fmt.Errorf("redisstore: load script: %w", err))
	} else if n, err := s.rdb.Unlink(ctx, s.k.legacyWindow()).Result(); err != nil {
		s.redisError(fmt.Errorf("redisstore: remove the legacy PPLNS share list: %w", err))
	} else if n > 0 {
		s.log.Info("removed the PPLNS share list of an earlier release; the window is kept in slices now",
			zap.String("key", s.k.legacyWindow()))
	}
	s.started = true
	go s.run()
	return nil
}

// AddShare queues r for Redis and returns at once. It returns ErrBacklog
// when QueueSize shares are already waiting, ErrInvalid for a record that
// cannot be stored, ErrClosed after Stop. When it returns nil and r.Ack is
// set, r.Ack.ShareRecorded(r.Token, err) is called once from the writer
// goroutine: err nil when the share's batch is in Redis or the fsynced
// journal, ErrUnflushed when Stop gave the batch up.
func (s *Store) AddShare(r share.Record) error {
	_, err := s.add(r)
	return err
}

// AddShareWait queues r like AddShare, then waits until its batch reached
// Redis or the journal: a share acknowledged to the miner after it returns
// nil survives a crash of this process. The wait is at most BatchInterval
// plus one Redis round trip (or one journal fsync) while things are healthy;
// ctx bounds it otherwise, and its expiry does not withdraw the share.
func (s *Store) AddShareWait(ctx context.Context, r share.Record) error {
	b, err := s.add(r)
	if err != nil {
		return err
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return fmt.Errorf("redisstore: waiting for the share's batch: %w", ctx.Err())
	}
}

func (s *Store) add(r share.Record) (*batch, error) {
	if err := check(&r); err != nil {
		s.refuse(err)
		return nil, err
	}
	s.mu.Lock()
	if !s.started || s.closing {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if s.queued >= s.o.QueueSize {
		s.mu.Unlock()
		s.refuse(ErrBacklog)
		return nil, ErrBacklog
	}
	b := s.cur
	if b == nil {
		b = s.newBatch()
		s.cur = b
		s.signal()
	}
	b.shares = append(b.shares, r)
	s.queued++
	if len(b.shares) >= s.o.BatchSize {
		s.sealLocked()
		s.signal()
	}
	s.mu.Unlock()
	return b, nil
}

// check refuses what the schema cannot hold or what would make the batch
// script fail for every share in the batch.
func check(r *share.Record) error {
	switch {
	case r.Worker == "" || r.Account == "":
		return fmt.Errorf("%w: empty worker or account", ErrInvalid)
	case strings.ContainsAny(r.Worker, "|\r\n") || strings.ContainsAny(r.Account, "|\r\n"):
		return fmt.Errorf("%w: name %q contains '|' or a line break", ErrInvalid, r.Worker)
	case math.IsNaN(r.Difficulty) || math.IsInf(r.Difficulty, 0) || r.Difficulty < 0:
		return fmt.Errorf("%w: difficulty %v", ErrInvalid, r.Difficulty)
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	// What only payout reads is kept as unknown (0) rather than refused:
	// the share itself is good.
	if !(r.NetDifficulty > 0) || math.IsInf(r.NetDifficulty, 0) {
		r.NetDifficulty = 0
	}
	if r.CoinbaseValue < 0 {
		r.CoinbaseValue = 0
	}
	return nil
}

// AddBlock queues b behind the shares already queued (so they count in the
// round it ends) and returns at once. Blocks are never refused for
// backlog. Recording a block whose status is not rejected freezes the
// current round under the block's hash, once per block hash; recording it
// later as rejected gives the round back.
func (s *Store) AddBlock(b *share.BlockRecord) error {
	_, err := s.addBlock(b)
	return err
}

// AddBlockWait is AddBlock that waits like AddShareWait.
func (s *Store) AddBlockWait(ctx context.Context, b *share.BlockRecord) error {
	bt, err := s.addBlock(b)
	if err != nil {
		return err
	}
	select {
	case <-bt.done:
		return bt.err
	case <-ctx.Done():
		return fmt.Errorf("redisstore: waiting for the block's batch: %w", ctx.Err())
	}
}

func (s *Store) addBlock(b *share.BlockRecord) (*batch, error) {
	if b == nil || b.Hash == "" || strings.ContainsAny(b.Hash, "{}:| \r\n") || b.Height < 0 {
		s.refuse(ErrInvalid)
		return nil, fmt.Errorf("%w: block record", ErrInvalid)
	}
	cp := *b
	if cp.Time.IsZero() {
		cp.Time = time.Now()
	}
	if cp.Status == "" {
		cp.Status = share.BlockSubmitted
	}
	if !(cp.NetDifficulty > 0) || math.IsInf(cp.NetDifficulty, 0) {
		cp.NetDifficulty = 0 // unknown: the block freezes every slice kept
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.closing {
		return nil, ErrClosed
	}
	bt := s.cur
	if bt == nil {
		bt = s.newBatch()
		s.cur = bt
	}
	bt.block = &cp
	s.sealLocked()
	s.signal()
	return bt, nil
}

// Flush seals the current batch and waits until everything queued before
// the call reached Redis or the journal, and the journal is drained into
// Redis. ctx bounds the wait.
func (s *Store) Flush(ctx context.Context) error {
	s.mu.Lock()
	if s.cur != nil {
		s.sealLocked()
		s.signal()
	}
	var last *batch
	if n := len(s.ready); n > 0 {
		last = s.ready[n-1]
	}
	s.mu.Unlock()
	if last != nil {
		select {
		case <-last.done:
		case <-ctx.Done():
			return fmt.Errorf("redisstore: flush: %w", ctx.Err())
		}
	}
	if s.journal == nil {
		return nil
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for s.journal.backlog() > 0 {
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("redisstore: flush: journal holds %d shares: %w", s.journal.backlog(), ctx.Err())
		}
	}
	return nil
}

// Stop stops the intake, waits for queued batches to reach Redis or the
// journal until ctx ends or StopTimeout has passed, whichever comes first,
// and closes the connection. Batches that reached neither are reported with
// ErrUnflushed. A journal that still holds batches keeps them for the next
// Start. Stop is safe to call twice, and on a store that never started.
func (s *Store) Stop(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		started := s.started
		s.closing = true
		if s.cur != nil {
			s.sealLocked()
		}
		s.signal()
		s.mu.Unlock()
		close(s.closingCh)
		if started {
			bound := time.NewTimer(s.o.StopTimeout)
			select {
			case <-s.done:
			case <-ctx.Done():
				close(s.abort)
				<-s.done
			case <-bound.C:
				close(s.abort)
				<-s.done
			}
			bound.Stop()
			if s.journal != nil {
				s.journal.close()
				<-s.replayDone
				if n := s.journal.backlog(); n > 0 {
					s.log.Warn("journal still holds shares; they are replayed at the next start",
						zap.String("path", s.o.JournalPath), zap.Int("shares", n))
				}
				if err := s.journal.closeFile(); err != nil {
					s.closeErr = err
				}
			}
		}
		s.mu.Lock()
		lost := uint64(s.queued) + s.givenUp.Load()
		s.mu.Unlock()
		if lost > 0 {
			s.closeErr = fmt.Errorf("%w: %d shares reached neither Redis nor the journal", ErrUnflushed, lost)
			s.log.Error("shares lost at close", zap.Uint64("shares", lost))
		}
		if err := s.rdb.Close(); err != nil && s.closeErr == nil && started {
			s.closeErr = fmt.Errorf("redisstore: close redis client: %w", err)
		}
	})
	return s.closeErr
}

// JournalReport returns what Start found in the journal (zero without one).
func (s *Store) JournalReport() JournalReport {
	if s.journal == nil {
		return JournalReport{}
	}
	return s.journal.report
}

// SharesRecorded returns how many shares this process has confirmed in
// Redis (directly or by journal replay).
func (s *Store) SharesRecorded() uint64 { return s.recorded.Load() }

// SharesRefused returns how many shares AddShare refused (ErrBacklog,
// ErrInvalid).
func (s *Store) SharesRefused() uint64 { return s.refused.Load() }

// Backlog returns the shares waiting in memory and in the journal.
func (s *Store) Backlog() (queued, journaled int) {
	s.mu.Lock()
	queued = s.queued
	s.mu.Unlock()
	if s.journal != nil {
		journaled = s.journal.backlog()
	}
	return queued, journaled
}

// Client returns the store's Redis client, for readers that share its
// connection settings (the ledger metrics, the API, the admin CLI, tests):
// a *redis.Client for one server or Sentinel, a *redis.ClusterClient for a
// Cluster.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

func (s *Store) newBatch() *batch {
	return &batch{id: s.stream, seq: s.nextID.Add(1), shares: make([]share.Record, 0, s.o.BatchSize), created: time.Now(), done: make(chan struct{})}
}

// sealLocked moves the current batch to the ready queue. s.mu is held.
func (s *Store) sealLocked() {
	s.cur.sealed = time.Now()
	s.ready = append(s.ready, s.cur)
	s.cur = nil
}

// signal wakes the writer without blocking.
func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Store) refuse(err error) {
	s.refused.Add(1)
	if s.o.Observer != nil {
		s.o.Observer.Refused(err)
	}
}

func (s *Store) redisError(err error) {
	s.log.Warn("redis write failed", zap.Error(err))
	if s.o.Observer != nil {
		s.o.Observer.RedisError(err)
	}
}

// run is the writer: it takes sealed batches in order and delivers them.
func (s *Store) run() {
	defer close(s.done)
	enc := newEncoder(s.k, &s.o)
	for {
		bs := s.next()
		if bs == nil {
			return
		}
		s.deliver(enc, bs)
		for _, b := range bs {
			if b.err != nil {
				s.givenUp.Add(uint64(len(b.shares)))
			}
		}
		s.mu.Lock()
		for _, b := range bs {
			s.queued -= len(b.shares)
		}
		s.ready = s.ready[len(bs):]
		s.mu.Unlock()
		for _, b := range bs {
			close(b.done)
			ackBatch(b)
		}
	}
}

// ackBatch tells each share's Acker that its batch is durable, or was given
// up (b.err). It runs on the writer goroutine with no lock held; Ackers
// must not block (share.Acker).
func ackBatch(b *batch) {
	for i := range b.shares {
		r := &b.shares[i]
		if r.Ack != nil {
			r.Ack.ShareRecorded(r.Token, b.err)
			r.Ack = nil
		}
	}
}

// maxGroup is how many queued batches the writer takes at once: they are
// journaled with one fsync, or sent to Redis one after the other.
const maxGroup = 8

// next waits for sealed batches and returns up to maxGroup of them (still
// at the head of s.ready), or nil when the store is closing and empty.
func (s *Store) next() []*batch {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		s.mu.Lock()
		if len(s.ready) == 0 && s.cur != nil && (s.closing || time.Since(s.cur.created) >= s.o.BatchInterval) {
			s.sealLocked()
		}
		if n := len(s.ready); n > 0 {
			n = min(n, maxGroup)
			bs := s.ready[:n:n]
			s.mu.Unlock()
			return bs
		}
		if s.closing {
			s.mu.Unlock()
			return nil
		}
		var wait <-chan time.Time
		if s.cur != nil {
			d := s.o.BatchInterval - time.Since(s.cur.created)
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			wait = timer.C
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-wait:
		}
	}
}

// deliver writes bs to Redis, or to the journal when Redis fails or the
// journal is not yet drained, and sets each batch's err. Without a journal
// it retries until Redis answers or Stop gives up.
func (s *Store) deliver(enc *encoder, bs []*batch) {
	for len(bs) > 0 {
		if s.journal != nil && s.journal.appendIfBacklogged(bs) {
			s.journaled(bs)
			return
		}
		n, err := s.write(context.Background(), enc, bs)
		bs = bs[n:]
		if err == nil {
			continue
		}
		s.redisError(err)
		if s.journal != nil {
			if jerr := s.journal.append(bs); jerr == nil {
				s.journaled(bs)
				return
			} else {
				s.log.Error("journal write failed; holding batches in memory", zap.Error(jerr))
			}
		}
		select {
		case <-s.abort:
			for _, b := range bs {
				b.err = fmt.Errorf("%w: %w", ErrUnflushed, err)
			}
			return
		case <-time.After(s.o.RetryInterval):
		}
	}
}

func (s *Store) journaled(bs []*batch) {
	n := 0
	for _, b := range bs {
		n += len(b.shares)
	}
	if s.o.Observer != nil {
		s.o.Observer.Journaled(n)
	}
	s.log.Debug("batches journaled", zap.Int("batches", len(bs)), zap.Int("shares", n))
}

// write sends bs to Redis one batch per round trip, each only after the
// one before it was confirmed (the high-water mark in applyScript relies on
// that order), and returns how many leading batches Redis confirmed.
//
// While Redis runs one batch's script, the next batch is encoded on another
// goroutine (the encoder's output is fresh for every batch, and only one
// encode runs at a time), so encoding is off the critical path when batches
// queue up.
func (s *Store) write(ctx context.Context, enc *encoder, bs []*batch) (int, error) {
	type encoded struct {
		ks   []string
		args []any
	}
	var next chan encoded
	defer func() {
		if next != nil {
			<-next // let a pending encode finish before enc is reused
		}
	}()
	for i, b := range bs {
		start := time.Now()
		var ks []string
		var args []any
		if next == nil {
			ks, args = enc.encode(b)
		} else {
			e := <-next
			ks, args = e.ks, e.args
			next = nil
		}
		if i+1 < len(bs) {
			next = make(chan encoded, 1)
			go func(b *batch, out chan<- encoded) {
				ks, args := enc.encode(b)
				out <- encoded{ks, args}
			}(bs[i+1], next)
		}
		c, cancel := context.WithTimeout(ctx, s.roundTrip())
		v, err := s.apply(c, b, ks, args)
		cancel()
		if err != nil {
			return i, fmt.Errorf("redisstore: write batch %s/%d (%d shares): %w", b.id, b.seq, len(b.shares), err)
		}
		s.confirmed(b, start, v)
	}
	return len(bs), nil
}

// confirmed counts a batch Redis has. applied is the script's reply: 0 when
// the batch id was recorded before (a lost reply, or a journal replayed
// again); its shares are in Redis exactly once either way, and this process
// confirmed them, so they are counted.
func (s *Store) confirmed(b *batch, start time.Time, applied any) {
	if v, ok := applied.(int64); ok && v == 0 {
		s.log.Debug("batch was already recorded", zap.String("stream", b.id), zap.Uint64("seq", b.seq))
	}
	s.recorded.Add(uint64(len(b.shares)))
	if s.o.Observer != nil {
		lat := time.Since(b.sealed)
		if b.sealed.IsZero() {
			lat = time.Since(start)
		}
		s.o.Observer.Recorded(len(b.shares), lat)
	}
}
