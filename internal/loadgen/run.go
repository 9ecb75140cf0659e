package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// maxDialing bounds the miners dialing or handshaking at once, so that a
// ramp of 0 (as fast as possible) does not overflow the pool's accept
// backlog and turn into SYN retries.
const maxDialing = 256

// counters are the run's event counts, updated by every goroutine.
type counters struct {
	attempted, connected, subscribed, authorized, authFailed, handshakeFail atomic.Uint64
	disconnected, reconnects, notifies, badLines                            atomic.Uint64
	submitted, accepted, rejected, lost, unmatched, skipped                 atomic.Uint64
	writeErrors, behind, hashes                                             atomic.Uint64
	pendingTotal                                                            atomic.Int64
}

// shareCounts is a snapshot of the share counters.
type shareCounts struct{ submitted, accepted, rejected uint64 }

func (c *counters) shares() shareCounts {
	return shareCounts{c.submitted.Load(), c.accepted.Load(), c.rejected.Load()}
}

// runner is one Run's shared state.
type runner struct {
	o     Options
	start time.Time
	c     counters

	latency   Histogram
	handshake Histogram
	fan       *fanout
	jobs      jobCache

	subs     []*submitter
	nextSub  atomic.Uint32
	runDone  <-chan struct{}
	stopping atomic.Bool

	remaining atomic.Int64
	steadyCh  chan struct{}
	steadyAt  int64
	steady    shareCounts

	mu       sync.Mutex
	rejects  map[int]uint64
	dialErrs map[string]uint64
	sources  map[string]int
}

// since is the monotonic time since the run started, in ns.
func (r *runner) since() int64 { return int64(time.Since(r.start)) }

// at converts a since value to wall time.
func (r *runner) at(ns int64) time.Time { return r.start.Add(time.Duration(ns)) }

// register hands a miner that has work to a submitter.
func (r *runner) register(m *miner) {
	if len(r.subs) == 0 {
		return
	}
	s := r.subs[int(r.nextSub.Add(1))%len(r.subs)]
	select {
	case s.reg <- m:
	case <-r.runDone:
	}
}

// handshakeEnded is called once per miner when its handshake succeeded or
// failed; the last one starts the steady window.
func (r *runner) handshakeEnded() {
	if r.remaining.Add(-1) == 0 {
		r.steadyAt = r.since()
		r.steady = r.c.shares()
		close(r.steadyCh)
	}
}

func (r *runner) reject(code int) {
	r.mu.Lock()
	r.rejects[code]++
	r.mu.Unlock()
}

func (r *runner) dialFailed(err error) {
	r.mu.Lock()
	r.dialErrs[dialErrorClass(err)]++
	r.mu.Unlock()
}

func (r *runner) noteSource(a net.Addr) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return
	}
	r.mu.Lock()
	r.sources[ta.IP.String()]++
	r.mu.Unlock()
}

// dialErrorClass names a dial failure for the report.
func dialErrorClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return "no-source-port"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too-many-open-files"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "other"
}

