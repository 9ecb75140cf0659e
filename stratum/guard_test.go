package stratum

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/tarbela-pool/tarbela/share"
)

// Loopback source addresses: Linux answers on all of 127.0.0.0/8, so each is
// a distinct remote address to the server.
const (
	honestIP = "127.0.0.1"
	floodIP  = "127.0.0.2"
	otherIP  = "127.0.0.3"
)

// dialFrom connects to srv from the loopback address ip.
func dialFrom(t testing.TB, srv *Server, ip string) *client {
	t.Helper()
	c, err := tryDialFrom(srv, ip)
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	c.t = t
	t.Cleanup(func() { _ = c.conn.Close() })
	return c
}

// tryDialFrom connects to srv from the loopback address ip; the caller
// closes the connection and sets the client's t.
func tryDialFrom(srv *Server, ip string) (*client, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: ioWait}
	conn, err := d.Dial("tcp", srv.Addr().String())
	if err != nil {
		return nil, err
	}
	return &client{conn: conn, r: bufio.NewReader(conn)}, nil
}

// expectRefused dials srv from ip and expects the connection to be closed on
// arrival: the server's reset may already fail the dial, or end the first
// read.
func expectRefused(t testing.TB, srv *Server, ip string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: ioWait}
	conn, err := d.Dial("tcp", srv.Addr().String())
	if err != nil {
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("dial from %s: %v, want a reset or a closed connection", ip, err)
		}
		return
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expectClosed()
}

// served checks that the server answers on c, so the connection was
// admitted and registered.
func (c *client) served() {
	c.t.Helper()
	c.send(`{"id":"ping","method":"mining.extranonce.subscribe"}`)
	c.expectResult(`"ping"`, "true")
}

// tryServed reports whether the server answers on c; a refused connection
// fails to write or read.
func (c *client) tryServed() bool {
	if err := c.conn.SetWriteDeadline(time.Now().Add(ioWait)); err != nil {
		return false
	}
	if _, err := c.conn.Write([]byte(`{"id":"ping","method":"mining.extranonce.subscribe"}` + "\n")); err != nil {
		return false
	}
	m, err := c.tryRecv()
	return err == nil && string(m.fields["id"]) == `"ping"`
}

// mine subscribes and authorizes user at the fixed difficulty 1e-12, which
// every hash meets, and returns the job id: each share with a fresh nonce is
// then accepted.
func (c *client) mine(user string) string {
	c.t.Helper()
	c.send(`{"id":1,"method":"mining.subscribe","params":["m"]}`)
	c.expectReply("1")
	b, _ := json.Marshal(map[string]any{"id": 3, "method": "mining.authorize", "params": []string{user, "d=1e-12"}})
	c.send(string(b))
	c.expectResult("3", "true")
	if d := c.expectDifficulty(); d != 1e-12 {
		c.t.Fatalf("difficulty %v, want 1e-12", d)
	}
	id, _ := c.expectNotify()
	return id
}

// shareLine is a five-param mining.submit of the recorded share for user,
// job and nonce.
func shareLine(t testing.TB, v *vector, reqID int, user, job string, nonce uint32) string {
	p := recordedParams(t, v)[:5]
	p[0], p[1], p[4] = user, job, fmt.Sprintf("%08x", nonce)
	return vectorSubmit(reqID, p...)
}

// honestMiner is a miner whose every share must be accepted.
type honestMiner struct {
	c     *client
	v     *vector
	job   string
	nonce uint32
}

func newHonestMiner(t testing.TB, e *testEnv, ip string) *honestMiner {
	t.Helper()
	c := dialFrom(t, e.srv, ip)
	return &honestMiner{c: c, v: e.vec, job: c.mine("tb1qhonest.rig")}
}

// share submits a fresh share and fails the test unless it is accepted.
func (h *honestMiner) share() {
	h.c.t.Helper()
	h.nonce++
	h.c.send(shareLine(h.c.t, h.v, int(h.nonce)+100, "tb1qhonest.rig", h.job, h.nonce))
	h.c.expectResult(fmt.Sprint(h.nonce+100), "true")
}

