package loadgen

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/stratum"
)

// VectorNotify is the mining.notify params of entry 0 of
// testdata/stratum-vectors.json (source: public-pool MockRecording1, testnet
// block 2442185), the job StartPool serves. A test checks that it matches
// the file.
const VectorNotify = `["1","171592f223740e92d223f6e68bff25279af7ac4f2246451e0000000200000000",` +
	`"02000000010000000000000000000000000000000000000000000000000000000000000000ffffffff1903c943255c7075626c69632d706f6f6c5c",` +
	`"ffffffff037a90000000000000160014e6f22ca44dc800e9d049621a3b9a42c509f1c4bc3b0f250000000000160014e6f22ca44dc800e9d049621a3b9a42c509f1c4bc0000000000000000266a24aa21a9edbd3d1d916aa0b57326a2d88ebe1b68a1d7c48585f26d8335fe6a94b62755f64c00000000",` +
	`["175335649d5e8746982969ec88f52e85ac9917106fba5468e699c8879ab974a1","d5644ab3e708c54cd68dc5aedc92b8d3037449687f92ec41ed6e37673d969d4a","5c9ec187517edc0698556cca5ce27e54c96acb014770599ed9df4d4937fbf2b0"],` +
	`"20000000","192495f8","64b3f3ec",false]`

// VectorExtranonce2Size is the extranonce2 size of the recorded session.
const VectorExtranonce2Size = 4

// vectorHeight is the height of the recorded job's block.
const vectorHeight = 2442185

// PoolOptions configures StartPool.
type PoolOptions struct {
	// Listen is the Stratum address (default 127.0.0.1:0).
	Listen string
	// Difficulty is every session's share difficulty (default 1e-12: any
	// nonce meets it); vardiff stays at it.
	Difficulty float64
	// Store receives accepted shares after the pool's counter (default:
	// none, the counter acknowledges at once). With a store, a share is
	// acknowledged when that store says so (e.g. redisstore, once the
	// share's batch is in Redis).
	Store share.Store
	// NewBlockEvery, when positive, publishes a job on a new prevhash at
	// this interval, so that notify fan-out can be measured.
	NewBlockEvery time.Duration
	// MaxConnections caps the server's connections (the server's default
	// when 0).
	MaxConnections int
	// Log receives the server's logs (zap.NewNop() by default).
	Log *zap.Logger
}

