package cpuminer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// ErrRunning is returned by Run when the miner is already running or has
// run: a Miner mines once, so its statistics describe one run.
var ErrRunning = errors.New("miner: Run called twice")

// AuthError is returned by Run when the pool rejects the worker's
// credentials: retrying with the same ones cannot succeed.
type AuthError struct {
	User string
	// Message is the pool's reason, when it gave one.
	Message string
}

// Error implements error.
func (e *AuthError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("miner: pool rejected worker %q", e.User)
	}
	return fmt.Sprintf("miner: pool rejected worker %q: %s", e.User, e.Message)
}

// CertError is returned by Run when the pool's TLS certificate does not
// verify (an unknown authority, another host's name, expired): retrying
// cannot succeed until the pool's certificate or the miner's TLS settings
// change.
type CertError struct {
	Addr string
	Err  error
}

// Error implements error.
func (e *CertError) Error() string {
	return fmt.Sprintf("miner: pool %s: TLS certificate not trusted: %v (trust its CA or certificate with --tls-ca FILE, or accept any certificate with --tls-insecure)", e.Addr, e.Err)
}

// Unwrap returns the verification error.
func (e *CertError) Unwrap() error { return e.Err }

// Stats is a snapshot of a miner's counters since it started.
type Stats struct {
	// Accepted and Rejected count the pool's verdicts on submitted shares.
	Accepted, Rejected uint64
	// Submitted counts shares sent to the pool (replies may be pending).
	Submitted uint64
	// Stale counts shares found but not sent because their job was
	// cleaned or their connection was lost, or while the miner was held
	// (Hold).
	Stale uint64
	// InFlight counts submits awaiting the pool's reply now; Unanswered
	// those whose connection ended before the reply came (the pool may
	// or may not have recorded them).
	InFlight   int64
	Unanswered uint64
	// Hashes is the number of headers hashed by all threads.
	Hashes uint64
	// Difficulty is the last difficulty the pool set (1 until it sets one).
	Difficulty float64
	// Jobs counts jobs received; Connects counts successful connections.
	Jobs, Connects uint64
	// Connected says a connection to the pool is up.
	Connected bool
	// VersionMask is the version-rolling mask negotiated on the current
	// connection (0: none).
	VersionMask uint32
}

// Miner is a Stratum v1 CPU miner. Create it with New, start it with Run;
// Stats may be called from any goroutine at any time.
type Miner struct {
	o     Options
	log   *zap.Logger
	board *board
	found chan found

	hashes []counter

	accepted, rejected, submitted, stale atomic.Uint64
	unanswered                           atomic.Uint64
	inflight                             atomic.Int64
	// held stops sending shares (Hold).
	held           atomic.Bool
	jobs, connects atomic.Uint64
	difficulty     atomic.Uint64 // float64 bits
	mask           atomic.Uint32
	connected      atomic.Bool
	running        atomic.Bool

	// units hands out extranonce2 values to every job on one tip, across
	// jobs and connections: the pool resends a job under a new id when the
	// difficulty changes or refreshes it with the same content, and a
	// reconnecting miner may get its extranonce1 back, so a count that
	// restarted per job would mine the same headers again, which the pool
	// rightly refuses as duplicates. A new tip starts a new count.
	unitsMu   sync.Mutex
	unitsTip  [32]byte
	unitsNext *atomic.Uint64
}

// unitCounter returns the extranonce2 counter of the tip prev.
func (m *Miner) unitCounter(prev [32]byte) *atomic.Uint64 {
	m.unitsMu.Lock()
	defer m.unitsMu.Unlock()
	if m.unitsNext == nil || m.unitsTip != prev {
		m.unitsTip, m.unitsNext = prev, new(atomic.Uint64)
	}
	return m.unitsNext
}

// foundQueue bounds the shares waiting to be sent; when the connection is
// slower than the threads find shares (a pool difficulty far too low) the
// threads wait, so the hash rate adapts instead of memory growing.
const foundQueue = 1024

// New validates o and returns a miner ready to Run.
func New(o Options) (*Miner, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return newMiner(o), nil
}