// TestConnectionRefusals: connections over the global or the per-address
// limit are closed on arrival and counted, allowlisted addresses are not
// limited per address, and a freed slot is reused.
func TestConnectionRefusals(t *testing.T) {
	allow := func(p string) []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix(p)} }
	tests := []struct {
		name string
		edit func(*Options)
		// steps are "<ip> ok" (admitted and answered), "<ip> refused"
		// (closed on arrival), or "close <n>" (the n-th admitted
		// connection hangs up).
		steps       []string
		wantRefused uint64
	}{
		{"per-address limit, allowlisted site unlimited",
			func(o *Options) { o.MaxConnectionsPerIP, o.AllowIPs = 2, allow("127.0.0.2/32") },
			[]string{honestIP + " ok", honestIP + " ok", honestIP + " refused",
				floodIP + " ok", floodIP + " ok", floodIP + " ok", floodIP + " ok",
				otherIP + " ok", otherIP + " ok", otherIP + " refused",
				"close 0", honestIP + " ok", honestIP + " refused"}, 3},
		{"allowlist given as an IPv4-mapped prefix",
			func(o *Options) { o.MaxConnectionsPerIP, o.AllowIPs = 1, allow("::ffff:127.0.0.2/128") },
			[]string{floodIP + " ok", floodIP + " ok", honestIP + " ok", honestIP + " refused"}, 1},
		{"global limit binds allowlisted addresses too",
			func(o *Options) { o.MaxConnections, o.AllowIPs = 3, allow("127.0.0.0/30") },
			[]string{honestIP + " ok", floodIP + " ok", otherIP + " ok", floodIP + " refused", otherIP + " refused",
				"close 1", floodIP + " ok", honestIP + " refused"}, 3},
		{"no per-address limit by default",
			nil,
			[]string{honestIP + " ok", honestIP + " ok", honestIP + " ok", honestIP + " ok"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			e := startServer(t, func(o *Options) {
				o.Log = zap.New(core)
				if tc.edit != nil {
					tc.edit(o)
				}
			})
			var open []*client
			live := 0
			for _, step := range tc.steps {
				what, arg, _ := strings.Cut(step, " ")
				switch {
				case what == "close":
					var n int
					fmt.Sscan(arg, &n)
					_ = open[n].conn.Close()
					live--
					waitFor(t, "the closed connection to be removed", func() bool { return e.srv.Connections() == live })
				case arg == "ok":
					c := dialFrom(t, e.srv, what)
					c.served()
					open = append(open, c)
					live++
				case arg == "refused":
					expectRefused(t, e.srv, what)
				default:
					t.Fatalf("bad step %q", step)
				}
			}
			if n := e.srv.Connections(); n != live {
				t.Fatalf("Connections() = %d, want %d", n, live)
			}
			if limit, banned := e.srv.Refused(); limit != tc.wantRefused || banned != 0 {
				t.Fatalf("Refused() = %d, %d; want %d, 0", limit, banned, tc.wantRefused)
			}
			// Refusals are not logged one by one, only summarized.
			if n := logs.FilterMessage("refused connections").Len(); n != 0 {
				t.Fatalf("%d refusal logs before the summary", n)
			}
			e.srv.guard.summarize(e.srv.log)
			e.srv.guard.summarize(e.srv.log)
			summaries := logs.FilterMessage("refused connections").AllUntimed()
			if tc.wantRefused == 0 {
				if len(summaries) != 0 {
					t.Fatalf("summary logged with nothing refused: %v", summaries)
				}
				return
			}
			if len(summaries) != 1 || summaries[0].ContextMap()["over_limit"] != tc.wantRefused {
				t.Fatalf("want one summary of %d refusals, got %v", tc.wantRefused, summaries)
			}
		})
	}
}

// floodRejects is BanMinRejects in the flood tests: small so that they run
// quickly, the rule is the same at 100.
const floodRejects = 20