// Run runs one load test and returns its report. It returns early, with
// what was measured so far, when ctx is done.
func Run(ctx context.Context, o Options) (*Report, error) {
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	r := &runner{o: o, start: time.Now(), fan: newFanout(), steadyCh: make(chan struct{}),
		rejects: make(map[int]uint64), dialErrs: make(map[string]uint64), sources: make(map[string]int)}
	r.remaining.Store(int64(o.Miners))
	var rssBase uint64
	if o.PoolPID > 0 {
		var err error
		if rssBase, err = ReadRSS(o.PoolPID); err != nil {
			return nil, err
		}
	}

	// connCtx holds the connections open through the drain; runCtx ends
	// dialing, submitting and block generation at Duration or when ctx
	// ends. ctx ending (an interrupt) stops the run like Duration does, but
	// the connections stay open until the live miners and the pool's RSS
	// have been read, so an interrupted run still reports them (the drain
	// is skipped).
	connCtx, closeConns := context.WithCancel(context.WithoutCancel(ctx))
	defer closeConns()
	runCtx, stopRun := context.WithTimeout(connCtx, o.Duration)
	defer stopRun()
	defer context.AfterFunc(ctx, stopRun)()
	r.runDone = runCtx.Done()

	var bg sync.WaitGroup
	if o.Rate > 0 {
		workers := o.Workers
		if workers == 0 {
			workers = runtime.GOMAXPROCS(0)
		}
		interval := time.Duration(float64(time.Second) / o.Rate)
		for range workers {
			s := newSubmitter(r, interval)
			r.subs = append(r.subs, s)
			bg.Go(func() { s.loop(runCtx) })
		}
	}
	if o.RPC.URL != "" {
		bg.Go(func() { r.generateBlocks(runCtx) })
	}
	if o.Progress > 0 {
		bg.Go(func() { r.progress(runCtx) })
	}

	miners := make([]*miner, o.Miners)
	for i := range miners {
		u, _ := json.Marshal(o.userFor(i))
		miners[i] = &miner{r: r, n: i, userJSON: u}
	}
	var readers sync.WaitGroup
	bg.Go(func() { r.dialAll(runCtx, connCtx, miners, &readers) })

	<-runCtx.Done()
	end := r.since()
	r.stopping.Store(true)
	var rssEnd uint64
	var rssErr error
	live := 0
	for _, m := range miners {
		m.mu.Lock()
		if m.conn != nil && !m.dead {
			live++
		}
		m.mu.Unlock()
	}
	if o.PoolPID > 0 {
		rssEnd, rssErr = ReadRSS(o.PoolPID)
	}
	r.drain(ctx)
	bg.Wait()
	closeConns()
	for _, m := range miners {
		m.close()
	}
	readers.Wait()

	rep := r.report(end, live)
	if o.PoolPID > 0 && rssErr == nil {
		rep.PoolRSS = []RSSSample{{PID: o.PoolPID, BaselineBytes: rssBase, EndBytes: rssEnd, Miners: live}}
	}
	if rssErr != nil {
		o.Log.Warn("reading the pool's RSS at the end failed", zap.Error(rssErr))
	}
	return rep, ctx.Err()
}

// dialAll starts every miner, paced by Ramp and bounded by maxDialing.
func (r *runner) dialAll(runCtx, connCtx context.Context, miners []*miner, readers *sync.WaitGroup) {
	sem := make(chan struct{}, maxDialing)
	var pace *time.Timer
	if r.o.Ramp > 0 {
		pace = time.NewTimer(0)
		defer pace.Stop()
		<-pace.C
	}
	for i, m := range miners {
		if pace != nil {
			due := time.Duration(float64(i) / r.o.Ramp * float64(time.Second))
			if d := due - time.Duration(r.since()); d > 0 {
				pace.Reset(d)
				select {
				case <-pace.C:
				case <-runCtx.Done():
					return
				}
			}
		}
		select {
		case sem <- struct{}{}:
		case <-runCtx.Done():
			return
		}
		var once sync.Once
		release := func() { once.Do(func() { <-sem }) }
		readers.Go(func() { m.run(connCtx, release) })
	}
}

// drain waits, bounded by Drain, for the submits still awaiting a reply.
func (r *runner) drain(ctx context.Context) {
	deadline := time.NewTimer(r.o.Drain)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for r.c.pendingTotal.Load() > 0 {
		select {
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// progress logs a line at every Progress interval.
func (r *runner) progress(ctx context.Context) {
	t := time.NewTicker(r.o.Progress)
	defer t.Stop()
	last, lastAt := r.c.shares(), r.since()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now, at := r.c.shares(), r.since()
		secs := float64(at-lastAt) / 1e9
		r.o.Log.Info("progress",
			zap.Uint64("connected", r.c.connected.Load()), zap.Uint64("authorized", r.c.authorized.Load()),
			zap.Float64("accepted_per_s", float64(now.accepted-last.accepted)/secs),
			zap.Float64("rejected_per_s", float64(now.rejected-last.rejected)/secs),
			zap.Uint64("disconnected", r.c.disconnected.Load()))
		last, lastAt = now, at
	}
}

// ReadRSS returns a process's resident set size (VmRSS) in bytes, read
// from /proc/<pid>/status.
func ReadRSS(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	return parseRSS(b)
}
