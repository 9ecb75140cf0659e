package stratum

import (
	"encoding/json"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/share"
)

func TestRetarget(t *testing.T) {
	o := DifficultyOptions{Min: 1e-12, Max: 1e6, TargetInterval: 10 * time.Second,
		RetargetInterval: 60 * time.Second, Variance: 0.3}
	tests := []struct {
		name        string
		cur, sum    float64
		elapsed     time.Duration
		floor       float64
		want        float64
		wantChanged bool
	}{
		{"on target", 100, 600, 60 * time.Second, 0, 100, false},
		{"inside band high", 100, 600 / 1.29, 60 * time.Second, 0, 100, false},
		{"inside band low", 100, 600 / 0.71, 60 * time.Second, 0, 100, false},
		{"twice too fast doubles", 100, 1200, 60 * time.Second, 0, 200, true},
		{"twice too slow halves", 100, 300, 60 * time.Second, 0, 50, true},
		{"far too fast bounded x4", 100, 1e6, 60 * time.Second, 0, 400, true},
		{"no shares bounded /4", 100, 0, 60 * time.Second, 0, 25, true},
		{"no shares within band keeps", 100, 0, 11 * time.Second, 0, 100, false},
		{"floor holds", 100, 300, 60 * time.Second, 80, 80, true},
		{"floor equal is no change", 80, 300, 60 * time.Second, 80, 80, false},
		{"max holds", 5e5, 1e9, 60 * time.Second, 0, 1e6, true},
		{"min holds", 2e-12, 0, 600 * time.Second, 0, 1e-12, true},
		{"fractional", 1e-9, 2e-8, 60 * time.Second, 0, 1e-9 * 10 / 3, true},
		{"zero elapsed", 100, 100, 0, 0, 100, false},
		{"mixed difficulties count by difficulty", 100, 50*6 + 200*3, 60 * time.Second, 0, 150, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := retarget(tc.cur, tc.sum, tc.elapsed, tc.floor, &o)
			if changed != tc.wantChanged || !approxEqual(got, tc.want) {
				t.Fatalf("retarget = %v, %v; want %v, %v", got, changed, tc.want, tc.wantChanged)
			}
		})
	}
}

func approxEqual(a, b float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 1e-9*max(a, b, -a, -b)
}

func TestVardiffDue(t *testing.T) {
	o := DifficultyOptions{RetargetInterval: time.Minute}
	start := time.Unix(1000, 0)
	tests := []struct {
		name   string
		shares int
		after  time.Duration
		want   bool
	}{
		{"fresh", 0, 0, false},
		{"interval passed", 0, time.Minute, true},
		{"burst", burstShares, time.Second, true},
		{"few quick shares", burstShares - 1, time.Second, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := vardiff{start: start, shares: tc.shares}
			if got := v.due(start.Add(tc.after), &o); got != tc.want {
				t.Fatalf("due = %v", got)
			}
		})
	}
}

