package stratum

import (
	"net/netip"
	"time"
)

// Live is the part of Options that can change while the server runs: the
// difficulty policy and the connection limits and ban rules. Everything
// else (listen address, extranonce sizes, timeouts, queues, version
// rolling, and IPv6Prefix) is fixed for the server's life. IPv6Prefix is
// the key of every per-address entry, and open connections hold theirs:
// regrouping live would split or merge counts and bans under keys that
// open connections do not hold, so a new grouping needs a restart.
type Live struct {
	Difficulty          DifficultyOptions
	MaxConnections      int
	MaxConnectionsPerIP int
	AllowIPs            []netip.Prefix
	BanDuration         time.Duration
	BanMinRejects       int
	BanRejectRatio      float64
	BanWindow           time.Duration
}

// Live returns the live settings in force.
func (s *Server) Live() Live {
	p := s.guard.policy()
	return Live{
		Difficulty: *s.difficulty(), MaxConnections: int(p.maxConns), MaxConnectionsPerIP: p.perAddr,
		AllowIPs: p.allow, BanDuration: p.banFor, BanMinRejects: p.minRejects, BanRejectRatio: p.ratio, BanWindow: p.window,
	}
}

// Reload puts new live settings in force, validated and defaulted as
// NewServer does; on an error nothing changes. New connections start at the
// new initial difficulty; open sessions move toward the new bounds at their
// next retarget (a fixed d=N difficulty stays). New limits apply to new
// connections and bans from now on; open connections are not closed. When
// the server started with neither a per-address limit nor bans, addresses
// were not tracked, so connections open before a reload that adds a
// per-address limit do not count against it until they reconnect.
func (s *Server) Reload(l Live) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	o := s.o
	o.Difficulty = l.Difficulty
	o.MaxConnections, o.MaxConnectionsPerIP, o.AllowIPs = l.MaxConnections, l.MaxConnectionsPerIP, l.AllowIPs
	o.BanDuration, o.BanMinRejects, o.BanRejectRatio, o.BanWindow = l.BanDuration, l.BanMinRejects, l.BanRejectRatio, l.BanWindow
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return err
	}
	old := s.difficulty().RetargetInterval
	d := o.Difficulty
	s.diff.Store(&d)
	s.guard.setPolicy(&o)
	if d.RetargetInterval != old {
		select {
		case <-s.retargetEvery: // replace a tick interval not yet taken
		default:
		}
		s.retargetEvery <- vardiffTick(d.RetargetInterval)
	}
	return nil
}
