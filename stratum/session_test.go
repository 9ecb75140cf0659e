package stratum

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/tarbela-pool/tarbela/share"
)

// TestRecordedSession replays the recorded Bitaxe session end to end: the
// replies match the recording, the notify carries the recorded job, and the
// recorded share is accepted at difficulty 512 and stored.
func TestRecordedSession(t *testing.T) {
	e := startServer(t, nil)
	v := e.vec
	c := dial(t, e.srv)

	c.subscribe(v)

	c.send(v.ConfigureRequest)
	m := c.expectReply("2")
	var want map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v.ConfigureResponse), &want); err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(m.fields["result"], want["result"]) || string(m.fields["error"]) != "null" {
		t.Fatalf("configure: got %s, want %s", m.raw, v.ConfigureResponse)
	}

	c.send(v.AuthorizeRequest)
	m = c.expectReply("3")
	if !jsonEqual([]byte(m.raw), []byte(v.AuthorizeResponse)) {
		t.Fatalf("authorize: got %s, want %s", m.raw, v.AuthorizeResponse)
	}
	if d := c.expectDifficulty(); d != v.SessionDifficulty {
		t.Fatalf("first difficulty %v, want %v", d, v.SessionDifficulty)
	}
	var notify []json.RawMessage
	c.expectMethod("mining.notify").params(t, &notify)
	var recorded []json.RawMessage
	if err := json.Unmarshal(v.NotifyParams, &recorded); err != nil {
		t.Fatal(err)
	}
	if len(notify) != 9 || string(notify[0]) != `"1"` || string(notify[8]) != "true" {
		t.Fatalf("notify: want job id \"1\" and clean=true, got %s", notify)
	}
	for i := 1; i < 8; i++ {
		if !jsonEqual(notify[i], recorded[i]) {
			t.Errorf("notify param %d = %s, want %s", i, notify[i], recorded[i])
		}
	}

	c.send(v.SuggestDifficultyRequest)
	c.expectResult("4", "true")
	m = c.recv()
	if !jsonEqual([]byte(m.raw), []byte(v.SuggestDifficultyReply)) {
		t.Fatalf("suggest_difficulty: got %s, want %s", m.raw, v.SuggestDifficultyReply)
	}

	c.send(v.SubmitRequest)
	m = c.expectReply("5")
	if !jsonEqual([]byte(m.raw), []byte(v.SubmitResponse)) {
		t.Fatalf("submit: got %s, want %s", m.raw, v.SubmitResponse)
	}
	recs := e.store.records()
	if len(recs) != 1 {
		t.Fatalf("store has %d shares, want 1", len(recs))
	}
	r := recs[0]
	if r.Worker != vectorUser || r.Account != "tb1qumezefzdeqqwn5zfvgdrhxjzc5ylr39uhuxcz4" || r.Difficulty != 512 ||
		math.Abs(r.ShareDifficulty-v.ShareDifficulty) > 1e-3 || r.Block || r.Node != 0x57 {
		t.Fatalf("stored share %+v", r)
	}
	if e.obs.count(share.ReasonNone) != 1 || e.sink.count() != 0 {
		t.Fatalf("accepted=%d blocks=%d, want 1 and 0", e.obs.count(share.ReasonNone), e.sink.count())
	}
	if e.srv.Connections() != 1 {
		t.Fatalf("Connections() = %d, want 1", e.srv.Connections())
	}
}