func TestAllocator(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, a *allocator)
	}{
		{"unique with node prefix", func(t *testing.T, a *allocator) {
			seen := map[uint32]bool{}
			for range 1000 {
				v, _, err := a.alloc(0, false)
				if err != nil || v>>24 != 0x57 || seen[v] {
					t.Fatalf("alloc %08x %v", v, err)
				}
				seen[v] = true
			}
		}},
		{"preferred free value reused", func(t *testing.T, a *allocator) {
			if v, _, _ := a.alloc(0x57a6f098, true); v != 0x57a6f098 {
				t.Fatalf("got %08x", v)
			}
			if v, _, _ := a.alloc(0x57a6f098, true); v == 0x57a6f098 {
				t.Fatal("value in use handed out twice")
			}
		}},
		{"preferred value of another node ignored", func(t *testing.T, a *allocator) {
			if v, _, _ := a.alloc(0x58a6f098, true); v>>24 != 0x57 {
				t.Fatalf("got %08x", v)
			}
		}},
		{"counter skips values in use", func(t *testing.T, a *allocator) {
			if _, _, err := a.alloc(0x57000001, true); err != nil {
				t.Fatal(err)
			}
			v1, _, _ := a.alloc(0, false)
			v2, _, _ := a.alloc(0, false)
			if v1 != 0x57000000 || v2 != 0x57000002 {
				t.Fatalf("got %08x %08x", v1, v2)
			}
		}},
		{"released value reusable", func(t *testing.T, a *allocator) {
			v, _, _ := a.alloc(0x57000009, true)
			a.release(v, nil)
			if w, _, _ := a.alloc(0x57000009, true); w != v || a.live() != 1 {
				t.Fatalf("got %08x live %d", w, a.live())
			}
		}},
		{"duplicate memory goes with the value", func(t *testing.T, a *allocator) {
			var h [32]byte
			h[0] = 7
			v, seen, _ := a.alloc(0x57000009, true)
			seen.Mark(&h)
			idle, _, _ := a.alloc(0, false)
			a.release(idle, &share.Seen{}) // no shares: nothing kept
			a.release(v, &seen)
			if a.parkedLen() != 1 {
				t.Fatalf("%d memories parked, want 1 (the value with a share)", a.parkedLen())
			}
			w, resumed, _ := a.alloc(0x57000009, true)
			if dup, _ := resumed.Mark(&h); w != v || !dup {
				t.Fatalf("resumed %08x: share of the old session not a duplicate", w)
			}
			if a.parkedLen() != 0 {
				t.Fatal("a memory handed over is still parked")
			}
		}},
		{"a new tip forgets parked memories", func(t *testing.T, a *allocator) {
			var h [32]byte
			v, seen, _ := a.alloc(0, false)
			seen.Mark(&h)
			a.release(v, &seen)
			a.newTip()
			w, fresh, _ := a.alloc(v, true)
			if dup, _ := fresh.Mark(&h); w != v || dup || a.parkedLen() != 0 {
				t.Fatalf("after a new tip: %08x dup %v parked %d", w, dup, a.parkedLen())
			}
		}},
		{"exhausted", func(t *testing.T, a *allocator) {
			a.space = 8
			for range 8 {
				if _, _, err := a.alloc(0, false); err != nil {
					t.Fatal(err)
				}
			}
			if _, _, err := a.alloc(0, false); err == nil {
				t.Fatal("want an error when every value is live")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newAllocator(0x57)) })
	}
}

func TestJobTable(t *testing.T) {
	var jt jobTable
	target := targets.intern(share.Target{0: 1})
	job := &share.Job{ID: "j"}
	// Ids 0x1..0x14, a clean job at 0xf: 0xd and 0xe are remembered but
	// stale, 0xf..0x14 are live, older ones are evicted.
	const first, clean, newest = 0x1, 0xf, 0x14
	if newest-maxJobs+1 != 0xd {
		t.Fatalf("test written for maxJobs = 8, not %d", maxJobs)
	}
	for id := uint32(first); id <= newest; id++ {
		jt.add(id, job, float64(id), target, new(share.Seen), id == clean)
	}
	tests := []struct {
		name string
		id   string
		want *share.Reject // nil: found, with Difficulty == the id
	}{
		{"live job", "f", nil},
		{"newest job", "14", nil},
		{"stale job", "e", share.ErrStale},
		{"oldest remembered job", "d", share.ErrStale},
		{"evicted job", "c", share.ErrJobNotFound},
		{"first job", "1", share.ErrJobNotFound},
		{"id not sent yet", "15", share.ErrJobNotFound},
		{"id of a live job's slot, maxJobs later", "17", share.ErrJobNotFound},
		{"leading zero", "0f", share.ErrJobNotFound},
		{"upper case", "F", share.ErrJobNotFound},
		{"empty", "", share.ErrJobNotFound},
		{"too long", "100000014", share.ErrJobNotFound},
		{"not hex", "1g", share.ErrJobNotFound},
		{"zero", "0", share.ErrJobNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, rej := jt.lookup([]byte(tc.id))
			if rej != tc.want {
				t.Fatalf("lookup(%q) = %v, want %v", tc.id, rej, tc.want)
			}
			if tc.want != nil {
				return
			}
			id, _ := parseJobID([]byte(tc.id))
			if a.Job != job || a.Target != target || a.Difficulty != float64(id) {
				t.Fatalf("lookup(%q) = %+v, want job %p at difficulty %d", tc.id, a, job, id)
			}
		})
	}
}

