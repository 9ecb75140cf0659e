package stratum

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// guardEvery is how often refusals are summarized in the log and idle
// per-address entries are swept. Refusals are never logged one by one: a
// full pool or a banned flooder reconnecting in a loop must not turn into a
// log storm.
const guardEvery = 10 * time.Second

// refusal says why a new connection was refused.
type refusal uint8

const (
	admitted refusal = iota
	refusedLimit
	refusedBanned
)

// guard admits new connections against the global and per-address limits
// and the ban list, and keeps the per-address share tallies that decide a
// ban. Addresses in Options.AllowIPs have no entry: they are exempt from the
// per-address limit and from bans.
//
// An "address" here is a key made by addrKey: an IPv4 address, or the IPv6
// prefix (Options.IPv6Prefix bits) that holds the remote address, because
// one IPv6 host is handed a whole /64 and could otherwise open connections
// and dodge bans from as many addresses as it likes.
//
// Locking: guard.mu guards addrs and each entry's conns; an entry's own
// mutex guards its tally. guard.mu may be held while an entry's mutex is
// taken, never the reverse; an entry's mutex may be taken while a session's
// mutex is held.
type guard struct {
	// pol is the policy in force; setPolicy replaces it on a reload.
	pol atomic.Pointer[guardPolicy]

	// v6bits is Options.IPv6Prefix. It is fixed for the guard's life:
	// entries are keyed by it, and open connections hold their entry.
	v6bits int

	mu    sync.Mutex
	addrs map[netip.Prefix]*addrState

	refusedLimit, refusedBanned atomic.Uint64
	kicks, bans                 atomic.Uint64
	// logMu guards loggedLimit and loggedBanned, the refusal counts at the
	// last summary.
	logMu                     sync.Mutex
	loggedLimit, loggedBanned uint64
}

// addrState is one remote address's (or IPv6 prefix's) connection count,
// ban and share tally.
type addrState struct {
	// addr is the entry's key from addrKey; logs name it, so that a ban
	// reads as the prefix it covers (2001:db8:1:2::/64).
	addr netip.Prefix
	// conns is the number of open connections; guarded by guard.mu.
	conns int
	// bannedUntil is the unix-nano end of the address's ban, 0 when none.
	// It is atomic so that banning, done on the share path, never needs
	// guard.mu.
	bannedUntil atomic.Int64
	// accepted counts accepted shares since the tally window began; it is
	// atomic so that the accept path, which is hot, takes no lock.
	accepted atomic.Int64

	mu sync.Mutex // guards the fields below
	// start is when the tally window began (at a rejected share);
	// rejected counts rejected shares since.
	start    time.Time
	rejected int
}

// guardPolicy is the part of Options the guard enforces. It is replaced
// whole on a reload, never modified.
type guardPolicy struct {
	maxConns   int64
	perAddr    int
	allow      []netip.Prefix
	banFor     time.Duration
	window     time.Duration
	minRejects int
	ratio      float64
	// track says whether addresses need entries at all: without a
	// per-address limit and without bans there is nothing to keep. When a
	// reload turns tracking on, connections already open are not counted
	// against their address until they reconnect.
	track bool
}

func newGuard(o *Options) *guard {
	g := &guard{addrs: make(map[netip.Prefix]*addrState), v6bits: o.IPv6Prefix}
	g.setPolicy(o)
	return g
}

// addrKey returns the key that addr's connections, tallies and bans are
// kept under: an IPv4 address (also when seen as IPv4-mapped IPv6) as
// itself, an IPv6 address as its v6bits-bit prefix, without zone. The zero
// Addr gives the zero Prefix.
func addrKey(addr netip.Addr, v6bits int) netip.Prefix {
	addr = addr.Unmap()
	bits := v6bits
	if addr.Is4() {
		bits = 32
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		// Only the zero Addr or bits outside 0..128, which validate
		// rules out.
		return netip.Prefix{}
	}
	return p
}

// setPolicy puts the limits and ban rules of o in force.
func (g *guard) setPolicy(o *Options) {
	g.pol.Store(&guardPolicy{
		maxConns:   int64(o.MaxConnections),
		perAddr:    o.MaxConnectionsPerIP,
		allow:      o.AllowIPs,
		banFor:     o.BanDuration,
		window:     o.BanWindow,
		minRejects: o.BanMinRejects,
		ratio:      o.BanRejectRatio,
		track:      o.MaxConnectionsPerIP > 0 || o.BanDuration > 0,
	})
}

// policy returns the policy in force.
func (g *guard) policy() *guardPolicy { return g.pol.Load() }