// TestRejectCodes produces every reject code 20-25 from a real connection.
func TestRejectCodes(t *testing.T) {
	type step func(t *testing.T, e *testEnv, c *client, p []string) (line string)
	ready := func(t *testing.T, e *testEnv, c *client, p []string) {
		c.handshake(e.vec, "x")
	}
	tests := []struct {
		name   string
		setup  step
		code   int
		reason share.Reason
		msg    string
	}{
		{"25 not subscribed", func(t *testing.T, e *testEnv, c *client, p []string) string {
			return vectorSubmit(5, p...)
		}, 25, share.ReasonNotSubscribed, "Not subscribed"},
		{"24 not authorized", func(t *testing.T, e *testEnv, c *client, p []string) string {
			c.subscribe(e.vec)
			return vectorSubmit(5, p...)
		}, 24, share.ReasonUnauthorized, "Unauthorized worker"},
		{"24 other worker than authorized", func(t *testing.T, e *testEnv, c *client, p []string) string {
			ready(t, e, c, p)
			p[0] = "tb1qother.rig"
			return vectorSubmit(5, p...)
		}, 24, share.ReasonUnauthorized, "Unauthorized worker"},
		{"21 job not found", func(t *testing.T, e *testEnv, c *client, p []string) string {
			ready(t, e, c, p)
			p[1] = "ff"
			return vectorSubmit(5, p...)
		}, 21, share.ReasonJobNotFound, "Job not found"},
		{"21 stale after clean job", func(t *testing.T, e *testEnv, c *client, p []string) string {
			ready(t, e, c, p)
			e.srv.Publish(fakeWork{job: vectorJob(t, e.vec), clean: true})
			if id, clean := c.expectNotify(); id != "2" || !clean {
				t.Fatalf("notify %s clean=%v, want 2 true", id, clean)
			}
			return vectorSubmit(5, p...)
		}, 21, share.ReasonStale, "Stale share"},
		{"22 duplicate", func(t *testing.T, e *testEnv, c *client, p []string) string {
			ready(t, e, c, p)
			c.send(vectorSubmit(5, p...))
			c.expectResult("5", "true")
			return vectorSubmit(5, p...)
		}, 22, share.ReasonDuplicate, "Duplicate share"},
		{"23 low difficulty", func(t *testing.T, e *testEnv, c *client, p []string) string {
			c.subscribe(e.vec)
			c.configure(e.vec)
			if d, _ := c.authorize(vectorUser, "x,d=1000"); d != 1000 {
				t.Fatalf("d=1000 password gave difficulty %v", d)
			}
			return vectorSubmit(5, p...)
		}, 23, share.ReasonLowDifficulty, "Low difficulty share"},
		{"20 bad extranonce2 length", func(t *testing.T, e *testEnv, c *client, p []string) string {
			ready(t, e, c, p)
			p[2] = "c708"
			return vectorSubmit(5, p...)
		}, 20, share.ReasonBadExtranonce2, "Invalid extranonce2 length"},
		{"20 bad nonce", func(t *testing.T, e *testEnv, c *client, p []string) string {
			ready(t, e, c, p)
			p[4] = "xyz"
			return vectorSubmit(5, p...)
		}, 20, share.ReasonBadNonce, "Invalid nonce"},
		{"20 ntime out of range", func(t *testing.T, e *testEnv, c *client, p []string) string {
			ready(t, e, c, p)
			p[3] = "7fffffff"
			return vectorSubmit(5, p...)
		}, 20, share.ReasonNTimeRange, "ntime out of range"},
		{"20 version bits without negotiation", func(t *testing.T, e *testEnv, c *client, p []string) string {
			c.subscribe(e.vec)
			c.authorize(vectorUser, "x")
			return vectorSubmit(5, p...)
		}, 20, share.ReasonVersionMask, "Version bits outside"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startServer(t, nil)
			c := dial(t, e.srv)
			p := recordedParams(t, e.vec)
			c.send(tc.setup(t, e, c, p))
			m := c.expectError("5", tc.code)
			if string(m.fields["result"]) != "false" || !strings.HasPrefix(m.errorMessage(), tc.msg) {
				t.Fatalf("got %s, want result false and message %q", m.raw, tc.msg)
			}
			if got := e.obs.count(tc.reason); got != 1 {
				t.Fatalf("observer counted %d %v rejects, want 1", got, tc.reason)
			}
		})
	}
}

// TestDifficultyAtSendTime: after a difficulty change a share for the job
// sent before it is judged at the old difficulty, and the same share under
// the job id sent after it at the new one.
func TestDifficultyAtSendTime(t *testing.T) {
	e := startServer(t, nil)
	c := dial(t, e.srv)
	d, oldID := c.handshake(e.vec, "x")
	if d != 512 || oldID != "1" {
		t.Fatalf("start at %v with job %q", d, oldID)
	}
	newID := c.raiseDifficulty(4, 1000, oldID)
	p := recordedParams(t, e.vec)
	p[1] = newID
	c.send(vectorSubmit(6, p...))
	c.expectError("6", 23)
	p[1] = oldID
	c.send(vectorSubmit(7, p...))
	c.expectResult("7", "true")
	if recs := e.store.records(); len(recs) != 1 || recs[0].Difficulty != 512 {
		t.Fatalf("want one share credited at 512, got %+v", recs)
	}
}