// TestShareFlood: a connection that floods rejected shares is disconnected;
// its address is banned, with all its connections, only when the address as
// a whole floods, never when it is allowlisted or bans are off; an honest
// miner elsewhere has every share accepted throughout.
func TestShareFlood(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Options)
		// siblingShares, when positive, opens another connection from
		// the flooder's address that sends this many accepted shares
		// while the flood goes on: a site's honest machines behind the
		// same NAT.
		siblingShares int
		banned        bool
	}{
		{"lone flooder is banned", nil, 0, true},
		{"broken machine behind a site's address is only disconnected", nil, 5, false},
		{"address whose connections flood together is banned", nil, 1, true},
		{"allowlisted address is never banned", func(o *Options) { o.AllowIPs = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")} }, 0, false},
		{"bans disabled", func(o *Options) { o.BanDuration = 0 }, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startServer(t, func(o *Options) {
				o.MaxConnectionsPerIP, o.BanDuration, o.BanMinRejects = 100, time.Minute, floodRejects
				if tc.edit != nil {
					tc.edit(o)
				}
			})
			honest := newHonestMiner(t, e, honestIP)
			honest.share()

			var (
				sibling    *client
				siblingJob string
			)
			if tc.siblingShares > 0 {
				sibling = dialFrom(t, e.srv, floodIP)
				siblingJob = sibling.mine("tb1qsite.ok")
			}

			// The broken machine: one good share, then duplicates of it
			// and shares for an unknown job.
			const user = "tb1qbroken.rig"
			fl := dialFrom(t, e.srv, floodIP)
			job := fl.mine(user)
			fl.send(shareLine(t, e.vec, 10, user, job, 7))
			fl.expectResult("10", "true")
			for i := range floodRejects {
				id, code := 11+i, 22
				line := shareLine(t, e.vec, id, user, job, 7)
				if i%2 == 1 {
					line, code = shareLine(t, e.vec, id, user, "ff", 7), 21
				}
				fl.send(line)
				fl.expectError(fmt.Sprint(id), code)
				if i < tc.siblingShares {
					sibling.send(shareLine(t, e.vec, 10+i, "tb1qsite.ok", siblingJob, uint32(i)))
					sibling.expectResult(fmt.Sprint(10+i), "true")
				}
				honest.share()
			}
			fl.expectClosed()
			honest.share()

			var wantBans uint64
			if tc.banned {
				wantBans = 1
			}
			if kicks, bans := e.srv.Floods(); kicks != 1 || bans != wantBans {
				t.Fatalf("Floods() = %d, %d; want 1, %d", kicks, bans, wantBans)
			}
			if tc.banned {
				expectRefused(t, e.srv, floodIP)
				if sibling != nil {
					sibling.expectClosed()
				}
				if limit, banned := e.srv.Refused(); limit != 0 || banned != 1 {
					t.Fatalf("Refused() = %d, %d; want 0, 1", limit, banned)
				}
				if n := e.srv.Banned(); n != 1 {
					t.Fatalf("Banned() = %d, want 1", n)
				}
			} else {
				dialFrom(t, e.srv, floodIP).served()
				if sibling != nil {
					sibling.served()
				}
				if n := e.srv.Banned(); n != 0 {
					t.Fatalf("Banned() = %d, want 0", n)
				}
			}
			honest.share()
		})
	}
}

// floodUnknownJob sends floodRejects shares of user for an unknown job on
// fl, a lone miner's connection that has subscribed and authorized, expects
// each rejected as stale and the connection closed, and checks that the
// flood banned its address.
func floodUnknownJob(t testing.TB, e *testEnv, fl *client, user string) {
	t.Helper()
	for i := range floodRejects {
		fl.send(shareLine(t, e.vec, 10+i, user, "ff", uint32(i)))
	}
	for i := range floodRejects {
		fl.expectError(fmt.Sprint(10+i), 21)
	}
	fl.expectClosed()
	if _, bans := e.srv.Floods(); bans != 1 {
		t.Fatalf("%d bans, want 1", bans)
	}
}

