package pool

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/share"
)

// Manager defaults.
const (
	DefaultRefreshInterval = 30 * time.Second
	DefaultPollInterval    = 2 * time.Second
	DefaultRetryInterval   = 5 * time.Second
	DefaultLongPollTimeout = 2 * time.Minute
)

// NodeOptions configures one node the manager may take templates from.
type NodeOptions struct {
	// Name identifies the node in logs and errors; the URL's host when
	// empty.
	Name string
	// URL is the node's JSON-RPC endpoint, http://host:port.
	URL            string
	User, Password string
	// CookieFile is Bitcoin Core's cookie file (the node's .cookie), used
	// instead of User and Password: it is read at the first call and again
	// whenever the node refuses it (see NewCookieRPCClient).
	CookieFile string
	// WebsocketNotify subscribes to btcd's notifyblocks over the websocket
	// endpoint ws://host:port/ws (btcd only).
	WebsocketNotify bool
	// ZMQHashBlock is Bitcoin Core's -zmqpubhashblock endpoint,
	// tcp://host:port; empty to not use ZMQ.
	ZMQHashBlock string
	// LongPoll keeps a getblocktemplate long poll open while the node is
	// the active one.
	LongPoll bool
}

// ManagerOptions configures a Manager. Nodes, Builder and OnWork are
// required; durations take their defaults when zero, and a negative
// RefreshInterval or PollInterval turns that mechanism off.
type ManagerOptions struct {
	// Nodes in order of preference: the first healthy node is used.
	Nodes []NodeOptions
	// Builder turns templates into work.
	Builder *JobBuilder
	// OnWork receives every published work, on the manager's goroutine (or
	// Start's caller for the first one). It must not block for long: the
	// next template waits for it.
	OnWork func(share.Work)
	// RefreshInterval re-fetches the template on the same tip so that new
	// mempool transactions get mined; published with clean=false.
	RefreshInterval time.Duration
	// PollInterval is the best-block-hash poll, the safety net behind the
	// push mechanisms.
	PollInterval time.Duration
	// RetryInterval is how often unhealthy nodes are probed.
	RetryInterval time.Duration
	// RPCTimeout bounds one ordinary RPC call (DefaultRPCTimeout).
	RPCTimeout time.Duration
	// LongPollTimeout bounds one long poll call; it is then re-issued.
	LongPollTimeout time.Duration
	Log             *zap.Logger
}

// node is one configured node. healthy and probing are owned by the
// manager's goroutine (and by Start before that goroutine exists).
type node struct {
	idx     int
	o       NodeOptions
	rpc     *RPCClient
	healthy bool
	probing bool
}

// trigger is a reason to look at the node's template.
type trigger struct {
	source string
	// hash is the tip the source saw (display order); "" when unknown,
	// which always causes a fetch.
	hash string
	// force publishes the fetched template even when the tip and template
	// are unchanged (periodic refresh, Refresh).
	force bool
}

// pendingTriggers merges the triggers that arrived while the manager's
// goroutine was busy, so that a burst (websocket, ZMQ, long poll and poll
// all reporting one block) costs one fetch and nothing is ever dropped.
type pendingTriggers struct {
	force   bool
	unknown bool
	hashes  []string
	source  string
}

// maxPendingHashes bounds pendingTriggers.hashes; beyond it the batch is
// treated as "tip unknown", which fetches anyway.
const maxPendingHashes = 8

// Manager is the template manager. One goroutine owns the current template:
// every mechanism that learns of a new block (long polling, btcd's websocket
// notifyblocks, Core's ZMQ hashblock, the best-block poll) only sends it a
// trigger, and it alone fetches, decides clean or not, and publishes work.
// Readers get immutable work through Current.
type Manager struct {
	o     ManagerOptions
	log   *zap.Logger
	nodes []*node

	active atomic.Int32
	cur    atomic.Pointer[Work]
	// curNode is the node the current work's template came from.
	curNode atomic.Int32
	// allDown says the last fetch found no node answering; owned by the
	// manager's goroutine.
	allDown bool

	// pmu guards pending; kick wakes the manager's goroutine.
	pmu     sync.Mutex
	pending pendingTriggers
	kick    chan struct{}

	longPolled chan longPollResult
	probed     chan probeResult

	// lpMu guards lpCancel, the cancel function of the long poll in
	// flight, so that a failover restarts it on the new node.
	lpMu     sync.Mutex
	lpCancel context.CancelFunc

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	started  atomic.Bool
	stopOnce sync.Once
	// stopped is closed once every goroutine has ended (made by Stop).
	stopped chan struct{}
}