// TestSetDifficultyBeforeFirstNotify covers both handshake orders and a
// suggestion made before authorize.
func TestSetDifficultyBeforeFirstNotify(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		// replies are the ids of the replies expected before the
		// set_difficulty and notify.
		replies []string
		want    float64
	}{
		{"subscribe then authorize", []string{
			`{"id":1,"method":"mining.subscribe","params":["m"]}`,
			`{"id":2,"method":"mining.authorize","params":["tb1qa.r","x"]}`,
		}, []string{"1", "2"}, 512},
		{"authorize then subscribe", []string{
			`{"id":1,"method":"mining.authorize","params":["tb1qa.r","x"]}`,
			`{"id":2,"method":"mining.subscribe","params":["m"]}`,
		}, []string{"1", "2"}, 512},
		{"suggest before authorize", []string{
			`{"id":1,"method":"mining.subscribe","params":[]}`,
			`{"id":2,"method":"mining.suggest_difficulty","params":[2048]}`,
			`{"id":3,"method":"mining.authorize","params":["tb1qa.r",null]}`,
		}, []string{"1", "2", "3"}, 2048},
		{"legacy suggest name before subscribe", []string{
			`{"id":1,"method":"mining.suggest_difficulty(0.5)","params":[]}`,
			`{"id":2,"method":"mining.subscribe","params":["m"]}`,
			`{"id":3,"method":"mining.authorize","params":["tb1qa.r","x"]}`,
		}, []string{"1", "2", "3"}, 0.5},
		{"fixed difficulty from password", []string{
			`{"id":1,"method":"mining.subscribe","params":["m"]}`,
			`{"id":2,"method":"mining.authorize","params":["tb1qa.r","d=1e-9,x"]}`,
		}, []string{"1", "2"}, 1e-9},
	}
	e := startServer(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, e.srv)
			for _, l := range tc.lines {
				c.send(l)
			}
			for _, id := range tc.replies {
				m := c.expectReply(id)
				if string(m.fields["error"]) != "null" {
					t.Fatalf("reply %s", m.raw)
				}
			}
			if d := c.expectDifficulty(); d != tc.want {
				t.Fatalf("difficulty %v, want %v", d, tc.want)
			}
			if _, clean := c.expectNotify(); !clean {
				t.Fatal("first notify must be clean")
			}
		})
	}
}

// TestVardiffOnSubmit drives the burst retarget through real shares: at a
// difficulty every hash meets, 16 quick shares raise it by the bounded step
// and the job is resent at once under a new id.
func TestVardiffOnSubmit(t *testing.T) {
	e := startServer(t, func(o *Options) {
		o.Difficulty = DifficultyOptions{Initial: 1e-12, Min: 1e-12, Max: 1}
	})
	c := dial(t, e.srv)
	d, id := c.handshake(e.vec, "x")
	if d != 1e-12 {
		t.Fatalf("difficulty %v", d)
	}
	p := recordedParams(t, e.vec)
	p[1] = id
	for i := range burstShares {
		p[4] = strings.Repeat("0", 6) + string("0123456789abcdef"[i/16]) + string("0123456789abcdef"[i%16])
		c.send(vectorSubmit(i, p...))
		m := c.recv()
		if string(m.fields["result"]) != "true" {
			t.Fatalf("share %d: %s", i, m.raw)
		}
	}
	if d := c.expectDifficulty(); d != 4e-12 {
		t.Fatalf("vardiff raised to %v, want 4e-12 (bounded x4)", d)
	}
	if newID, clean := c.expectNotify(); newID == id || clean {
		t.Fatalf("job resent as %q clean=%v", newID, clean)
	}
}

// TestAuthorize covers usernames, several workers and bad params.
func TestAuthorize(t *testing.T) {
	e := startServer(t, nil)
	c := dial(t, e.srv)
	c.subscribe(e.vec)
	c.send(`{"id":2,"method":"mining.authorize","params":["badaddr.rig","x"]}`)
	m := c.expectError("2", 24)
	if string(m.fields["result"]) != "false" || m.errorMessage() != "invalid payout address badaddr" {
		t.Fatalf("bad username: %s", m.raw)
	}
	_, id := c.authorize("tb1qfirst.a", "x")
	c.send(`{"id":4,"method":"mining.authorize","params":["tb1qsecond.b","x"]}`)
	c.expectResult("4", "true")
	// A second worker on the connection may submit; the job stays the
	// first account's and no new notify is sent.
	p := recordedParams(t, e.vec)
	p[0], p[1], p[5] = "tb1qsecond.b", id, ""
	p = p[:5]
	c.send(vectorSubmit(5, p...))
	m = c.expectReply("5")
	if m.errorCode() != 23 {
		t.Fatalf("second worker's share should be judged (low difficulty without the vector's rolled bits), got %s", m.raw)
	}
}

// TestExtranonce1Unique: two miners asking for the same previous session id
// get different extranonce1 values, both carrying the node id.
func TestExtranonce1Unique(t *testing.T) {
	e := startServer(t, nil)
	seen := map[string]bool{}
	for i := range 5 {
		c := dial(t, e.srv)
		c.send(`{"id":1,"method":"mining.subscribe","params":["m","57a6f098"]}`)
		var res []json.RawMessage
		if err := json.Unmarshal(c.expectReply("1").fields["result"], &res); err != nil || len(res) != 3 {
			t.Fatalf("subscribe result %v", err)
		}
		var en1 string
		if err := json.Unmarshal(res[1], &en1); err != nil {
			t.Fatal(err)
		}
		if i == 0 && en1 != "57a6f098" {
			t.Fatalf("free session id not reused: %s", en1)
		}
		if len(en1) != 8 || !strings.HasPrefix(en1, "57") || seen[en1] {
			t.Fatalf("extranonce1 %q: want 8 hex digits, prefix 57, unique", en1)
		}
		seen[en1] = true
	}
}

