package config

import (
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// Site is one [[sites]] entry: a mining site whose electricity the energy
// audit tracks (docs/energy.md). A worker belongs to the site whose
// worker_prefixes match its full name (the longest prefix), else whose
// accounts list its account, else whose addresses hold its connection's
// address (the longest prefix); to no site ("unassigned") otherwise.
// Within each of the three, two sites may not claim the same worker.
type Site struct {
	Name           string         `toml:"name"`
	Accounts       []string       `toml:"accounts"`
	WorkerPrefixes []string       `toml:"worker_prefixes"`
	Addresses      []netip.Prefix `toml:"addresses"`
	// JPerTH is the fleet's efficiency, joules per terahash (> 0).
	JPerTH float64 `toml:"j_per_th"`
	// Overhead is the PUE-style factor for cooling and the rest of the
	// site (≥ 1; 0 or unset means 1).
	Overhead float64 `toml:"overhead"`
	// MeterTolerance is how far, relative, a meter may lie beyond the
	// estimate's 95 % interval before the hour is flagged (≥ 0).
	MeterTolerance float64 `toml:"meter_tolerance"`
	// Fleets give parts of a mixed fleet their own efficiency.
	Fleets []Fleet `toml:"fleets"`
}

// Fleet is a [[sites.fleets]] entry: the site's rigs whose name (the part
// of the username after "account.") starts with RigPrefix, at JPerTH. The
// longest matching prefix wins; other rigs take the site's j_per_th.
type Fleet struct {
	Name      string  `toml:"name"`
	RigPrefix string  `toml:"rig_prefix"`
	JPerTH    float64 `toml:"j_per_th"`
}

// Energy is the [energy] section: closing hours into the signed chain.
type Energy struct {
	// KeyFile is the Ed25519 key (tarbela energy keygen) that signs closed
	// hours; without it the daemon does not close hours (cron can, with
	// `tarbela energy close`).
	KeyFile string `toml:"key_file"`
	// Grace is how long after an hour ends it is closed (default 10m).
	Grace time.Duration `toml:"grace"`
	// CloseInterval is how often the daemon looks for hours to close
	// (default 1m).
	CloseInterval time.Duration `toml:"close_interval"`
	// Bucket is the width of the per-site work buckets that curtailment
	// reports read (default 1m; whole seconds from 1s, dividing an hour;
	// the same on every node).
	Bucket time.Duration `toml:"bucket"`
}

// siteNameRE keeps site names usable in Redis fields, file names and
// reports; "/" separates a site from its fleet in stored figures.
var siteNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ReservedSite is the site of workers no [[sites]] entry claims.
const ReservedSite = "unassigned"

func validateSites(sites []Site, p *problems) {
	names := map[string]int{}
	accounts := map[string]string{}
	type owned struct {
		path string
		site int
	}
	var prefixes []owned
	var prefixVals []string
	var addrs []owned
	var addrVals []netip.Prefix
	for i := range sites {
		s := &sites[i]
		path := fmt.Sprintf("sites[%d]", i)
		switch {
		case !siteNameRE.MatchString(s.Name):
			p.add(path+".name", "%q: want 1 to 64 letters, digits, '-', '_' or '.'", s.Name)
		case s.Name == ReservedSite:
			p.add(path+".name", "%q is reserved for workers no site claims; choose another name", s.Name)
		default:
			if j, dup := names[s.Name]; dup {
				p.add(path+".name", "duplicates sites[%d].name %q; names must be unique", j, s.Name)
			}
			names[s.Name] = i
		}
		if len(s.Accounts)+len(s.WorkerPrefixes)+len(s.Addresses) == 0 {
			p.add(path, "claims no worker: set accounts, worker_prefixes or addresses")
		}
		checkEfficiency(p, path+".j_per_th", s.JPerTH)
		switch {
		case s.Overhead == 0:
		case math.IsNaN(s.Overhead) || math.IsInf(s.Overhead, 0) || s.Overhead < 1:
			p.add(path+".overhead", "%v: a PUE-style factor is at least 1 (1.1 = 10 %% for cooling); leave it out for 1", s.Overhead)
		}
		if math.IsNaN(s.MeterTolerance) || math.IsInf(s.MeterTolerance, 0) || s.MeterTolerance < 0 || s.MeterTolerance > 10 {
			p.add(path+".meter_tolerance", "%v: want a fraction from 0 to 10 (0.05 = 5 %%)", s.MeterTolerance)
		}
		for j, a := range s.Accounts {
			ap := fmt.Sprintf("%s.accounts[%d]", path, j)
			if a == "" || strings.ContainsAny(a, "|\r\n") {
				p.add(ap, "%q: want a payout address", a)
				continue
			}
			if other, dup := accounts[a]; dup {
				p.add(ap, "%q is also claimed by %s; a worker must belong to one site", a, other)
				continue
			}
			accounts[a] = ap
		}
		for j, w := range s.WorkerPrefixes {
			wp := fmt.Sprintf("%s.worker_prefixes[%d]", path, j)
			if w == "" {
				p.add(wp, "empty: a prefix of worker names such as \"bc1q….farm2-\"")
				continue
			}
			for k, o := range prefixes {
				if o.site != i && (strings.HasPrefix(w, prefixVals[k]) || strings.HasPrefix(prefixVals[k], w)) {
					p.add(wp, "%q overlaps %s %q: a worker must belong to one site", w, o.path, prefixVals[k])
				}
			}
			prefixes = append(prefixes, owned{wp, i})
			prefixVals = append(prefixVals, w)
		}
		for j, a := range s.Addresses {
			ap := fmt.Sprintf("%s.addresses[%d]", path, j)
			for k, o := range addrs {
				if o.site != i && a.Overlaps(addrVals[k]) {
					p.add(ap, "%s overlaps %s %s: a worker must belong to one site", a, o.path, addrVals[k])
				}
			}
			addrs = append(addrs, owned{ap, i})
			addrVals = append(addrVals, a)
		}
		fleets := map[string]bool{}
		rigs := map[string]bool{}
		for j, f := range s.Fleets {
			fp := fmt.Sprintf("%s.fleets[%d]", path, j)
			if !siteNameRE.MatchString(f.Name) || fleets[f.Name] {
				p.add(fp+".name", "%q: want a unique name of letters, digits, '-', '_' or '.'", f.Name)
			}
			fleets[f.Name] = true
			if f.RigPrefix == "" || rigs[f.RigPrefix] {
				p.add(fp+".rig_prefix", "%q: want a non-empty rig name prefix, unique within the site", f.RigPrefix)
			}
			rigs[f.RigPrefix] = true
			checkEfficiency(p, fp+".j_per_th", f.JPerTH)
		}
	}
}

func checkEfficiency(p *problems, field string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 || v > 1e6 {
		p.add(field, "%v: want the efficiency in joules per terahash, above 0 (an S19 is about 30)", v)
	}
}

func (e *Energy) validate(p *problems) {
	if e.Grace < 0 {
		p.add("energy.grace", "%v is negative; want a duration such as \"10m\"", e.Grace)
	}
	if e.CloseInterval < 0 {
		p.add("energy.close_interval", "%v is negative; want a duration such as \"1m\"", e.CloseInterval)
	}
	if e.Bucket < time.Second || e.Bucket%time.Second != 0 || time.Hour%e.Bucket != 0 {
		p.add("energy.bucket", "%v: want whole seconds from 1s that divide an hour, such as \"1m\" or \"10s\"", e.Bucket)
	}
	if strings.ContainsAny(e.KeyFile, "\x00\r\n") {
		p.add("energy.key_file", "must be a file path without control characters")
	}
}
