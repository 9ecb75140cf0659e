package energy

import (
	"net/netip"
	"strings"

	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// Unassigned is the site of a worker no configured site claims.
const Unassigned = redisstore.UnassignedSite

// Site is one mining site as configured ([[sites]]).
type Site struct {
	Name string
	// Accounts, WorkerPrefixes and Addresses say which workers belong to
	// the site: a worker whose full name starts with one of the prefixes,
	// else whose account is listed, else whose connection comes from one
	// of the address ranges (that precedence: most specific first).
	Accounts       []string
	WorkerPrefixes []string
	Addresses      []netip.Prefix
	// JPerTH is the fleet's efficiency in joules per terahash, Overhead
	// the PUE-style factor (≥ 1) for cooling and the rest of the site.
	JPerTH   float64
	Overhead float64
	// MeterTolerance is the relative margin beyond the estimate's 95 %
	// interval that a meter reading may lie before it is flagged.
	MeterTolerance float64
	// Fleets are parts of a mixed fleet with their own efficiency, chosen
	// by the worker's rig name (the part after "account.").
	Fleets []Fleet
}

// Fleet is a part of a site's fleet: rigs whose name starts with
// RigPrefix, at JPerTH.
type Fleet struct {
	Name      string
	RigPrefix string
	JPerTH    float64
}

// Sites resolves workers to sites. Build it with NewSites from a
// configuration that config.Validate accepted (no overlaps): it does not
// check again.
type Sites struct {
	list     []Site
	byName   map[string]int
	accounts map[string]int
}

// NewSites returns the resolver of list.
func NewSites(list []Site) *Sites {
	s := &Sites{list: list, byName: map[string]int{}, accounts: map[string]int{}}
	for i, st := range list {
		s.byName[st.Name] = i
		for _, a := range st.Accounts {
			s.accounts[a] = i
		}
	}
	return s
}

// List returns the configured sites.
func (s *Sites) List() []Site { return s.list }

// Resolve names the unit a worker's shares count for: the site's name, or
// "site/fleet" for a fleet of a mixed site; "" (unassigned) when no site
// claims it. It runs once per authorize.
func (s *Sites) Resolve(account, worker string, addr netip.Addr) string {
	if s == nil {
		return ""
	}
	best, bestLen := -1, -1
	for i := range s.list {
		for _, p := range s.list[i].WorkerPrefixes {
			if len(p) > bestLen && strings.HasPrefix(worker, p) {
				best, bestLen = i, len(p)
			}
		}
	}
	if best < 0 {
		if i, ok := s.accounts[account]; ok {
			best = i
		}
	}
	if best < 0 && addr.IsValid() {
		for i := range s.list {
			for _, p := range s.list[i].Addresses {
				if p.Bits() > bestLen && p.Contains(addr) {
					best, bestLen = i, p.Bits()
				}
			}
		}
	}
	if best < 0 {
		return ""
	}
	st := &s.list[best]
	_, rig, _ := strings.Cut(worker, ".")
	fleet, fl := "", -1
	for _, f := range st.Fleets {
		if len(f.RigPrefix) > fl && strings.HasPrefix(rig, f.RigPrefix) {
			fleet, fl = f.Name, len(f.RigPrefix)
		}
	}
	if fleet != "" {
		return st.Name + "/" + fleet
	}
	return st.Name
}

// SiteOf returns the site part of a unit name.
func SiteOf(unit string) string {
	site, _, _ := strings.Cut(unit, "/")
	return site
}

// Site returns the configured site named name.
func (s *Sites) Site(name string) (Site, bool) {
	if s == nil {
		return Site{}, false
	}
	i, ok := s.byName[name]
	if !ok {
		return Site{}, false
	}
	return s.list[i], true
}

// Efficiency returns the J/TH and overhead of a unit; ok is false for a
// unit of no configured site (unassigned, or a site since removed).
func (s *Sites) Efficiency(unit string) (jPerTH, overhead float64, ok bool) {
	site, fleet, _ := strings.Cut(unit, "/")
	st, ok := s.Site(site)
	if !ok {
		return 0, 0, false
	}
	j := st.JPerTH
	for _, f := range st.Fleets {
		if f.Name == fleet {
			j = f.JPerTH
		}
	}
	return j, st.Overhead, true
}