// TestConfigure covers every extension and a bad mask.
func TestConfigure(t *testing.T) {
	tests := []struct {
		name   string
		params string
		result string
		code   int
	}{
		{"version rolling with miner mask", `[["version-rolling"],{"version-rolling.mask":"00ffff00","version-rolling.min-bit-count":2}]`,
			`{"version-rolling":true,"version-rolling.mask":"00ffe000"}`, 0},
		{"version rolling without mask", `[["version-rolling"],{}]`,
			`{"version-rolling":true,"version-rolling.mask":"1fffe000"}`, 0},
		{"all extensions", `[["version-rolling","minimum-difficulty","subscribe-extranonce","info","x-unknown"],{"version-rolling.mask":"ffffffff","minimum-difficulty.value":2048,"info.connection-url":"h"}]`,
			`{"version-rolling":true,"version-rolling.mask":"1fffe000","minimum-difficulty":true,"subscribe-extranonce":true,"info":true,"x-unknown":false}`, 0},
		{"minimum difficulty without value", `[["minimum-difficulty"],{}]`, `{"minimum-difficulty":false}`, 0},
		{"bad mask", `[["version-rolling"],{"version-rolling.mask":"zz"}]`, "", 20},
		{"extensions not a list", `["version-rolling"]`, "", 20},
		{"extension not a string", `[["version-rolling",1],{}]`, "", 20},
		{"options not an object", `[["version-rolling"],["version-rolling.mask"]]`, "", 20},
		{"null options", `[["version-rolling"],null]`,
			`{"version-rolling":true,"version-rolling.mask":"1fffe000"}`, 0},
		{"null extensions", `[null]`, `{}`, 0},
		{"null extension", `[[null],{}]`, `{"":false}`, 0},
		{"mask not a string", `[["version-rolling"],{"version-rolling.mask":123}]`, "", 20},
		{"mask too long", `[["version-rolling"],{"version-rolling.mask":"1ffffe0000"}]`, "", 20},
		{"mask empty", `[["version-rolling"],{"version-rolling.mask":""}]`, "", 20},
		{"mask upper case", `[["version-rolling"],{"version-rolling.mask":"00FFFF00"}]`,
			`{"version-rolling":true,"version-rolling.mask":"00ffe000"}`, 0},
		{"last of a repeated option counts", `[["version-rolling"],{"version-rolling.mask":"zz","version-rolling.mask":"00ffff00"}]`,
			`{"version-rolling":true,"version-rolling.mask":"00ffe000"}`, 0},
		{"escaped option name", `[["version-rolling"],{"version-rolling\u002emask":"00ffff00"}]`,
			`{"version-rolling":true,"version-rolling.mask":"00ffe000"}`, 0},
		{"escaped extension name", `[["version\u002drolling"],{}]`,
			`{"version-rolling":true,"version-rolling.mask":"1fffe000"}`, 0},
		{"minimum difficulty as a string", `[["minimum-difficulty"],{"minimum-difficulty.value":"2048"}]`, `{"minimum-difficulty":true}`, 0},
		{"minimum difficulty negative", `[["minimum-difficulty"],{"minimum-difficulty.value":-1}]`, `{"minimum-difficulty":false}`, 0},
		{"extra params ignored", `[["subscribe-extranonce"],{},"x",4,5]`, `{"subscribe-extranonce":true}`, 0},
	}
	e := startServer(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, e.srv)
			c.send(`{"id":9,"method":"mining.configure","params":` + tc.params + `}`)
			if tc.code != 0 {
				c.expectError("9", tc.code)
				return
			}
			c.expectResult("9", tc.result)
		})
	}
}

// TestMinimumDifficultyFloor: a minimum-difficulty above the current one
// raises it before the first job.
func TestMinimumDifficultyFloor(t *testing.T) {
	e := startServer(t, nil)
	c := dial(t, e.srv)
	c.subscribe(e.vec)
	c.send(`{"id":2,"method":"mining.configure","params":[["minimum-difficulty"],{"minimum-difficulty.value":4096}]}`)
	c.expectResult("2", `{"minimum-difficulty":true}`)
	if d, _ := c.authorize("tb1qa", "x"); d != 4096 {
		t.Fatalf("difficulty %v, want the 4096 floor", d)
	}
}