func TestJobID(t *testing.T) {
	tests := []struct {
		id   uint32
		want string
	}{
		{1, "1"},
		{0x1f, "1f"},
		{0xabcdef0, "abcdef0"},
		{1<<32 - 1, "ffffffff"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			got := appendJobID([]byte("x"), tc.id)
			if string(got) != "x"+tc.want {
				t.Fatalf("appendJobID(%#x) = %q, want %q", tc.id, got[1:], tc.want)
			}
			if back, ok := parseJobID(got[1:]); !ok || back != tc.id {
				t.Fatalf("parseJobID(%q) = %#x, %v", got[1:], back, ok)
			}
		})
	}
}

// TestJobIDWrap: after 2^32-1 notifies a session's next id skips 0, and
// the ring still finds each id.
func TestJobIDWrap(t *testing.T) {
	s := &session{lastID: 1<<32 - 2}
	job := &share.Job{ID: "j"}
	var ids []uint32
	for range 3 {
		id := s.nextJobID()
		s.jobs.add(id, job, 1, targets.intern(share.Target{0: 1}), &s.seen, false)
		ids = append(ids, id)
	}
	if want := []uint32{1<<32 - 1, 1, 2}; !slices.Equal(ids, want) {
		t.Fatalf("ids %#x, want %#x", ids, want)
	}
	for _, id := range ids {
		if _, rej := s.jobs.lookup(appendJobID(nil, id)); rej != nil {
			t.Errorf("id %#x: %v", id, rej)
		}
	}
}

func TestPasswordDifficulty(t *testing.T) {
	tests := []struct {
		pass string
		want float64
		ok   bool
	}{
		{"x", 0, false},
		{"", 0, false},
		{"d=512", 512, true},
		{"x,d=0.001", 0.001, true},
		{"d=64,foo", 64, true},
		{" d=1e-9 ", 1e-9, true},
		{"d=-5", 0, false},
		{"d=abc", 0, false},
		{"d=inf", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.pass, func(t *testing.T) {
			d, ok := passwordDifficulty([]byte(tc.pass))
			if d != tc.want || ok != tc.ok {
				t.Fatalf("got %v %v", d, ok)
			}
		})
	}
}

func TestNewServerOptions(t *testing.T) {
	v := share.NewValidator(share.ValidatorOptions{Store: &memStore{}, Blocks: &recordingSink{}})
	good := Options{Listen: "127.0.0.1:0", Validator: v, Auth: fakeAuth{}}
	tests := []struct {
		name   string
		edit   func(*Options)
		fields []string
	}{
		{"defaults are valid", func(*Options) {}, nil},
		{"missing required", func(o *Options) { o.Listen, o.Validator, o.Auth = "", nil, nil },
			[]string{"Options.Listen", "Options.Validator", "Options.Auth"}},
		{"bad sizes", func(o *Options) { o.Extranonce2Size, o.MaxLineBytes, o.SendQueue = 40, 100, 1 },
			[]string{"Options.Extranonce2Size", "Options.MaxLineBytes", "Options.SendQueue"}},
		{"negative durations", func(o *Options) { o.IdleTimeout, o.WriteTimeout = -1, -1 },
			[]string{"Options.IdleTimeout", "Options.WriteTimeout"}},
		{"difficulty bounds", func(o *Options) { o.Difficulty = DifficultyOptions{Initial: 10, Min: 100, Max: 50} },
			[]string{"Options.Difficulty.Min", "Options.Difficulty.Initial"}},
		{"variance", func(o *Options) { o.Difficulty.Variance = 1.5 }, []string{"Options.Difficulty.Variance"}},
		{"negative limits", func(o *Options) { o.MaxConnections, o.MaxConnectionsPerIP, o.BanMinRejects = -1, -1, -1 },
			[]string{"Options.MaxConnections", "Options.MaxConnectionsPerIP", "Options.BanMinRejects"}},
		{"ban rule", func(o *Options) { o.BanDuration, o.BanWindow, o.BanRejectRatio = -1, -1, 1 },
			[]string{"Options.BanDuration", "Options.BanWindow", "Options.BanRejectRatio"}},
		{"invalid allowlist prefix", func(o *Options) { o.AllowIPs = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), {}} },
			[]string{"Options.AllowIPs[1]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			tc.edit(&o)
			s, err := NewServer(o)
			if len(tc.fields) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if s.o.Extranonce2Size != 8 || s.o.VersionMask != 0x1fffe000 || s.o.MaxLineBytes != 4096 || s.o.Difficulty.TargetInterval != 10*time.Second ||
					s.o.MaxConnections != 100000 || s.o.MaxConnectionsPerIP != 0 || s.o.BanDuration != 0 ||
					s.o.BanMinRejects != 100 || s.o.BanRejectRatio != 0.9 || s.o.BanWindow != time.Minute || s.o.DisableVersionRolling {
					t.Fatalf("defaults not applied: %+v", s.o)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, f := range tc.fields {
				if !strings.Contains(err.Error(), f+":") {
					t.Errorf("error %q does not name %s", err, f)
				}
			}
		})
	}
}

