package stratum

import (
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// authorizeAs subscribes with agent and authorizes user with password
// pass, reading replies until the first job; it returns the job id.
func (c *client) authorizeAs(agent, user, pass string) string {
	c.t.Helper()
	b, _ := json.Marshal(map[string]any{"id": 1, "method": "mining.subscribe", "params": []string{agent}})
	c.send(string(b))
	c.expectReply("1")
	b, _ = json.Marshal(map[string]any{"id": 3, "method": "mining.authorize", "params": []string{user, pass}})
	c.send(string(b))
	c.expectResult("3", "true")
	c.expectDifficulty()
	id, _ := c.expectNotify()
	return id
}

// TestListConnections: the admin's list shows each connection's workers,
// accounts, agent (bounded and printable), difficulty, extranonce1 and
// share counts, by connection id, and filters by account, worker and
// limit.
func TestListConnections(t *testing.T) {
	e := startServer(t, nil)
	a := dialFrom(t, e.srv, honestIP)
	job := a.authorizeAs("bitaxe v2.2", "tb1qalice.rig1", "d=1e-12")
	b := dialFrom(t, e.srv, floodIP)
	longAgent := "cgminer/4.12\x01" + strings.Repeat("x", 100)
	b.authorizeAs(longAgent, "tb1qbob.rig1", "x")
	b.send(`{"id":4,"method":"mining.authorize","params":["tb1qalice.rig2","x"]}`)
	b.expectResult("4", "true")
	idle := dialFrom(t, e.srv, otherIP)
	idle.served()
	for i := range 3 {
		a.send(shareLine(t, e.vec, 20+i, "tb1qalice.rig1", job, uint32(i)))
		a.expectResult(jsonNum(20+i), "true")
	}
	a.send(shareLine(t, e.vec, 30, "tb1qalice.rig1", "ff", 7))
	a.expectError("30", 21)

	all := e.srv.ListConnections(ConnFilter{})
	if len(all) != 3 {
		t.Fatalf("%d connections, want 3: %+v", len(all), all)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			t.Fatalf("not ordered by id: %+v", all)
		}
	}
	ca, cb, ci := all[0], all[1], all[2]
	if strings.Join(ca.Workers, ",") != "tb1qalice.rig1" || strings.Join(ca.Accounts, ",") != "tb1qalice" {
		t.Errorf("first connection's workers %v, accounts %v", ca.Workers, ca.Accounts)
	}
	if ca.Agent != "bitaxe v2.2" || ca.Difficulty != 1e-12 || !ca.Fixed || ca.Remote.Addr().String() != honestIP {
		t.Errorf("first connection: %+v", ca)
	}
	if ca.Accepted != 3 || ca.Rejected != 1 || !(ca.Hashrate > 0) {
		t.Errorf("first connection: accepted %d rejected %d hashrate %v, want 3, 1, > 0", ca.Accepted, ca.Rejected, ca.Hashrate)
	}
	if len(ca.Extranonce1) != 8 || !strings.HasPrefix(ca.Extranonce1, "57") {
		t.Errorf("extranonce1 %q, want 8 hex digits of node 0x57", ca.Extranonce1)
	}
	if ca.Connected.IsZero() || time.Since(ca.Connected) < 0 {
		t.Errorf("connected at %v", ca.Connected)
	}
	wantAgent := "cgminer/4.12?" + strings.Repeat("x", maxAgentBytes-len("cgminer/4.12?"))
	if cb.Agent != wantAgent {
		t.Errorf("agent kept as %q, want %q", cb.Agent, wantAgent)
	}
	if strings.Join(cb.Workers, ",") != "tb1qbob.rig1,tb1qalice.rig2" || strings.Join(cb.Accounts, ",") != "tb1qbob,tb1qalice" {
		t.Errorf("second connection's workers %v, accounts %v", cb.Workers, cb.Accounts)
	}
	if cb.Fixed || cb.Difficulty != 512 {
		t.Errorf("second connection: difficulty %v fixed %v, want vardiff at 512", cb.Difficulty, cb.Fixed)
	}
	if len(ci.Workers) != 0 || ci.Extranonce1 != "" || ci.Agent != "" || ci.Hashrate != 0 {
		t.Errorf("unsubscribed connection: %+v", ci)
	}

	tests := []struct {
		name string
		f    ConnFilter
		want []uint64
	}{
		{"account on two connections", ConnFilter{Account: "tb1qalice"}, []uint64{ca.ID, cb.ID}},
		{"account", ConnFilter{Account: "tb1qbob"}, []uint64{cb.ID}},
		{"worker", ConnFilter{Worker: "tb1qalice.rig2"}, []uint64{cb.ID}},
		{"account and worker", ConnFilter{Account: "tb1qbob", Worker: "tb1qalice.rig1"}, nil},
		{"unknown account", ConnFilter{Account: "tb1qnobody"}, nil},
		{"limit", ConnFilter{Limit: 2}, []uint64{ca.ID, cb.ID}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint64
			for _, c := range e.srv.ListConnections(tc.f) {
				got = append(got, c.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ids %v, want %v", got, tc.want)
			}
		})
	}
}

