package stratum

import (
	"cmp"
	"encoding/hex"
	"errors"
	"math"
	"net"
	"net/netip"
	"slices"
	"time"
	"unique"

	"go.uber.org/zap"
)

// The admin's view of the server: list this node's connections, kick
// workers and addresses, ban and unban addresses, fix a worker's
// difficulty. Each call takes the session set under Server.mu, releases
// it, then takes each session's mutex in turn (never both: see doc.go).

// hashesPerDifficulty is the expected number of hashes behind one share of
// difficulty 1 (2^32).
const hashesPerDifficulty = 1 << 32

// ConnInfo describes one open connection.
type ConnInfo struct {
	// ID numbers the connection among this server's, from 1.
	ID uint64
	// Workers are the usernames authorized on the connection, the first
	// one first (a proxy authorizes several).
	Workers []string
	// Accounts are the workers' payout accounts, once each.
	Accounts []string
	// Remote is the miner's address and port.
	Remote netip.AddrPort
	// Agent is the user agent from mining.subscribe (at most 64 bytes,
	// printable ASCII), "" when none was given.
	Agent string
	// Difficulty is the difficulty of the jobs sent from now on; Fixed
	// says it was fixed (d=N password or SetWorkerDifficulty) rather than
	// left to vardiff.
	Difficulty float64
	Fixed      bool
	// Hashrate is the estimate in H/s from the accepted work of the
	// current vardiff window, or of the last closed one while the current
	// one is younger than the retarget interval; 0 before the first job.
	Hashrate float64
	// Connected is when the connection was accepted.
	Connected time.Time
	// Extranonce1 is the connection's extranonce1 in hex, "" before
	// mining.subscribe.
	Extranonce1 string
	// Accepted and Rejected count the connection's shares.
	Accepted, Rejected uint64
}

// ConnFilter selects connections for ListConnections; zero fields select
// all.
type ConnFilter struct {
	// Account keeps connections with a worker of this payout account.
	Account string
	// Worker keeps connections on which this username is authorized.
	Worker string
	// Limit keeps the first Limit connections by ID (0: all).
	Limit int
}

// ListConnections returns the open connections that f selects, by ID (the
// oldest first).
func (s *Server) ListConnections(f ConnFilter) []ConnInfo {
	now := time.Now()
	var out []ConnInfo
	for _, sess := range s.snapshot() {
		if sess.closed() {
			continue
		}
		if info, ok := sess.info(f, now); ok {
			out = append(out, info)
		}
	}
	slices.SortFunc(out, func(a, b ConnInfo) int { return cmp.Compare(a.ID, b.ID) })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out
}

