package energy

import "github.com/tarbela-pool/tarbela/config"

// FromConfig returns the resolver of the [[sites]] of a validated config.
// An overhead left out (0) is 1.
func FromConfig(cs []config.Site) *Sites {
	list := make([]Site, len(cs))
	for i, c := range cs {
		s := Site{Name: c.Name, Accounts: c.Accounts, WorkerPrefixes: c.WorkerPrefixes, Addresses: c.Addresses,
			JPerTH: c.JPerTH, Overhead: c.Overhead, MeterTolerance: c.MeterTolerance}
		if s.Overhead == 0 {
			s.Overhead = 1
		}
		for _, f := range c.Fleets {
			s.Fleets = append(s.Fleets, Fleet{Name: f.Name, RigPrefix: f.RigPrefix, JPerTH: f.JPerTH})
		}
		list[i] = s
	}
	return NewSites(list)
}