func jsonNum(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestKick: KickWorker closes the connections a worker is authorized on,
// KickAddress those from an address; each returns the count, others stay.
func TestKick(t *testing.T) {
	e := startServer(t, nil)
	a := dialFrom(t, e.srv, honestIP)
	a.mine("tb1qalice.rig1")
	b1 := dialFrom(t, e.srv, floodIP)
	b1.mine("tb1qbob.rig1")
	b2 := dialFrom(t, e.srv, floodIP)
	b2.mine("tb1qbob.rig2")

	if n := e.srv.KickWorker("tb1qnobody.rig"); n != 0 {
		t.Fatalf("KickWorker of an unknown worker = %d", n)
	}
	if n := e.srv.KickWorker("tb1qalice.rig1"); n != 1 {
		t.Fatalf("KickWorker = %d, want 1", n)
	}
	a.expectClosed()
	if n := e.srv.KickAddress(netip.MustParseAddr(otherIP)); n != 0 {
		t.Fatalf("KickAddress of an address without connections = %d", n)
	}
	if n := e.srv.KickAddress(netip.MustParseAddr(floodIP)); n != 2 {
		t.Fatalf("KickAddress = %d, want 2", n)
	}
	b1.expectClosed()
	b2.expectClosed()
	waitFor(t, "the kicked sessions to end", func() bool { return e.srv.Connections() == 0 })
	// The kicked miner may come back at once.
	dialFrom(t, e.srv, honestIP).mine("tb1qalice.rig1")
}

// TestAdminBan: Ban closes the address's connections and refuses new ones
// until Unban, which lets it back; Bans lists the bans in force; other
// addresses are not touched; allowlisted addresses cannot be banned and a
// server that tracks no address refuses to ban.
func TestAdminBan(t *testing.T) {
	e := startServer(t, func(o *Options) {
		o.MaxConnectionsPerIP = 100
		o.AllowIPs = []netip.Prefix{netip.MustParsePrefix(otherIP + "/32")}
	})
	honest := newHonestMiner(t, e, honestIP)
	fl := dialFrom(t, e.srv, floodIP)
	fl.mine("tb1qbob.rig1")

	ban, err := e.srv.Ban(netip.MustParseAddr(floodIP), time.Hour)
	if err != nil {
		t.Fatalf("Ban: %v", err)
	}
	if ban.Addr.String() != floodIP+"/32" || time.Until(ban.Until) <= 59*time.Minute {
		t.Fatalf("Ban = %+v", ban)
	}
	fl.expectClosed()
	expectRefused(t, e.srv, floodIP)
	honest.share()
	if _, banned := e.srv.Refused(); banned != 1 {
		t.Fatalf("Refused() banned = %d, want 1", banned)
	}
	if _, bans := e.srv.Floods(); bans != 0 {
		t.Fatalf("an admin ban counted as a flood ban (%d)", bans)
	}

	v6 := netip.MustParseAddr("2001:db8:1:2::7")
	if _, err := e.srv.Ban(v6, time.Minute); err != nil {
		t.Fatalf("Ban %s: %v", v6, err)
	}
	bans := e.srv.Bans()
	if len(bans) != 2 || bans[0].Addr.String() != floodIP+"/32" || bans[1].Addr.String() != "2001:db8:1:2::/64" {
		t.Fatalf("Bans() = %+v", bans)
	}
	if e.srv.Banned() != 2 {
		t.Fatalf("Banned() = %d, want 2", e.srv.Banned())
	}
	// Another address in the same /64 is the same ban.
	if !e.srv.Unban(netip.MustParseAddr("2001:db8:1:2::99")) {
		t.Fatal("Unban of an address in the banned /64 = false")
	}

	if !e.srv.Unban(netip.MustParseAddr(floodIP)) {
		t.Fatal("Unban = false")
	}
	if e.srv.Unban(netip.MustParseAddr(floodIP)) {
		t.Fatal("second Unban = true")
	}
	if len(e.srv.Bans()) != 0 {
		t.Fatalf("Bans() after Unban = %+v", e.srv.Bans())
	}
	back := dialFrom(t, e.srv, floodIP)
	job := back.mine("tb1qbob.rig1")
	back.send(shareLine(t, e.vec, 40, "tb1qbob.rig1", job, 1))
	back.expectResult("40", "true")

	tests := []struct {
		name string
		addr netip.Addr
		d    time.Duration
		want error
	}{
		{"allowlisted", netip.MustParseAddr(otherIP), time.Minute, ErrAllowlisted},
		{"no duration", netip.MustParseAddr(floodIP), 0, ErrBadBan},
		{"no address", netip.Addr{}, time.Minute, ErrBadBan},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.srv.Ban(tc.addr, tc.d); !errors.Is(err, tc.want) {
				t.Fatalf("Ban = %v, want %v", err, tc.want)
			}
		})
	}

	untracked := startServer(t, nil)
	if _, err := untracked.srv.Ban(netip.MustParseAddr(floodIP), time.Minute); !errors.Is(err, ErrNotTracked) {
		t.Fatalf("Ban without tracking = %v, want ErrNotTracked", err)
	}
}