// info describes the session when f selects it.
func (s *session) info(f ConnFilter, now time.Time) (ConnInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Worker != "" && s.findWorker(f.Worker) == nil {
		return ConnInfo{}, false
	}
	info := ConnInfo{ID: s.id, Connected: s.connected, Difficulty: s.diff, Fixed: s.fixed,
		Hashrate: s.hashrate(now), Accepted: uint64(s.accepted), Rejected: uint64(s.rejected)}
	if ta, ok := s.conn.RemoteAddr().(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		info.Remote = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if s.agent != (unique.Handle[string]{}) {
		info.Agent = s.agent.Value()
	}
	if s.subscribed {
		info.Extranonce1 = hex.EncodeToString(s.en1[:])
	}
	add := func(user, account string) {
		info.Workers = append(info.Workers, user)
		if !slices.Contains(info.Accounts, account) {
			info.Accounts = append(info.Accounts, account)
		}
	}
	if s.worker != nil {
		add(s.user, s.worker.Account)
		more := make([]string, 0, len(s.more))
		for user := range s.more {
			more = append(more, user)
		}
		slices.Sort(more)
		for _, user := range more {
			add(user, s.more[user].Account)
		}
	}
	if f.Account != "" && !slices.Contains(info.Accounts, f.Account) {
		return ConnInfo{}, false
	}
	return info, true
}

// hashrate estimates the connection's hashrate in H/s: the current vardiff
// window's accepted work over its length, or the last closed window's rate
// while the current one is younger than the retarget interval (a fresh
// window holds too few shares to say much). A fixed difficulty's window
// never closes, so it is the work since it was fixed. s.mu is held.
func (s *session) hashrate(now time.Time) float64 {
	if !s.ready {
		return 0
	}
	elapsed := now.Sub(s.vd.start)
	if s.rate > 0 && elapsed < s.srv.difficulty().RetargetInterval || elapsed <= 0 {
		return s.rate
	}
	return s.vd.sum * hashesPerDifficulty / elapsed.Seconds()
}

// KickWorker closes every connection on which username is authorized and
// returns how many it closed. The miner may reconnect at once; Ban keeps
// an address out.
func (s *Server) KickWorker(username string) int {
	n := 0
	for _, sess := range s.snapshot() {
		sess.mu.Lock()
		found := sess.findWorker(username) != nil
		sess.mu.Unlock()
		if found && !sess.closed() {
			sess.close("kicked by the admin")
			n++
		}
	}
	return n
}

// KickAddress closes every connection from addr (for IPv6, from the prefix
// of Options.IPv6Prefix bits that holds it, as bans count) and returns how
// many it closed.
func (s *Server) KickAddress(addr netip.Addr) int {
	key := addrKey(addr, s.guard.v6bits)
	n := 0
	for _, sess := range s.snapshot() {
		if addrKey(remoteAddr(sess.conn), s.guard.v6bits) == key && !sess.closed() {
			sess.close("kicked by the admin")
			n++
		}
	}
	return n
}

// Ban is an address refused until Until: an IPv4 address (a /32) or an IPv6
// prefix of Options.IPv6Prefix bits.
type Ban struct {
	Addr  netip.Prefix
	Until time.Time
}

// Errors of Ban.
var (
	// ErrAllowlisted means the address is in AllowIPs, which bans never
	// touch.
	ErrAllowlisted = errors.New("the address is in allow_ips, which is exempt from bans")
	// ErrNotTracked means addresses are not tracked at all: no
	// per-address limit and bans disabled (BanDuration 0), so a ban
	// would never be looked at.
	ErrNotTracked = errors.New("bans are disabled (ban_duration is 0 and there is no per-address limit)")
	// ErrBadBan means an invalid address or a duration that is not
	// positive.
	ErrBadBan = errors.New("a ban needs a valid address and a positive duration")
)

// Ban refuses new connections from addr (for IPv6, from its prefix of
// Options.IPv6Prefix bits) for d, and closes the ones open now, as a flood
// ban does. A ban already in force is replaced by the new end. Addresses
// in AllowIPs cannot be banned (ErrAllowlisted). Admin bans are not counted
// in Floods.
func (s *Server) Ban(addr netip.Addr, d time.Duration) (Ban, error) {
	addr = addr.Unmap()
	if !addr.IsValid() || d <= 0 {
		return Ban{}, ErrBadBan
	}
	g := s.guard
	if g.allowed(addr) {
		return Ban{}, ErrAllowlisted
	}
	if !g.policy().track {
		return Ban{}, ErrNotTracked
	}
	key := addrKey(addr, g.v6bits)
	until := time.Now().Add(d)
	g.mu.Lock()
	st := g.addrs[key]
	if st == nil {
		st = &addrState{addr: key}
		g.addrs[key] = st
	}
	st.bannedUntil.Store(until.UnixNano())
	g.mu.Unlock()
	s.closeAddr(st, nil)
	s.log.Info("address banned by the admin", zap.Stringer("addr", key), zap.Duration("for", d))
	return Ban{Addr: key, Until: until}, nil
}

// Unban lifts the ban on addr's address (IPv6: its prefix) and clears its
// flood tally, so it starts afresh; false when it was not banned.
func (s *Server) Unban(addr netip.Addr) bool {
	addr = addr.Unmap()
	if !addr.IsValid() {
		return false
	}
	g := s.guard
	key := addrKey(addr, g.v6bits)
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.addrs[key]
	if st == nil || !st.banned(now) {
		return false
	}
	st.bannedUntil.Store(0)
	st.mu.Lock()
	st.start, st.rejected = time.Time{}, 0
	st.mu.Unlock()
	st.accepted.Store(0)
	s.log.Info("address unbanned by the admin", zap.Stringer("addr", key))
	return true
}

// Bans returns the bans in force, by address.
func (s *Server) Bans() []Ban {
	g := s.guard
	now := time.Now()
	var out []Ban
	g.mu.Lock()
	for key, st := range g.addrs {
		if st.banned(now) {
			out = append(out, Ban{Addr: key, Until: time.Unix(0, st.bannedUntil.Load())})
		}
	}
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b Ban) int {
		return cmp.Or(a.Addr.Addr().Compare(b.Addr.Addr()), cmp.Compare(a.Addr.Bits(), b.Addr.Bits()))
	})
	return out
}

// SetWorkerDifficulty fixes the difficulty of every connection on which
// username is authorized, as a d=N password does: d is bounded to the
// difficulty policy's [Min, Max], vardiff stops for the connection, and a
// mining connection is sent mining.set_difficulty and its current job
// again under a new id. The difficulty is the connection's, so other
// workers on it (a proxy) get it too. It returns how many connections it
// set.
func (s *Server) SetWorkerDifficulty(username string, d float64) int {
	if !(d > 0) || math.IsInf(d, 0) {
		return 0
	}
	n := 0
	for _, sess := range s.snapshot() {
		if sess.fixDifficulty(username, d) {
			n++
		}
	}
	return n
}

// fixDifficulty fixes the session's difficulty at d (bounded) when
// username is authorized on it.
func (s *session) fixDifficulty(username string, d float64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed() || s.findWorker(username) == nil {
		return false
	}
	o := s.srv.difficulty()
	s.fixed = true
	s.setDifficulty(clampDifficulty(d, o.Min, o.Max))
	return true
}