// TestBanExpiry: a banned address is refused until BanDuration has passed
// and admitted afresh after it.
func TestBanExpiry(t *testing.T) {
	const banFor = 2 * time.Second
	e := startServer(t, func(o *Options) {
		o.BanDuration, o.BanMinRejects = banFor, floodRejects
	})
	fl := dialFrom(t, e.srv, floodIP)
	const user = "tb1qbroken.rig"
	fl.mine(user)
	// The ban cannot start before this, so it cannot end before
	// floodStart+banFor.
	floodStart := time.Now()
	floodUnknownJob(t, e, fl, user)
	expectRefused(t, e.srv, floodIP)

	deadline := time.Now().Add(banFor + ioWait)
	for {
		c, err := tryDialFrom(e.srv, floodIP)
		if err == nil && c.tryServed() {
			c.t = t
			t.Cleanup(func() { _ = c.conn.Close() })
			if elapsed := time.Since(floodStart); elapsed < banFor {
				t.Fatalf("admitted %v after the flood began, before the %v ban ended", elapsed, banFor)
			}
			// The tally started afresh: the returning miner's shares
			// are judged normally.
			job := c.mine(user)
			c.send(shareLine(t, e.vec, 50, user, job, 1))
			c.expectResult("50", "true")
			break
		}
		if c != nil {
			_ = c.conn.Close()
		}
		if time.Now().After(deadline) {
			t.Fatal("still refused long after the ban should have ended")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, banned := e.srv.Refused(); banned < 1 {
		t.Fatalf("Refused() banned = %d, want at least 1", banned)
	}
	if n := e.srv.Banned(); n != 0 {
		t.Fatalf("Banned() = %d after expiry", n)
	}
}

// TestDisableVersionRolling: with DisableVersionRolling, mining.configure
// declines version rolling and a share with version bits is rejected; by
// default the zero VersionMask still means 0x1fffe000.
func TestDisableVersionRolling(t *testing.T) {
	tests := []struct {
		name    string
		disable bool
		result  string
		code    int // of the recorded share (which rolls version bits)
	}{
		{"default mask", false, `{"version-rolling":true,"version-rolling.mask":"1fffe000"}`, 0},
		{"disabled", true, `{"version-rolling":false}`, 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startServer(t, func(o *Options) { o.DisableVersionRolling = tc.disable })
			c := dial(t, e.srv)
			c.subscribe(e.vec)
			c.send(e.vec.ConfigureRequest)
			c.expectResult("2", tc.result)
			_, id := c.authorize(vectorUser, "x")
			p := recordedParams(t, e.vec)
			p[1] = id
			c.send(vectorSubmit(5, p...))
			if tc.code == 0 {
				c.expectResult("5", "true")
				return
			}
			if m := c.expectError("5", tc.code); !strings.HasPrefix(m.errorMessage(), "Version bits outside") {
				t.Fatalf("got %s", m.raw)
			}
		})
	}
}

// TestGuardEntries: per-address entries exist only while they hold
// something (connections, a ban, a recent tally), so memory follows the
// live addresses, and a flooder cannot reset its tally by reconnecting.
func TestGuardEntries(t *testing.T) {
	o := Options{MaxConnectionsPerIP: 10, BanDuration: time.Minute}.withDefaults()
	o.BanMinRejects = 3
	a := netip.MustParseAddr("192.0.2.1")
	key := netip.PrefixFrom(a, 32)
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name string
		run  func(g *guard) (after time.Duration)
		// kept says whether a's entry survives release; swept whether
		// it survives a sweep `after` later.
		kept, swept bool
	}{
		{"idle address is forgotten on release", func(g *guard) time.Duration {
			st, _ := g.admit(a, 0, now)
			g.release(st, now)
			return 0
		}, false, false},
		{"recent rejects outlive the connection, not the window", func(g *guard) time.Duration {
			st, _ := g.admit(a, 0, now)
			g.rejectedShare(st, now)
			g.release(st, now)
			return o.BanWindow
		}, true, false},
		{"a ban outlives the connection until it ends", func(g *guard) time.Duration {
			st, _ := g.admit(a, 0, now)
			for range 3 {
				g.rejectedShare(st, now)
			}
			g.release(st, now)
			return o.BanDuration
		}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuard(&o)
			after := tc.run(g)
			if _, ok := g.addrs[key]; ok != tc.kept {
				t.Fatalf("entry kept = %v, want %v", ok, tc.kept)
			}
			g.sweep(now.Add(after - time.Nanosecond))
			if _, ok := g.addrs[key]; ok != tc.kept {
				t.Fatalf("entry kept just before %v = %v, want %v", after, ok, tc.kept)
			}
			g.sweep(now.Add(after))
			if _, ok := g.addrs[key]; ok != tc.swept {
				t.Fatalf("entry kept after %v = %v, want %v", after, ok, tc.swept)
			}
		})
	}
}