// newMiner builds a miner from options that already have their defaults.
func newMiner(o Options) *Miner {
	m := &Miner{
		o:      o,
		log:    o.Log,
		board:  newBoard(),
		found:  make(chan found, foundQueue),
		hashes: make([]counter, o.Threads),
	}
	m.difficulty.Store(math.Float64bits(1))
	return m
}

// Run is New followed by Miner.Run.
func Run(ctx context.Context, o Options) error {
	m, err := New(o)
	if err != nil {
		return err
	}
	return m.Run(ctx)
}

// Stats returns the miner's counters.
func (m *Miner) Stats() Stats {
	s := Stats{
		Accepted:    m.accepted.Load(),
		Rejected:    m.rejected.Load(),
		Submitted:   m.submitted.Load(),
		Stale:       m.stale.Load(),
		Difficulty:  math.Float64frombits(m.difficulty.Load()),
		Jobs:        m.jobs.Load(),
		Connects:    m.connects.Load(),
		Connected:   m.connected.Load(),
		VersionMask: m.mask.Load(),
		InFlight:    m.inflight.Load(),
		Unanswered:  m.unanswered.Load(),
	}
	for i := range m.hashes {
		s.Hashes += m.hashes[i].n.Load()
	}
	return s
}

// Hold stops (true) or resumes (false) sending shares; held shares are
// counted as Stale. With the miner held, the counters settle once InFlight
// is 0: a test compares them with what the pool recorded.
func (m *Miner) Hold(held bool) { m.held.Store(held) }

// ThreadHashes returns the number of hashes each thread has done.
func (m *Miner) ThreadHashes() []uint64 {
	out := make([]uint64, len(m.hashes))
	for i := range m.hashes {
		out[i] = m.hashes[i].n.Load()
	}
	return out
}

// Run connects to the pool and mines until ctx is done, reconnecting with
// exponential backoff whenever the connection is lost. It returns nil when
// ctx ends it, an *AuthError when the pool rejects the credentials, a
// *CertError when a TLS pool's certificate does not verify, and ErrRunning
// when called more than once.
func (m *Miner) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		m.board.set(nil)
		wg.Wait()
	}()
	for i := range m.o.Threads {
		wg.Go(func() { m.mine(ctx, i) })
	}
	addr, secure, err := ParseURL(m.o.URL)
	if err != nil {
		return err
	}
	delay := m.o.RetryMin
	for {
		s := newSession(m)
		err := s.run(ctx, addr, secure)
		if n := s.open.Swap(0); n > 0 {
			m.inflight.Add(-n)
			m.unanswered.Add(uint64(n))
		}
		m.board.set(nil)
		m.connected.Store(false)
		m.mask.Store(0)
		if ctx.Err() != nil {
			return nil
		}
		if ae, ok := errors.AsType[*AuthError](err); ok {
			return ae
		}
		if ce, ok := errors.AsType[*CertError](err); ok {
			return ce
		}
		var wait time.Duration
		if r := s.redirect; r != nil {
			if r.addr != "" {
				addr = r.addr
			}
			wait = r.wait
			delay = m.o.RetryMin
			m.log.Info("pool asked to reconnect", zap.String("addr", addr), zap.Duration("wait", wait))
		} else {
			if s.subscribed {
				delay = m.o.RetryMin
			}
			wait = delay
			delay = min(2*delay, m.o.RetryMax)
			m.log.Warn("pool connection lost", zap.String("addr", addr), zap.Error(err), zap.Duration("retry_in", wait))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// dial connects to the pool; with secure, it completes the TLS handshake
// (under the same 10 s) and checks the pool's certificate for addr's host.
func (m *Miner) dial(ctx context.Context, addr string, secure bool) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !secure {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("dial pool %s: %w", addr, err)
		}
		return c, nil
	}
	host, _, _ := net.SplitHostPort(addr)
	td := tls.Dialer{NetDialer: d, Config: &tls.Config{
		ServerName: host, RootCAs: m.o.tlsRoots, InsecureSkipVerify: m.o.TLSInsecure, MinVersion: tls.VersionTLS12,
	}}
	c, err := td.DialContext(ctx, "tcp", addr)
	if ve, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return nil, &CertError{Addr: addr, Err: ve.Err}
	}
	if err != nil {
		return nil, fmt.Errorf("dial pool %s (TLS): %w", addr, err)
	}
	return c, nil
}
