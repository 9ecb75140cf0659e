package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/tarbela-pool/tarbela/api"
	"github.com/tarbela-pool/tarbela/pool"
	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
	"github.com/tarbela-pool/tarbela/stratum"
)

// The HTTP API's seams: apiPool answers the public routes from Redis (the
// share store's reader and the payout ledger), the template manager and,
// for the workers connected here, the Stratum server; apiAdmin does the
// admin routes on the Stratum server and the daemon's reload.

// onlineWindow is how recent a share must be for its worker and account
// to count as online.
const onlineWindow = 10 * time.Minute

// apiPool implements api.Pool.
type apiPool struct {
	reader  *redisstore.Reader
	ledger  *redisstore.Ledger
	manager *pool.Manager
	server  *stratum.Server
}

// storeErr marks a failed read of Redis as the data store not answering
// (503), unless the data itself was bad.
func storeErr(err error) error {
	if err == nil || errors.Is(err, redisstore.ErrInvariant) || errors.Is(err, redisstore.ErrInvalid) {
		return err
	}
	return fmt.Errorf("%w: %w", api.ErrUnavailable, err)
}

// hashrates reads a subject's 10 min, 1 h and 24 h hashrates.
func (p *apiPool) hashrates(ctx context.Context, of redisstore.Subject, now time.Time) (api.Hashrates, error) {
	r, err := p.reader.Rates(ctx, of, now, 10*time.Minute, time.Hour, 24*time.Hour)
	if err != nil {
		return api.Hashrates{}, storeErr(err)
	}
	return api.Hashrates{M10: r[0], H1: r[1], H24: r[2]}, nil
}

// tip is the height of the best block and the network difficulty of the
// block being mined, from the current template (zero before the first,
// and without a template manager).
func (p *apiPool) tip() (height int64, difficulty float64) {
	if p.manager == nil {
		return 0, 0
	}
	w := p.manager.CurrentWork()
	if w == nil {
		return 0, 0
	}
	if t, err := share.TargetFromBits(w.Template().Bits); err == nil {
		difficulty = t.Difficulty()
	}
	return w.Height() - 1, difficulty
}

// Summary implements api.Pool.
func (p *apiPool) Summary(ctx context.Context) (api.Summary, error) {
	var s api.Summary
	now := time.Now()
	var err error
	if s.Hashrate, err = p.hashrates(ctx, redisstore.OfPool(), now); err != nil {
		return s, err
	}
	sum, err := p.reader.PoolSummary(ctx, now.Add(-onlineWindow))
	if err != nil {
		return s, storeErr(err)
	}
	s.MinersOnline, s.WorkersOnline, s.Shares.Accepted = sum.AccountsOnline, sum.WorkersOnline, sum.TotalShares
	nodes, err := p.reader.NodeStats(ctx, now)
	if err != nil {
		return s, storeErr(err)
	}
	s.Nodes = len(nodes)
	for _, n := range nodes {
		s.Shares.Rejected += int64(n.Rejected)
	}
	s.Network.Height, s.Network.Difficulty = p.tip()
	bs, err := p.Blocks(ctx, 1)
	if err != nil {
		return s, err
	}
	if len(bs) > 0 {
		s.LastBlock = &bs[0]
	}
	return s, nil
}

// Blocks implements api.Pool.
func (p *apiPool) Blocks(ctx context.Context, limit int) ([]api.Block, error) {
	bs, err := p.reader.Blocks(ctx, limit)
	if err != nil {
		return nil, storeErr(err)
	}
	tip, _ := p.tip()
	out := make([]api.Block, len(bs))
	for i, b := range bs {
		out[i] = api.Block{Height: b.Height, Hash: b.Hash, Finder: b.Worker, Account: b.Account, Reward: b.Reward,
			Status: string(b.Status), Confirmations: confirmations(b.Status, b.Height, tip), Time: b.Time}
	}
	return out, nil
}

// confirmations counts a block's confirmations from the heights while its
// status says it is on the chain, 0 otherwise.
func confirmations(status share.BlockStatus, height, tip int64) int64 {
	switch status {
	case share.BlockAccepted, "confirmed", "credited", "paid":
		return max(0, tip-height+1)
	}
	return 0
}