// TestNormalizePrefixes: allowlist prefixes are compared with unmapped
// remote addresses, so IPv4-mapped ones become IPv4 and host bits go.
func TestNormalizePrefixes(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"::ffff:203.0.113.7/120", "203.0.113.0/24"},
		{"::ffff:0:0/96", "0.0.0.0/0"},
		{"2001:db8::1/48", "2001:db8::/48"},
		{"192.0.2.1/32", "192.0.2.1/32"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got := normalizePrefixes([]netip.Prefix{netip.MustParsePrefix(tc.in)})
			if got[0].String() != tc.want {
				t.Fatalf("got %v, want %s", got[0], tc.want)
			}
		})
	}
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name, line         string
		id, method, params string
		wantErr            bool
	}{
		{"plain", `{"id": 5, "method": "mining.submit", "params": ["a","b"]}`, "5", "mining.submit", `["a","b"]`, false},
		{"extra keys and order", `{"params":[],"jsonrpc":"2.0","method":"x","id":"q\"1"}`, `"q\"1"`, "x", "[]", false},
		{"escaped method", `{"id":1,"method":"mining.sub\u0073cribe"}`, "1", "mining.subscribe", "", false},
		{"nested id", `{"id":[{"a":null}],"method":"m"}`, `[{"a":null}]`, "m", "", false},
		{"no id", `{"method":"m"}`, "null", "m", "", false},
		{"empty object", `{}`, "", "", "", true},
		{"bad escape", `{"id":"\x","method":"m"}`, "", "", "", true},
		{"bad literal", `{"id":nul,"method":"m"}`, "", "", "", true},
		{"leading plus", `{"id":+1,"method":"m"}`, "", "", "", true},
		{"unterminated", `{"id":"abc`, "", "", "", true},
		{"control char", "{\"id\":\"a\tb\",\"method\":\"m\"}", "", "", "", true},
		{"deep nesting", `{"id":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `,"method":"m"}`, "", "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r request
			err := parseRequest([]byte(tc.line), &r)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tc.wantErr {
				return
			}
			if string(r.id) != tc.id || string(r.method) != tc.method || string(r.params) != tc.params {
				t.Fatalf("got id %s method %s params %s", r.id, r.method, r.params)
			}
		})
	}
}

// FuzzParseRequest checks the hand-written decoder against encoding/json: it
// never panics, never accepts what encoding/json refuses, and the id it
// returns (echoed to miners verbatim) is always valid JSON.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"id": 5, "method": "mining.submit", "params": ["w","1","c7080000","64b3f3ec","ed460d91"]}`,
		`{"id":null,"method":"mining.subscribe","params":[]}`,
		`{"id":"x","method":"m","params":{"a":[1,2.5e-3,true,false,null]}}`,
		`{"id":1,"method":"a\u00e9"}`, `[`, `{"id":-0.0e+1,"method":"m"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var r request
		if err := parseRequest([]byte(line), &r); err != nil {
			return
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("accepted %q that encoding/json refuses: %v", line, err)
		}
		if !json.Valid(r.id) {
			t.Fatalf("id %q is not valid JSON", r.id)
		}
	})
}

func TestStringParams(t *testing.T) {
	tests := []struct {
		name, params string
		want         []string
		wantErr      string
	}{
		{"five", `["w","1","c7080000","64b3f3ec","ed460d91"]`, []string{"w", "1", "c7080000", "64b3f3ec", "ed460d91"}, ""},
		{"spaces", `[ "a" , "b" ]`, []string{"a", "b"}, ""},
		{"empty", `[]`, nil, ""},
		{"escaped", `["w\u002e1"]`, []string{"w.1"}, ""},
		{"number", `["a",1]`, nil, "param 2 must be a string"},
		{"null", `[null]`, nil, "param 1 must be a string"},
		{"object", `{"a":1}`, nil, "must be an array"},
		{"too many", `["1","2","3","4","5","6","7"]`, nil, "at most 6"},
		{"unterminated", `["a"`, nil, "unexpected end"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out [maxParams][]byte
			n, err := stringParams([]byte(tc.params), &out, "mining.submit")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || n != len(tc.want) {
				t.Fatalf("n = %d, err = %v", n, err)
			}
			for i, w := range tc.want {
				if string(out[i]) != w {
					t.Fatalf("param %d = %q, want %q", i, out[i], w)
				}
			}
		})
	}
}

func TestAppendEncoders(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"set_difficulty whole", appendSetDifficulty(nil, 512), `{"id":null,"method":"mining.set_difficulty","params":[512]}` + "\n"},
		{"set_difficulty tiny", appendSetDifficulty(nil, 1e-12), `{"id":null,"method":"mining.set_difficulty","params":[1e-12]}` + "\n"},
		{"set_difficulty fraction", appendSetDifficulty(nil, 0.125), `{"id":null,"method":"mining.set_difficulty","params":[0.125]}` + "\n"},
		{"error escapes", appendError(nil, []byte("7"), "false", 20, "bad \"x\"\n\xff"), `{"id":7,"result":false,"error":[20,"bad \"x\"\u000a\ufffd",null]}` + "\n"},
		{"result", appendResult(nil, []byte(`"a"`), "true"), `{"id":"a","result":true,"error":null}` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if string(tc.got) != tc.want {
				t.Fatalf("got %s, want %s", tc.got, tc.want)
			}
			if !json.Valid(tc.got) {
				t.Fatalf("invalid JSON %s", tc.got)
			}
		})
	}
}

// TestSessionWorkers: the first username is kept without a map, and
// re-authorizing it replaces it in place; further ones go to the map.
func TestSessionWorkers(t *testing.T) {
	var s session
	w := func(name string) *share.Worker { return &share.Worker{Name: name} }
	a1, a1again, b := w("a.1"), w("a.1"), w("b")
	steps := []struct {
		name      string
		user      string
		w         *share.Worker
		wantCount int
		wantMap   bool
	}{
		{"first worker", "a.1", a1, 1, false},
		{"first worker again", "a.1", a1again, 1, false},
		{"second worker", "b", b, 2, true},
		{"second worker again", "b", b, 2, true},
	}
	if s.findWorker("a.1") != nil || s.workerCount() != 0 {
		t.Fatal("a new session has a worker")
	}
	for _, st := range steps {
		s.addWorker(st.user, st.w)
		if got := s.findWorker(st.user); got != st.w {
			t.Fatalf("%s: findWorker(%q) = %v, want %v", st.name, st.user, got, st.w)
		}
		if s.workerCount() != st.wantCount || (s.more != nil) != st.wantMap {
			t.Fatalf("%s: %d workers, map %v; want %d, map %v", st.name, s.workerCount(), s.more != nil, st.wantCount, st.wantMap)
		}
	}
	if s.findWorker("a.1") != a1again || s.findWorker("a.2") != nil || s.findWorker("") != nil {
		t.Fatal("lookup after all steps")
	}
}

// TestTargetCache: equal targets share one pointer, a target survives one
// generation change and comes back to the current one when used, and the
// cache never holds more than two generations.
func TestTargetCache(t *testing.T) {
	var c targetCache
	tgt := func(i int) share.Target { var x share.Target; x[0], x[1] = byte(i), byte(i>>8); return x }
	first := c.intern(tgt(0))
	if first == nil || *first != tgt(0) {
		t.Fatalf("intern = %v, want %v", first, tgt(0))
	}
	if c.intern(tgt(0)) != first {
		t.Fatal("equal target not shared")
	}
	if c.intern(tgt(1)) == first {
		t.Fatal("different targets share a pointer")
	}
	// Fill the current generation so it turns over once: target 0 is then
	// only in the old one, and using it brings it back.
	for i := 2; i <= targetCacheSize; i++ {
		c.intern(tgt(i))
	}
	if _, ok := c.byVal.old[tgt(0)]; !ok {
		t.Fatal("target 0 not in the old generation after a turnover")
	}
	if c.intern(tgt(0)) != first {
		t.Fatal("target in the old generation not shared")
	}
	if _, ok := c.byVal.cur[tgt(0)]; !ok {
		t.Fatal("target 0 not moved back to the current generation")
	}
	for i := range 5 * targetCacheSize {
		c.intern(tgt(1000 + i))
		if n := len(c.byVal.cur) + len(c.byVal.old); n > 2*targetCacheSize {
			t.Fatalf("cache holds %d targets", n)
		}
	}
	if p := c.intern(tgt(0)); p == first || *p != tgt(0) {
		t.Fatalf("dropped target: got %p (%v), want a new copy of %v", p, *p, tgt(0))
	}
}

// TestTargetForDifficulty: a difficulty's target is the one
// share.TargetFromDifficulty computes, shared with interned equal targets
// and between calls, and a bad difficulty is refused and not remembered.
func TestTargetForDifficulty(t *testing.T) {
	var c targetCache
	tests := []struct {
		name    string
		d       float64
		wantErr bool
	}{
		{"one", 1, false},
		{"fraction", 1e-12, false},
		{"large", 1 << 40, false},
		{"zero", 0, true},
		{"negative", -2, true},
		{"infinite", math.Inf(1), true},
		{"not a number", math.NaN(), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := c.forDifficulty(tc.d)
			if tc.wantErr {
				if err == nil || p != nil {
					t.Fatalf("forDifficulty(%v) = %v, %v; want an error", tc.d, p, err)
				}
				if n := len(c.byDiff.cur); n > 3 {
					t.Fatalf("bad difficulty remembered: %d entries", n)
				}
				return
			}
			want, err2 := share.TargetFromDifficulty(tc.d)
			if err != nil || err2 != nil || *p != want {
				t.Fatalf("forDifficulty(%v) = %v, %v; want %v", tc.d, p, err, want)
			}
			if again, _ := c.forDifficulty(tc.d); again != p {
				t.Fatal("same difficulty, different pointer")
			}
			if c.intern(want) != p {
				t.Fatal("target not shared with intern")
			}
		})
	}
}

// TestArrayParams: params are split into raw elements, the first maxArgs
// kept and all counted; absent and null params are an empty list.
func TestArrayParams(t *testing.T) {
	tests := []struct {
		name    string
		params  string
		want    []string
		n       int
		wantErr string
	}{
		{"absent", ``, nil, 0, ""},
		{"null", `null`, nil, 0, ""},
		{"empty", `[ ]`, nil, 0, ""},
		{"mixed", `[ "a" ,1, {"x":[1,2]},null]`, []string{`"a"`, `1`, `{"x":[1,2]}`, `null`}, 4, ""},
		{"more than kept", `["a","b","c","d","e","f"]`, []string{`"a"`, `"b"`, `"c"`, `"d"`}, 6, ""},
		{"object", `{"a":1}`, nil, 0, "must be an array"},
		{"string", `"x"`, nil, 0, "must be an array"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := request{method: []byte("mining.test")}
			if tc.params != "" {
				req.params = []byte(tc.params)
			}
			var a args
			err := arrayParams(&req, &a)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || a.len() != tc.n {
				t.Fatalf("len = %d, err = %v; want %d", a.len(), err, tc.n)
			}
			for i := range tc.n + 1 {
				got, want := a.at(i), []byte(nil)
				if i < len(tc.want) {
					want = []byte(tc.want[i])
				}
				if string(got) != string(want) || (got == nil) != (want == nil) {
					t.Fatalf("at(%d) = %q, want %q", i, got, want)
				}
			}
		})
	}
}

// TestEachItem: elements and members come in order, members with their
// raw keys, and a malformed container is an error.
func TestEachItem(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		wantErr  bool
	}{
		{"empty object", `{ }`, nil, false},
		{"empty array", `[ ]`, nil, false},
		{"members", `{"a":1, "b" : [true]}`, []string{`"a"=1`, `"b"=[true]`}, false},
		{"escaped key", `{"a\u002eb":"x"}`, []string{`"a\u002eb"="x"`}, false},
		{"elements", `[1, {"a":[2]} ,"x"]`, []string{`=1`, `={"a":[2]}`, `="x"`}, false},
		{"missing colon", `{"a" 1}`, nil, true},
		{"key not a string", `{a:1}`, nil, true},
		{"unterminated", `{"a":1`, nil, true},
		{"missing comma", `[1 2]`, nil, true},
		{"trailing", `{"a":1}x`, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := eachItem([]byte(tc.in), func(k, v []byte) { got = append(got, string(k)+"="+string(v)) })
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && !slices.Equal(got, tc.want) {
				t.Fatalf("items %q, want %q", got, tc.want)
			}
		})
	}
}

// TestPositiveNumber: JSON numbers and numeric strings that are positive
// and finite are read; anything else (including text that is not JSON, as
// the legacy suggest method name may carry) is refused.
func TestPositiveNumber(t *testing.T) {
	tests := []struct {
		name, raw string
		want      float64
		ok        bool
	}{
		{"integer", `512`, 512, true},
		{"fraction", `0.001`, 0.001, true},
		{"exponent", `1e-12`, 1e-12, true},
		{"spaces", ` 64 `, 64, true},
		{"string", `"2048"`, 2048, true},
		{"escaped string", `"\u0035"`, 5, true},
		{"zero", `0`, 0, false},
		{"negative", `-1`, 0, false},
		{"overflow", `1e400`, 0, false},
		{"null", `null`, 0, false},
		{"bool", `true`, 0, false},
		{"empty", ``, 0, false},
		{"hex is not JSON", `0x10`, 0, false},
		{"trailing text", `512)`, 0, false},
		{"plus sign", `+5`, 0, false},
		{"bare minus", `-`, 0, false},
		{"string not a number", `"abc"`, 0, false},
		{"unterminated string", `"12`, 0, false},
		{"infinity string", `"inf"`, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := positiveNumber([]byte(tc.raw))
			if ok != tc.ok || (ok && d != tc.want) {
				t.Fatalf("positiveNumber(%q) = %v, %v; want %v, %v", tc.raw, d, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestParseSessionID: only exactly 8 hex digits are a session id.
func TestParseSessionID(t *testing.T) {
	tests := []struct {
		name, in string
		want     uint32
		ok       bool
	}{
		{"lower", "57a6f098", 0x57a6f098, true},
		{"upper", "57A6F098", 0x57a6f098, true},
		{"short", "57a6f0", 0, false},
		{"long", "57a6f09800", 0, false},
		{"not hex", "57a6f0zz", 0, false},
		{"empty", "", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseSessionID([]byte(tc.in))
			if got != tc.want || ok != tc.ok {
				t.Fatalf("parseSessionID(%q) = %x, %v; want %x, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}