// remoteAddr returns the connection's remote IP address, IPv4 unmapped so
// that one miner has one key however the listener saw it.
func remoteAddr(conn net.Conn) netip.Addr {
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// allowed reports whether addr is a site address from Options.AllowIPs.
func (g *guard) allowed(addr netip.Addr) bool {
	for _, p := range g.policy().allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// admit decides on a new connection from addr while open connections are
// open. When admitted it returns the entry of addr's key (see addrKey; nil
// when the address is not tracked), to be handed back to release when the
// connection ends. The allowlist is matched against addr itself, so a site
// address exempts only itself, not its neighbours in the same prefix.
// The global limit is checked first because it is the cheapest refusal and
// the one a full pool makes most.
func (g *guard) admit(addr netip.Addr, open int64, now time.Time) (*addrState, refusal) {
	if open >= g.policy().maxConns {
		g.refusedLimit.Add(1)
		return nil, refusedLimit
	}
	if !g.policy().track || !addr.IsValid() || g.allowed(addr) {
		return nil, admitted
	}
	key := addrKey(addr, g.v6bits)
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.addrs[key]
	if st != nil {
		if st.banned(now) {
			g.refusedBanned.Add(1)
			return nil, refusedBanned
		}
		if g.policy().perAddr > 0 && st.conns >= g.policy().perAddr {
			g.refusedLimit.Add(1)
			return nil, refusedLimit
		}
	} else {
		st = &addrState{addr: key}
		g.addrs[key] = st
	}
	st.conns++
	return st, admitted
}

// release forgets one connection of st's address. The entry is dropped when
// it has no connections, no ban and no recent tally; otherwise the sweep
// drops it later, so that reconnecting does not wipe a flooder's tally.
func (g *guard) release(st *addrState, now time.Time) {
	if st == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	st.conns--
	if st.idle(now, g.policy().window) {
		delete(g.addrs, st.addr)
	}
}

// banned reports whether the address is banned at now.
func (st *addrState) banned(now time.Time) bool {
	return st.bannedUntil.Load() > now.UnixNano()
}

// idle reports whether the entry holds nothing worth keeping: no
// connections, no ban and no tally younger than window. guard.mu is held.
func (st *addrState) idle(now time.Time, window time.Duration) bool {
	if st.conns > 0 || st.banned(now) {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.rejected == 0 || now.Sub(st.start) >= window
}

// flood reports whether rejected shares out of rejected+accepted make a
// clear flood: at least minRejects of them, and more than ratio of all.
func (g *guard) flood(rejected, accepted int64) bool {
	return rejected >= int64(g.policy().minRejects) && float64(rejected) > g.policy().ratio*float64(rejected+accepted)
}

// acceptedShare tallies an accepted share for st's address.
func (st *addrState) acceptedShare() {
	st.accepted.Add(1)
}

// rejectedShare tallies a rejected share for st's address and reports
// whether it has just been banned. A ban clears the tally, so that the
// address starts afresh when the ban ends.
func (g *guard) rejectedShare(st *addrState, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if now.Sub(st.start) >= g.policy().window {
		st.start, st.rejected = now, 0
		st.accepted.Store(0)
	}
	st.rejected++
	if g.policy().banFor <= 0 || !g.flood(int64(st.rejected), st.accepted.Load()) || st.banned(now) {
		return false
	}
	st.bannedUntil.Store(now.Add(g.policy().banFor).UnixNano())
	st.rejected = 0
	st.accepted.Store(0)
	g.bans.Add(1)
	return true
}

// bannedCount returns the number of addresses (IPv4 addresses and IPv6
// prefixes) banned at now.
func (g *guard) bannedCount(now time.Time) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, st := range g.addrs {
		if st.banned(now) {
			n++
		}
	}
	return n
}

// sweep drops the entries that hold nothing worth keeping any more.
func (g *guard) sweep(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for key, st := range g.addrs {
		if st.idle(now, g.policy().window) {
			delete(g.addrs, key)
		}
	}
}

// summarize logs the refusals since the previous summary, if any, as one
// line: the only log a refusal ever produces.
func (g *guard) summarize(log *zap.Logger) {
	g.logMu.Lock()
	defer g.logMu.Unlock()
	limit, banned := g.refusedLimit.Load(), g.refusedBanned.Load()
	dl, db := limit-g.loggedLimit, banned-g.loggedBanned
	if dl == 0 && db == 0 {
		return
	}
	g.loggedLimit, g.loggedBanned = limit, banned
	log.Warn("refused connections", zap.Uint64("over_limit", dl), zap.Uint64("banned", db),
		zap.Duration("in", guardEvery), zap.Uint64("over_limit_total", limit), zap.Uint64("banned_total", banned))
}

// refuse closes a refused connection at once. Linger 0 makes the close a
// reset, so a client reconnecting in a loop leaves no TIME_WAIT sockets on
// the pool's side.
func refuse(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