// NewManager validates the options (every bad field is reported) and returns
// a manager that has not contacted any node yet.
func NewManager(o ManagerOptions) (*Manager, error) {
	var errs []error
	if len(o.Nodes) == 0 {
		errs = append(errs, errors.New("pool: at least one node is required"))
	}
	if o.Builder == nil {
		errs = append(errs, errors.New("pool: a job builder is required"))
	}
	if o.OnWork == nil {
		errs = append(errs, errors.New("pool: OnWork is required"))
	}
	if o.RefreshInterval == 0 {
		o.RefreshInterval = DefaultRefreshInterval
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = DefaultRetryInterval
	}
	if o.RPCTimeout <= 0 {
		o.RPCTimeout = DefaultRPCTimeout
	}
	if o.LongPollTimeout <= 0 {
		o.LongPollTimeout = DefaultLongPollTimeout
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	m := &Manager{
		o:          o,
		log:        o.Log,
		kick:       make(chan struct{}, 1),
		longPolled: make(chan longPollResult),
		probed:     make(chan probeResult),
	}
	names := map[string]bool{}
	for i, no := range o.Nodes {
		if no.Name == "" {
			if u, err := url.Parse(no.URL); err == nil && u.Host != "" {
				no.Name = u.Host
			} else {
				no.Name = fmt.Sprintf("node%d", i)
			}
		}
		if names[no.Name] {
			errs = append(errs, fmt.Errorf("pool: nodes[%d]: name %q is used twice", i, no.Name))
		}
		names[no.Name] = true
		var c *RPCClient
		var err error
		switch {
		case no.CookieFile != "" && (no.User != "" || no.Password != ""):
			err = fmt.Errorf("node %s: set CookieFile or User and Password, not both", no.Name)
		case no.CookieFile != "":
			c, err = NewCookieRPCClient(no.Name, no.URL, no.CookieFile, o.RPCTimeout)
		default:
			c, err = NewRPCClient(no.Name, no.URL, no.User, no.Password, o.RPCTimeout)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("pool: nodes[%d]: %w", i, err))
			continue
		}
		if no.WebsocketNotify {
			if _, _, err := wsHost(no.URL); err != nil {
				errs = append(errs, fmt.Errorf("pool: nodes[%d]: websocket: %w", i, err))
			}
		}
		if no.ZMQHashBlock != "" {
			if _, err := zmqAddr(no.ZMQHashBlock); err != nil {
				errs = append(errs, fmt.Errorf("pool: nodes[%d]: %w", i, err))
			}
		}
		// Nodes are presumed healthy until a call fails.
		m.nodes = append(m.nodes, &node{idx: len(m.nodes), o: no, rpc: c, healthy: true})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// Start fetches the first template, publishing it with clean=true, and
// starts the manager's goroutines. It fails when no node answers
// getblocktemplate, naming each node's error. ctx bounds the start-up calls
// only; the manager runs until Stop.
func (m *Manager) Start(ctx context.Context) error {
	if !m.started.CompareAndSwap(false, true) {
		return errors.New("pool: manager already started")
	}
	m.ctx, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	var errs []error
	started := false
	for i, n := range m.nodes {
		t, err := m.fetchFrom(ctx, n)
		if err != nil {
			n.healthy = false
			errs = append(errs, err)
			m.log.Warn("node did not answer getblocktemplate at start", zap.String("node", n.o.Name), zap.Error(err))
			continue
		}
		m.active.Store(int32(i))
		w, err := m.o.Builder.NewWork(t, true)
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", n.o.Name, err))
			continue
		}
		m.publish(w, n, "start")
		started = true
		break
	}
	if !started {
		m.cancel()
		return fmt.Errorf("pool: no node answered getblocktemplate: %w", errors.Join(errs...))
	}

	m.goRun(m.run)
	if m.o.PollInterval > 0 {
		m.goRun(m.poll)
	}
	for _, n := range m.nodes {
		if n.o.LongPoll {
			m.goRun(m.longPoll)
			break
		}
	}
	for i, n := range m.nodes {
		if n.o.WebsocketNotify {
			m.goRun(func() { m.watchWebsocket(i) })
		}
		if n.o.ZMQHashBlock != "" {
			m.goRun(func() { m.watchZMQ(i) })
		}
	}
	return nil
}

func (m *Manager) goRun(f func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
}

// Stop ends every goroutine of the manager and waits for them, or until ctx
// ends (then it returns ctx's error; the goroutines, told to end, finish on
// their own as their calls to the node return). It closes the node clients'
// idle connections. Safe to call more than once, and before or after a
// failed Start.
func (m *Manager) Stop(ctx context.Context) error {
	m.stopOnce.Do(func() {
		if m.cancel != nil {
			m.cancel()
		}
		m.stopped = make(chan struct{})
		go func() {
			m.wg.Wait()
			for _, n := range m.nodes {
				n.rpc.Close()
			}
			close(m.stopped)
		}()
	})
	select {
	case <-m.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pool: stop: template manager goroutines still running: %w", ctx.Err())
	}
}

// Current returns the last published work, nil before Start succeeded.
func (m *Manager) Current() share.Work {
	if w := m.cur.Load(); w != nil {
		return w
	}
	return nil
}

// CurrentWork is Current with the concrete type, for callers that need the
// template behind the work.
func (m *Manager) CurrentWork() *Work { return m.cur.Load() }

// Height returns the height of the block the current work builds, 0 before
// Start.
func (m *Manager) Height() int64 {
	if w := m.cur.Load(); w != nil {
		return w.Height()
	}
	return 0
}

// Refresh asks for a template fetch now; the result is published even when
// the tip has not changed (clean=false then). It does not wait.
func (m *Manager) Refresh() { m.trigger(trigger{source: "refresh", force: true}) }

// newTip tells the manager a block with hash (display order) was connected,
// for example one this pool just submitted.
func (m *Manager) newTip(source, hash string) { m.trigger(trigger{source: source, hash: hash}) }

// Client returns the RPC client of the active node.
func (m *Manager) Client() *RPCClient { return m.nodes[m.active.Load()].rpc }

// Clients returns every node's client, the active node's first and then the
// others in configured order.
func (m *Manager) Clients() []*RPCClient {
	a := int(m.active.Load())
	cs := make([]*RPCClient, 0, len(m.nodes))
	cs = append(cs, m.nodes[a].rpc)
	for i, n := range m.nodes {
		if i != a {
			cs = append(cs, n.rpc)
		}
	}
	return cs
}

// trigger records t for the manager's goroutine and wakes it.
func (m *Manager) trigger(t trigger) {
	m.pmu.Lock()
	p := &m.pending
	if p.source == "" {
		p.source = t.source
	}
	p.force = p.force || t.force
	switch {
	case t.hash == "":
		p.unknown = true
	case len(p.hashes) >= maxPendingHashes:
		p.unknown = true
	default:
		p.hashes = append(p.hashes, t.hash)
	}
	m.pmu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// run is the manager's goroutine: the only writer of the current work and of
// the nodes' health.
func (m *Manager) run() {
	var refresh <-chan time.Time
	if m.o.RefreshInterval > 0 {
		t := time.NewTicker(m.o.RefreshInterval)
		defer t.Stop()
		refresh = t.C
	}
	retry := time.NewTicker(m.o.RetryInterval)
	defer retry.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.kick:
			m.pmu.Lock()
			p := m.pending
			m.pending = pendingTriggers{}
			m.pmu.Unlock()
			m.handle(p)
		case <-refresh:
			m.update(trigger{source: "refresh", force: true})
		case lp := <-m.longPolled:
			m.handleLongPoll(lp)
			close(lp.done)
		case <-retry.C:
			m.probeUnhealthy()
		case p := <-m.probed:
			m.handleProbe(p)
		}
	}
}

