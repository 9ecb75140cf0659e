package stratum

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tarbela-pool/tarbela/share"
)

// TestAddrKey: IPv4 is keyed by the exact address however it was seen, IPv6
// by its prefix of the configured length, without zone.
func TestAddrKey(t *testing.T) {
	tests := []struct {
		name   string
		addr   string
		v6bits int
		want   string
	}{
		{"IPv4 is exact", "192.0.2.77", 64, "192.0.2.77/32"},
		{"IPv4 ignores the IPv6 length", "192.0.2.77", 32, "192.0.2.77/32"},
		{"IPv4-mapped is the IPv4 address", "::ffff:192.0.2.77", 64, "192.0.2.77/32"},
		{"IPv4-mapped at /128 too", "::ffff:192.0.2.77", 128, "192.0.2.77/32"},
		{"IPv6 /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::/64"},
		{"IPv6 /48", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 48, "2001:db8:1::/48"},
		{"IPv6 /128 is exact", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", 128, "2001:db8:1:2:aaaa:bbbb:cccc:dddd/128"},
		{"IPv6 /32", "2001:db8:ffff:2::1", 32, "2001:db8::/32"},
		{"IPv6 zone dropped", "fe80::1:2:3:4%eth0", 64, "fe80::/64"},
		{"loopback", "::1", 64, "::/64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := addrKey(netip.MustParseAddr(tc.addr), tc.v6bits)
			if got.String() != tc.want {
				t.Fatalf("addrKey(%s, %d) = %s, want %s", tc.addr, tc.v6bits, got, tc.want)
			}
		})
	}
	if got := addrKey(netip.Addr{}, 64); got.IsValid() {
		t.Fatalf("addrKey of the zero Addr = %s, want the zero Prefix", got)
	}
}

// TestGuardIPv6Grouping: addresses under one key share the per-address limit
// and the ban, addresses under different keys do not, and an allowlisted
// address exempts only itself, not the rest of its prefix.
func TestGuardIPv6Grouping(t *testing.T) {
	const (
		hostA     = "2001:db8:1:2::a"
		hostB     = "2001:db8:1:2:ffff::b" // same /64 and /48 as hostA
		otherNet  = "2001:db8:1:3::a"      // same /48, another /64
		v4        = "198.51.100.7"
		v4Mapped  = "::ffff:198.51.100.7"
		v4Sibling = "198.51.100.8"
	)
	tests := []struct {
		name   string
		v6bits int
		allow  string
		// first opens the connections that fill the limit of 2;
		// refused and admitted are tried afterwards.
		first, refused, admitted []string
	}{
		{"two hosts in one /64 share a limit", 64, "",
			[]string{hostA, hostB}, []string{hostA, hostB}, []string{otherNet, v4}},
		{"/48 groups neighbouring /64s", 48, "",
			[]string{hostA, otherNet}, []string{hostB}, []string{"2001:db8:2::1"}},
		{"/128 keeps hosts apart", 128, "",
			[]string{hostA, hostA}, []string{hostA}, []string{hostB, otherNet}},
		{"IPv4-mapped and IPv4 are one address", 64, "",
			[]string{v4, v4Mapped}, []string{v4, v4Mapped}, []string{v4Sibling}},
		{"allowlisted host exempts only itself", 64, hostA + "/128",
			[]string{hostB, hostB}, []string{hostB}, []string{hostA, hostA, hostA}},
	}
	now := time.Unix(1_700_000_000, 0)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{MaxConnectionsPerIP: 2, BanDuration: time.Minute, IPv6Prefix: tc.v6bits}
			if tc.allow != "" {
				o.AllowIPs = []netip.Prefix{netip.MustParsePrefix(tc.allow)}
			}
			o = o.withDefaults()
			g := newGuard(&o)
			try := func(addr string, want refusal) {
				t.Helper()
				if _, why := g.admit(netip.MustParseAddr(addr), 0, now); why != want {
					t.Fatalf("admit(%s) = %v, want %v", addr, why, want)
				}
			}
			for _, a := range tc.first {
				try(a, admitted)
			}
			for _, a := range tc.refused {
				try(a, refusedLimit)
			}
			for _, a := range tc.admitted {
				try(a, admitted)
			}
		})
	}
}