// TestGuardReconnectKeepsTally: rejects from successive connections of one
// address add up to a ban.
func TestGuardReconnectKeepsTally(t *testing.T) {
	o := Options{BanDuration: time.Minute}.withDefaults()
	o.BanMinRejects = 4
	g := newGuard(&o)
	a := netip.MustParseAddr("2001:db8::1")
	now := time.Unix(1_700_000_000, 0)
	for i := range 4 {
		st, why := g.admit(a, 0, now)
		if why != admitted {
			t.Fatalf("connection %d refused before the ban", i)
		}
		banned := g.rejectedShare(st, now)
		g.release(st, now)
		if banned != (i == 3) {
			t.Fatalf("after %d rejects banned = %v", i+1, banned)
		}
	}
	if _, why := g.admit(a, 0, now.Add(o.BanDuration-time.Nanosecond)); why != refusedBanned {
		t.Fatalf("admit during the ban: %v", why)
	}
	if _, why := g.admit(a, 0, now.Add(o.BanDuration)); why != admitted {
		t.Fatalf("admit after the ban: %v", why)
	}
}

// failingListener fails Accept with EMFILE a number of times, then reports
// itself closed.
type failingListener struct {
	net.Listener
	failures int
	calls    []time.Time
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.calls = append(l.calls, time.Now())
	if len(l.calls) <= l.failures {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return nil, net.ErrClosed
}

// maxAcceptFailedLogs is the most "accept failed" logs that one run of
// failures lasting d can write: the first failure's, then one per
// guardEvery. Under guardEvery, as the tests' runs last on any machine that
// is not stalled for seconds, that is one.
func maxAcceptFailedLogs(d time.Duration) int { return 1 + int(d/guardEvery) }

// TestAcceptBackoff: when accept fails (out of file descriptors), the loop
// waits longer after each failure instead of spinning, and logs the run of
// failures once rather than once per retry.
func TestAcceptBackoff(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	v := share.NewValidator(share.ValidatorOptions{Store: &memStore{}, Blocks: &recordingSink{}})
	s, err := NewServer(Options{Listen: "127.0.0.1:0", Validator: v, Auth: fakeAuth{}, Log: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	ln := &failingListener{failures: 5}
	s.wg.Add(1)
	s.acceptLoop(ln, nil)
	if len(ln.calls) != ln.failures+1 {
		t.Fatalf("Accept called %d times, want %d", len(ln.calls), ln.failures+1)
	}
	if n := s.AcceptErrors(); n != uint64(ln.failures) {
		t.Fatalf("AcceptErrors() = %d, want %d", n, ln.failures)
	}
	// The backoff doubles from 5ms: each retry waits at least that long.
	var wait time.Duration
	for i := 1; i < len(ln.calls); i++ {
		wait = nextAcceptBackoff(wait)
		if i == 1 && wait != 5*time.Millisecond {
			t.Fatalf("first backoff %v, want 5ms", wait)
		}
		if gap := ln.calls[i].Sub(ln.calls[i-1]); gap < wait {
			t.Errorf("retry %d after %v, want at least %v", i, gap, wait)
		}
	}
	run := ln.calls[len(ln.calls)-1].Sub(ln.calls[0])
	if n, most := logs.FilterMessage("accept failed").Len(), maxAcceptFailedLogs(run); n < 1 || n > most {
		t.Fatalf("%d 'accept failed' logs for one run of failures over %v, want 1 (at most %d)", n, run, most)
	}
}