// handle decides whether a batch of triggers needs a fetch: a tip hash
// equal to the current template's previous block is old news.
func (m *Manager) handle(p pendingTriggers) {
	need := p.force || p.unknown
	if !need {
		prev := m.currentPrevHex()
		for _, h := range p.hashes {
			if h != prev {
				need = true
				break
			}
		}
	}
	if !need {
		m.log.Debug("tip unchanged", zap.String("source", p.source))
		return
	}
	m.update(trigger{source: p.source, force: p.force})
}

// currentPrevHex is the current template's previous block in display order.
func (m *Manager) currentPrevHex() string {
	w := m.cur.Load()
	if w == nil {
		return ""
	}
	return share.DisplayHex(&w.Template().PrevHash)
}

// update fetches a template (failing over between nodes) and publishes it
// when it is on a new tip or when t forces it.
func (m *Manager) update(t trigger) {
	tmpl, n, err := m.fetch()
	if err != nil {
		if m.ctx.Err() != nil {
			return
		}
		// One warning per outage: the poll retries every few seconds.
		lvl := zap.DebugLevel
		if !m.allDown {
			lvl, m.allDown = zap.WarnLevel, true
		}
		m.log.Log(lvl, "no node answered getblocktemplate; miners keep the current work",
			zap.String("source", t.source), zap.Error(err))
		return
	}
	if m.allDown {
		m.allDown = false
		m.log.Warn("a node answers getblocktemplate again", zap.String("node", n.o.Name))
	}
	cur := m.cur.Load()
	clean := cur == nil || tmpl.PrevHash != cur.Template().PrevHash
	if !clean && !t.force {
		m.log.Debug("template on the same tip", zap.String("source", t.source))
		return
	}
	m.build(tmpl, clean, n, t.source)
}

// build makes and publishes work for tmpl.
func (m *Manager) build(tmpl *Template, clean bool, n *node, source string) {
	w, err := m.o.Builder.NewWork(tmpl, clean)
	if err != nil {
		m.log.Warn("template not usable", zap.String("node", n.o.Name), zap.Int64("height", tmpl.Height), zap.Error(err))
		return
	}
	m.publish(w, n, source)
}

func (m *Manager) publish(w *Work, n *node, source string) {
	m.curNode.Store(int32(n.idx))
	m.cur.Store(w)
	t := w.Template()
	fields := []zap.Field{zap.String("node", n.o.Name), zap.Int64("height", t.Height),
		zap.String("prev", share.DisplayHex(&t.PrevHash)), zap.Int("txs", len(t.Txs)),
		zap.String("source", source), zap.String("job", w.ID())}
	if w.Clean() {
		m.log.Info("new tip: clean work", fields...)
	} else {
		m.log.Debug("refreshed work", fields...)
	}
	m.o.OnWork(w)
}
