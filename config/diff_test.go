package config

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	base := func() *Config {
		c := Default()
		c.Nodes = []Node{DefaultNode(), DefaultNode()}
		return c
	}
	for _, c := range []struct {
		name string
		mod  func(c *Config)
		want []string
	}{
		{"same", func(c *Config) {}, nil},
		{"difficulty", func(c *Config) { c.Stratum.Difficulty.Min = 0.5 }, []string{"stratum.difficulty.min"}},
		{"allow list", func(c *Config) { c.Stratum.AllowIPs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} }, []string{"stratum.allow_ips"}},
		{"two fields", func(c *Config) { c.Stratum.BanWindow = time.Hour; c.Pool.CoinbaseTag = "/x/" },
			[]string{"pool.coinbase_tag", "stratum.ban_window"}},
		{"ipv6 grouping", func(c *Config) { c.Stratum.IPv6Prefix = 48 }, []string{"stratum.ipv6_prefix"}},
		{"node field", func(c *Config) { c.Nodes[1].RPCURL = "http://10.0.0.1:8332" }, []string{"nodes[1].rpc_url"}},
		{"node secret", func(c *Config) { c.Nodes[0].RPCPassword = "new" }, []string{"nodes[0].rpc_password"}},
		{"node count", func(c *Config) { c.Nodes = c.Nodes[:1] }, []string{"nodes"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := base()
			c.mod(b)
			if got := Diff(base(), b); !reflect.DeepEqual(got, c.want) {
				t.Errorf("Diff = %v, want %v", got, c.want)
			}
		})
	}
}

// TestDiffPrefixes: a changed address range in a list of the same length
// is a difference of the list (netip.Prefix is a value, not a table of
// keys), so that stratum.allow_ips stays a live key.
func TestDiffPrefixes(t *testing.T) {
	a, b := Default(), Default()
	a.Stratum.AllowIPs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	b.Stratum.AllowIPs = []netip.Prefix{netip.MustParsePrefix("11.0.0.0/8")}
	a.Sites = []Site{{Name: "x", Addresses: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}}
	b.Sites = []Site{{Name: "x", Addresses: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/16")}}}
	got := Diff(a, b)
	if !slices.Equal(got, []string{"stratum.allow_ips", "sites[0].addresses"}) {
		t.Errorf("Diff = %v", got)
	}
	if got := Diff(a, a); len(got) != 0 {
		t.Errorf("Diff of a config with itself = %v", got)
	}
}