// known reports whether the account has shares within the hashrate
// retention or a ledger entry, and returns its balance.
func (p *apiPool) known(ctx context.Context, account string) (bool, redisstore.AccountBalance, error) {
	last, err := p.reader.LastShare(ctx, account, true)
	if err != nil {
		return false, redisstore.AccountBalance{}, storeErr(err)
	}
	bal, err := p.ledger.AccountBalance(ctx, account)
	if err != nil {
		return false, bal, storeErr(err)
	}
	return !last.IsZero() || bal.Known, bal, nil
}

// Hashrate implements api.Pool.
func (p *apiPool) Hashrate(ctx context.Context, account string, window, step time.Duration) ([]api.Point, error) {
	of := redisstore.OfPool()
	if account != "" {
		ok, _, err := p.known(ctx, account)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, api.ErrNotFound
		}
		of = redisstore.OfAccount(account)
	}
	ps, err := p.reader.Series(ctx, of, time.Now(), window, step)
	if err != nil {
		return nil, storeErr(err)
	}
	out := make([]api.Point, len(ps))
	for i, pt := range ps {
		out[i] = api.Point{T: pt.T, Hashrate: pt.Hashrate}
	}
	return out, nil
}

// WorkerHashrate implements api.Pool: the series in the step the worker's
// history tier has for the window (redisstore.Reader.SeriesStep).
func (p *apiPool) WorkerHashrate(ctx context.Context, worker string, window, step time.Duration) (api.Series, error) {
	last, err := p.reader.LastShare(ctx, worker, false)
	if err != nil {
		return api.Series{}, storeErr(err)
	}
	if last.IsZero() {
		return api.Series{}, api.ErrNotFound
	}
	of := redisstore.OfWorker(worker)
	window, step = p.reader.SeriesStep(of, window, step)
	ps, err := p.reader.Series(ctx, of, time.Now(), window, step)
	if err != nil {
		return api.Series{}, storeErr(err)
	}
	out := make([]api.Point, len(ps))
	for i, pt := range ps {
		out[i] = api.Point{T: pt.T, Hashrate: pt.Hashrate}
	}
	return api.Series{Window: window, Step: step, Points: out}, nil
}

// Account implements api.Pool.
func (p *apiPool) Account(ctx context.Context, account string) (api.Account, error) {
	a := api.Account{Account: account}
	ok, bal, err := p.known(ctx, account)
	if err != nil {
		return a, err
	}
	if !ok {
		return a, api.ErrNotFound
	}
	a.Balance, a.Pending, a.Paid = bal.Bal, bal.Pending, bal.Paid
	now := time.Now()
	if a.Hashrate, err = p.hashrates(ctx, redisstore.OfAccount(account), now); err != nil {
		return a, err
	}
	seen, total, err := p.reader.AccountWorkers(ctx, account, api.MaxWorkers)
	if err != nil {
		return a, storeErr(err)
	}
	var live map[string]liveWorker
	if p.server != nil {
		live = liveWorkers(p.server.ListConnections(stratum.ConnFilter{Account: account}), account)
	}
	complete := int64(len(seen)) == total
	names := make([]string, 0, len(seen)+len(live))
	last := map[string]time.Time{}
	for _, w := range seen {
		names = append(names, w.Name)
		last[w.Name] = w.Last
	}
	// Workers connected here without a share recorded yet join the list
	// when it holds all of the account's workers.
	for name := range live {
		if _, ok := last[name]; !ok && complete && len(names) < api.MaxWorkers {
			names = append(names, name)
			total++
		}
	}
	slices.Sort(names)
	rates, err := p.reader.WorkerRates(ctx, names, now, time.Hour)
	if err != nil {
		return a, storeErr(err)
	}
	a.WorkersTotal = total
	a.Workers = make([]api.Worker, len(names))
	for i, name := range names {
		w := api.Worker{Name: name, Hashrate: rates[name]}
		if t, ok := last[name]; ok && !t.IsZero() {
			w.LastShare = &t
			w.Online = now.Sub(t) < onlineWindow
		}
		if l, ok := live[name]; ok {
			d := l.difficulty
			w.Difficulty = &d
			if n := l.accepted + l.rejected; n > 0 {
				r := float64(l.rejected) / float64(n)
				w.RejectRate = &r
			}
		}
		a.Workers[i] = w
	}
	pays, err := p.ledger.AccountPayments(ctx, account, api.MaxPayments)
	if err != nil {
		return a, storeErr(err)
	}
	for _, py := range pays {
		t := py.Created
		if !py.Settled.IsZero() {
			t = py.Settled
		}
		a.Payments = append(a.Payments, api.Payment{Batch: py.Batch, TxID: py.TxID, Amount: py.Amount, Time: t, State: py.State})
	}
	return a, nil
}