// Pool is a Tarbela Stratum server run in process on a synthetic job: the
// recorded testnet job with the current time and a network target of 1, so
// shares are judged by the real validator but never become blocks.
type Pool struct {
	Server *stratum.Server
	// Counter counts the accepted shares (and hands them on to
	// PoolOptions.Store, when set).
	Counter *CountingStore

	height atomic.Int64
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

// withDefaults fills in the defaults the fields' comments give.
func (o PoolOptions) withDefaults() PoolOptions {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Difficulty == 0 {
		o.Difficulty = 1e-12
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	return o
}

// StartPool starts a pool; stop it with Close.
func StartPool(o PoolOptions) (*Pool, error) {
	o = o.withDefaults()
	p := &Pool{stop: make(chan struct{}), Counter: &CountingStore{Next: o.Store}}
	v := share.NewValidator(share.ValidatorOptions{Store: p.Counter, Blocks: noBlocks{}, Log: o.Log})
	srv, err := stratum.NewServer(stratum.Options{
		Listen:          o.Listen,
		Extranonce2Size: VectorExtranonce2Size,
		Validator:       v,
		Auth:            anyUser{},
		MaxConnections:  o.MaxConnections,
		Difficulty: stratum.DifficultyOptions{Initial: o.Difficulty, Min: o.Difficulty, Max: o.Difficulty,
			// Vardiff has nowhere to go between Min and Max; a long
			// retarget keeps it from even looking.
			RetargetInterval: time.Hour},
		Log: o.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("in-process pool: %w", err)
	}
	p.Server = srv
	p.height.Store(vectorHeight)
	w, err := syntheticWork(0, p.height.Load())
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("in-process pool: %w", err)
	}
	srv.Publish(w)
	if o.NewBlockEvery > 0 {
		p.wg.Go(func() { p.blocks(o.NewBlockEvery, o.Log) })
	}
	return p, nil
}

// syntheticWork builds the synthetic job for block n (0 is the recorded
// one) at height: a prevhash that differs per n, the current time, a
// network target of 1.
func syntheticWork(n uint64, height int64) (share.Work, error) {
	j, err := share.JobFromNotify(json.RawMessage(VectorNotify), VectorExtranonce2Size)
	if err != nil {
		return nil, fmt.Errorf("in-process pool: vector job: %w", err)
	}
	j.ID = strconv.FormatUint(n+1, 16)
	binary.LittleEndian.PutUint64(j.PrevHash[:8], binary.LittleEndian.Uint64(j.PrevHash[:8])+n)
	j.Height = height
	j.CurTime = uint32(time.Now().Unix())
	j.NetTarget = share.Target{0: 1}
	j.Clean = true
	return staticWork{j}, nil
}

// blocks publishes a job on a new prevhash at every tick.
func (p *Pool) blocks(every time.Duration, log *zap.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for n := uint64(1); ; n++ {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.height.Add(1)
		w, err := syntheticWork(n, p.height.Load())
		if err != nil {
			log.Error("building a synthetic job", zap.Error(err))
			return
		}
		p.Server.Publish(w)
	}
}

// Addr is the Stratum address.
func (p *Pool) Addr() string { return p.Server.Addr().String() }

// Connections returns the server's open connections.
func (p *Pool) Connections() int { return p.Server.Connections() }

// Shares returns the accepted shares counted so far.
func (p *Pool) Shares() uint64 { return p.Counter.Shares() }

// Stop stops the pool.
func (p *Pool) Stop(ctx context.Context) error {
	var err error
	p.once.Do(func() {
		close(p.stop)
		p.wg.Wait()
		err = p.Server.Stop(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			err = nil // miners that did not hang up in time were closed
		}
	})
	return err
}

// staticWork hands every account the same job.
type staticWork struct{ j *share.Job }

func (w staticWork) JobFor(string) (*share.Job, error) { return w.j, nil }
func (w staticWork) Clean() bool                       { return w.j.Clean }
func (w staticWork) Height() int64                     { return w.j.Height }

// anyUser authorizes every non-empty username as account[.rig].
type anyUser struct{}

func (anyUser) Authorize(name string) (*share.Worker, error) {
	account, rig, _ := strings.Cut(name, ".")
	if account == "" {
		return nil, errors.New("empty username")
	}
	return &share.Worker{Name: name, Account: account, Rig: rig}, nil
}

// noBlocks is the block sink of a pool whose jobs never yield blocks.
type noBlocks struct{}

func (noBlocks) SubmitBlock(context.Context, *share.Solved) error {
	return errors.New("in-process pool: synthetic job, no block can be submitted")
}

// CountingStore is a share.Store that counts accepted shares. Without Next
// it keeps nothing, so that a load test measures the pool and not a store;
// with Next it hands every share on, so the figures include that store.
type CountingStore struct {
	// Next, when set, receives every share and block after they are
	// counted, and acknowledges them.
	Next share.Store

	shares atomic.Uint64
	blocks atomic.Uint64
}

// AddShare counts one share. Without Next it acknowledges it at once:
// nothing is kept, so there is nothing to wait for. With Next, the share is
// counted only when Next took it, and Next acknowledges it.
func (s *CountingStore) AddShare(r share.Record) error {
	if s.Next != nil {
		if err := s.Next.AddShare(r); err != nil {
			return err
		}
		s.shares.Add(1)
		return nil
	}
	s.shares.Add(1)
	if r.Ack != nil {
		r.Ack.ShareRecorded(r.Token, nil)
	}
	return nil
}

// AddBlock counts one block (and hands it to Next, when set).
func (s *CountingStore) AddBlock(b *share.BlockRecord) error {
	if s.Next != nil {
		if err := s.Next.AddBlock(b); err != nil {
			return err
		}
	}
	s.blocks.Add(1)
	return nil
}

// Shares returns the shares counted so far.
func (s *CountingStore) Shares() uint64 { return s.shares.Load() }