// TestSetWorkerDifficulty: the admin's difficulty applies as a d=N password
// does: bounded to [Min, Max], vardiff off, mining.set_difficulty and the
// job resent under a new id without clean_jobs; shares for the new id are
// judged at it.
func TestSetWorkerDifficulty(t *testing.T) {
	e := startServer(t, func(o *Options) { o.Difficulty.Max = 1e6 })
	c := dialFrom(t, e.srv, honestIP)
	job := c.authorizeAs("m", "tb1qalice.rig1", "x")
	other := dialFrom(t, e.srv, floodIP)
	other.authorizeAs("m", "tb1qbob.rig1", "x")

	if n := e.srv.SetWorkerDifficulty("tb1qnobody.rig", 2); n != 0 {
		t.Fatalf("SetWorkerDifficulty of an unknown worker = %d", n)
	}
	for _, tc := range []struct{ set, want float64 }{{1e-12, 1e-12}, {1e9, 1e6}} {
		if n := e.srv.SetWorkerDifficulty("tb1qalice.rig1", tc.set); n != 1 {
			t.Fatalf("SetWorkerDifficulty = %d, want 1", n)
		}
		if d := c.expectDifficulty(); d != tc.want {
			t.Fatalf("set_difficulty %v, want %v", d, tc.want)
		}
		id, clean := c.expectNotify()
		if id == job || clean {
			t.Fatalf("job resent as %q clean=%v, want a new id without clean_jobs", id, clean)
		}
		job = id
		if tc.want == 1e-12 {
			c.send(shareLine(t, e.vec, 50, "tb1qalice.rig1", job, 1))
			c.expectResult("50", "true")
		}
	}
	got := e.srv.ListConnections(ConnFilter{Worker: "tb1qalice.rig1"})
	if len(got) != 1 || !got[0].Fixed || got[0].Difficulty != 1e6 {
		t.Fatalf("connection after SetWorkerDifficulty: %+v", got)
	}
	if o := e.srv.ListConnections(ConnFilter{Worker: "tb1qbob.rig1"}); len(o) != 1 || o[0].Fixed || o[0].Difficulty != 512 {
		t.Fatalf("another worker's connection changed: %+v", o)
	}
	for _, bad := range []float64{0, -1} {
		if n := e.srv.SetWorkerDifficulty("tb1qalice.rig1", bad); n != 0 {
			t.Fatalf("SetWorkerDifficulty(%v) = %d, want 0", bad, n)
		}
	}
}