// liveWorker is what this node knows of a connected worker: the
// difficulty of its oldest connection and the shares of all of them.
type liveWorker struct {
	difficulty         float64
	accepted, rejected uint64
}

// liveWorkers gathers the account's workers from this node's connections
// (oldest first).
func liveWorkers(conns []stratum.ConnInfo, account string) map[string]liveWorker {
	out := map[string]liveWorker{}
	for _, c := range conns {
		for _, name := range c.Workers {
			if accountOf(name) != account {
				continue
			}
			l, seen := out[name]
			if !seen {
				l.difficulty = c.Difficulty
			}
			// Stratum counts shares per connection, not per worker:
			// each worker of a connection (a proxy's) gets all of
			// its shares.
			l.accepted += c.Accepted
			l.rejected += c.Rejected
			out[name] = l
		}
	}
	return out
}

// accountOf is a worker name's account: the part before the first '.'.
func accountOf(worker string) string {
	for i := 0; i < len(worker); i++ {
		if worker[i] == '.' {
			return worker[:i]
		}
	}
	return worker
}

// apiAdmin implements api.Admin.
type apiAdmin struct {
	d *Daemon
}

// Connections implements api.Admin.
func (a apiAdmin) Connections(_ context.Context, f api.ConnFilter) ([]api.Connection, error) {
	cs := a.d.server.ListConnections(stratum.ConnFilter{Account: f.Account, Limit: f.Limit})
	out := make([]api.Connection, len(cs))
	for i, c := range cs {
		out[i] = api.Connection{ID: c.ID, Workers: c.Workers, Address: c.Remote.String(), Agent: c.Agent,
			Difficulty: c.Difficulty, Hashrate: c.Hashrate, Connected: c.Connected, Extranonce1: c.Extranonce1}
	}
	return out, nil
}

// KickWorker implements api.Admin.
func (a apiAdmin) KickWorker(_ context.Context, worker string) (int, error) {
	return a.d.server.KickWorker(worker), nil
}

// KickAddress implements api.Admin.
func (a apiAdmin) KickAddress(_ context.Context, addr netip.Addr) (int, error) {
	return a.d.server.KickAddress(addr), nil
}

// banOf is a stratum ban as the API shows it: an IPv4 address bare, an
// IPv6 prefix with its length.
func banOf(b stratum.Ban) api.Ban {
	addr := b.Addr.String()
	if b.Addr.IsSingleIP() {
		addr = b.Addr.Addr().String()
	}
	return api.Ban{Address: addr, Until: b.Until}
}

// Bans implements api.Admin.
func (a apiAdmin) Bans(context.Context) ([]api.Ban, error) {
	bs := a.d.server.Bans()
	out := make([]api.Ban, len(bs))
	for i, b := range bs {
		out[i] = banOf(b)
	}
	return out, nil
}

// Ban implements api.Admin.
func (a apiAdmin) Ban(_ context.Context, addr netip.Addr, d time.Duration) (api.Ban, error) {
	b, err := a.d.server.Ban(addr, d)
	if err != nil {
		return api.Ban{}, &api.FieldError{Field: "address", Message: err.Error()}
	}
	return banOf(b), nil
}

// Unban implements api.Admin.
func (a apiAdmin) Unban(_ context.Context, addr netip.Addr) (bool, error) {
	return a.d.server.Unban(addr), nil
}

// Reload implements api.Admin.
func (a apiAdmin) Reload(context.Context) (api.Reload, error) {
	applied, restart, err := a.d.ReloadFile()
	return api.Reload{Applied: applied, Restart: restart}, err
}

// SetDifficulty implements api.Admin.
func (a apiAdmin) SetDifficulty(_ context.Context, worker string, d float64) (int, error) {
	return a.d.server.SetWorkerDifficulty(worker, d), nil
}
