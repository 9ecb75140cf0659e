package config

import (
	"errors"
	"slices"
	"testing"
)

// TestSites checks a valid two-site file and each way [[sites]] can be
// wrong: every problem is named by its field.
func TestSites(t *testing.T) {
	good := `
[[sites]]
name = "north"
accounts = ["` + regtestAddr + `"]
worker_prefixes = ["acct.north-"]
addresses = ["10.1.0.0/16"]
j_per_th = 29.5
overhead = 1.1
meter_tolerance = 0.05
[[sites.fleets]]
name = "s21"
rig_prefix = "s21-"
j_per_th = 17.5
[[sites]]
name = "south"
addresses = ["10.2.0.0/16"]
j_per_th = 21
[energy]
key_file = "energy.key"
grace = "15m"
`
	c, err := Parse([]byte(poolBase+nodesBase+good), envOf(nil))
	if err != nil {
		t.Fatalf("valid sites: %v", err)
	}
	if len(c.Sites) != 2 || c.Sites[0].Fleets[0].JPerTH != 17.5 || c.Sites[1].Addresses[0].String() != "10.2.0.0/16" || c.Energy.Grace.Minutes() != 15 {
		t.Errorf("decoded %+v %+v", c.Sites, c.Energy)
	}
	bad := `
[[sites]]
name = "unassigned"
j_per_th = 0
overhead = 0.9
meter_tolerance = -1
[[sites]]
name = "a"
accounts = ["x"]
worker_prefixes = ["acct.a"]
addresses = ["10.0.0.0/8"]
j_per_th = 30
[[sites.fleets]]
name = "f"
rig_prefix = ""
j_per_th = -3
[[sites]]
name = "a"
accounts = ["x"]
worker_prefixes = ["acct.a-1"]
addresses = ["10.9.0.0/16"]
j_per_th = 30
`
	_, err = Parse([]byte(poolBase+nodesBase+bad), envOf(nil))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("bad sites: %v", err)
	}
	var fields []string
	for _, p := range ve.Problems {
		fields = append(fields, p.Field)
	}
	for _, f := range []string{"sites[0].name", "sites[0]", "sites[0].j_per_th", "sites[0].overhead", "sites[0].meter_tolerance",
		"sites[1].fleets[0].rig_prefix", "sites[1].fleets[0].j_per_th", "sites[2].name", "sites[2].accounts[0]",
		"sites[2].worker_prefixes[0]", "sites[2].addresses[0]"} {
		if !slices.Contains(fields, f) {
			t.Errorf("no problem for %s; got %v", f, ve.Problems)
		}
	}
}
