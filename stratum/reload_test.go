package stratum

import (
	"strings"
	"testing"
	"time"
)

// TestReload changes the difficulty policy and the per-address limit of a
// running server and checks that new connections get them, and that an
// invalid reload changes nothing.
func TestReload(t *testing.T) {
	// Bans on (as by default in the config), so addresses are tracked from
	// the start and the connections already open count against a new
	// per-address limit.
	e := startServer(t, func(o *Options) { o.BanDuration = time.Minute })
	first := dialFrom(t, e.srv, "127.0.0.2")
	if d, _ := subscribeAuthorize(first, "w1"); d != 512 {
		t.Fatalf("initial difficulty %v, want 512", d)
	}
	// Before the reload a second connection from the address is admitted.
	dialFrom(t, e.srv, "127.0.0.2").served()

	l := e.srv.Live()
	l.Difficulty.Initial, l.MaxConnectionsPerIP = 2.5, 2
	if err := e.srv.Reload(l); err != nil {
		t.Fatal(err)
	}
	if got := e.srv.Live(); got.Difficulty.Initial != 2.5 || got.MaxConnectionsPerIP != 2 {
		t.Fatalf("Live after reload %+v", got)
	}
	c := dialFrom(t, e.srv, "127.0.0.3")
	if d, _ := subscribeAuthorize(c, "w2"); d != 2.5 {
		t.Errorf("difficulty after reload %v, want 2.5", d)
	}
	// 127.0.0.2 already has two connections: the new limit refuses a third.
	expectRefused(t, e.srv, "127.0.0.2")
	// Open connections are kept.
	first.served()

	bad := e.srv.Live()
	bad.Difficulty.Min, bad.Difficulty.Max = 10, 1
	err := e.srv.Reload(bad)
	if err == nil || !strings.Contains(err.Error(), "Difficulty") {
		t.Fatalf("invalid reload: err %v, want one naming Difficulty", err)
	}
	if got := e.srv.Live(); got.Difficulty.Initial != 2.5 || got.Difficulty.Max != l.Difficulty.Max {
		t.Errorf("a refused reload changed the settings: %+v", got)
	}
}

// subscribeAuthorize subscribes (with a fresh extranonce1) and authorizes
// user, returning the first difficulty and job id.
func subscribeAuthorize(c *client, user string) (float64, string) {
	c.t.Helper()
	c.send(`{"id":1,"method":"mining.subscribe","params":[]}`)
	c.expectReply("1")
	return c.authorize(user, "x")
}