// TestGuardIPv6SharedBan: rejects from two addresses of one /64 add up to
// one ban of the /64, which refuses a third address of it and no other
// prefix, and which counts as one banned address.
func TestGuardIPv6SharedBan(t *testing.T) {
	o := Options{BanDuration: time.Minute}.withDefaults()
	o.BanMinRejects = 4
	g := newGuard(&o)
	now := time.Unix(1_700_000_000, 0)
	a, b := netip.MustParseAddr("2001:db8:5:6::1"), netip.MustParseAddr("2001:db8:5:6:1234::2")
	stA, _ := g.admit(a, 0, now)
	stB, _ := g.admit(b, 1, now)
	if stA != stB {
		t.Fatal("two addresses of one /64 got different entries")
	}
	if got := stA.addr.String(); got != "2001:db8:5:6::/64" {
		t.Fatalf("entry key %s, want 2001:db8:5:6::/64", got)
	}
	banned := false
	for i := range 4 {
		st := stA
		if i%2 == 1 {
			st = stB
		}
		banned = g.rejectedShare(st, now)
		if banned != (i == 3) {
			t.Fatalf("after %d rejects banned = %v", i+1, banned)
		}
	}
	tests := []struct {
		addr string
		want refusal
	}{
		{"2001:db8:5:6:ffff:ffff:ffff:ffff", refusedBanned},
		{"2001:db8:5:6::1", refusedBanned},
		{"2001:db8:5:7::1", admitted},
		{"192.0.2.1", admitted},
	}
	for _, tc := range tests {
		if _, why := g.admit(netip.MustParseAddr(tc.addr), 0, now); why != tc.want {
			t.Errorf("admit(%s) during the /64's ban = %v, want %v", tc.addr, why, tc.want)
		}
	}
	if n := g.bannedCount(now); n != 1 {
		t.Fatalf("bannedCount = %d, want 1", n)
	}
}

// TestIPv6PrefixOption: IPv6Prefix defaults to 64 and must be 32..128.
func TestIPv6PrefixOption(t *testing.T) {
	tests := []struct {
		name    string
		bits    int
		want    int
		wantErr bool
	}{
		{"default", 0, 64, false},
		{"shortest", 32, 32, false},
		{"exact", 128, 128, false},
		{"too short", 31, 0, true},
		{"too long", 129, 0, true},
		{"negative", -1, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := share.NewValidator(share.ValidatorOptions{Store: &memStore{}, Blocks: &recordingSink{}})
			o := Options{Listen: "127.0.0.1:0", Validator: v, Auth: fakeAuth{}, IPv6Prefix: tc.bits}
			s, err := NewServer(o)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "Options.IPv6Prefix") {
					t.Fatalf("err %v, want one naming Options.IPv6Prefix", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.guard.v6bits != tc.want {
				t.Fatalf("guard groups IPv6 by /%d, want /%d", s.guard.v6bits, tc.want)
			}
		})
	}
}

// TestIPv6LimitAndBan runs over real TCP on ::1: the per-address limit
// applies to IPv6 clients, a flood bans the client's /64, and the ban is
// logged under the prefix.
func TestIPv6LimitAndBan(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("IPv6 loopback unavailable: %v", err)
	}
	_ = ln.Close()
	const ip = "::1"
	core, logs := observer.New(zap.InfoLevel)
	e := startServer(t, func(o *Options) {
		o.Listen = "[::1]:0"
		o.MaxConnectionsPerIP, o.BanDuration, o.BanMinRejects = 2, time.Minute, floodRejects
		o.Log = zap.New(core)
	})
	dialFrom(t, e.srv, ip).served()
	fl := dialFrom(t, e.srv, ip)
	fl.served()
	expectRefused(t, e.srv, ip)
	if limit, _ := e.srv.Refused(); limit != 1 {
		t.Fatalf("Refused() limit = %d, want 1", limit)
	}

	const user = "tb1qbroken.rig"
	fl.mine(user)
	floodUnknownJob(t, e, fl, user)
	waitFor(t, "the banned prefix's connections to close", func() bool { return e.srv.Connections() == 0 })
	expectRefused(t, e.srv, ip)
	if _, banned := e.srv.Refused(); banned != 1 {
		t.Fatalf("Refused() banned = %d, want 1", banned)
	}
	bans := logs.FilterMessage("banning an address that floods rejected shares").AllUntimed()
	if len(bans) != 1 || bans[0].ContextMap()["addr"] != "::/64" {
		t.Fatalf("want one ban logged for ::/64, got %v", bans)
	}
}
