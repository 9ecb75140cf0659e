package stratum

import (
	"io"
	"math"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/share"
)

// FuzzDispatch feeds arbitrary request lines to a live session in every
// protocol state it reaches: whatever the line, handling it must not panic,
// and the session must answer a well-formed request afterwards unless the
// line made it close.
func FuzzDispatch(f *testing.F) {
	v := loadVector(f)
	for _, s := range []string{
		v.SubscribeRequest, v.ConfigureRequest, v.AuthorizeRequest, v.SuggestDifficultyRequest, v.SubmitRequest,
		`{"id":1,"method":"mining.submit","params":["w","1","00","00","00","00","00"]}`,
		`{"id":1,"method":"mining.configure","params":[["version-rolling","minimum-difficulty","x"],{"version-rolling.mask":"zz","minimum-difficulty.value":-1}]}`,
		`{"id":1,"method":"mining.suggest_difficulty(0.5)","params":[]}`,
		`{"id":1,"method":"mining.authorize","params":["w","d=1e-300"]}`,
		`{"id":{},"method":[],"params":"x"}`, "\x00\xff", `{"id":1,"method":"mining.subscribe","params":["a","ffffffff"]}`,
	} {
		f.Add(s)
	}
	srv, err := NewServer(Options{
		Listen: "127.0.0.1:0", NodeID: 0x57, Extranonce2Size: v.Extranonce2Size, Auth: fakeAuth{},
		Validator: share.NewValidator(share.ValidatorOptions{Store: discardStore{}, Blocks: &recordingSink{},
			Now: func() time.Time { return time.Unix(vectorNTime+60, 0) }}),
		Difficulty: DifficultyOptions{Initial: 512, Min: 1e-12, Max: 1e12},
		SendQueue:  1 << 16,
		Log:        zap.NewNop(),
	})
	if err != nil {
		f.Fatal(err)
	}
	srv.Publish(fakeWork{job: vectorJob(f, v), clean: true})
	f.Fuzz(func(t *testing.T, line string) {
		server, client := net.Pipe()
		defer client.Close()
		go func() { _, _ = io.Copy(io.Discard, client) }()
		s := newSession(srv, server, nil)
		defer s.close("fuzz done")
		// A session that has subscribed and authorized, so the line meets
		// the full protocol state.
		for _, l := range []string{v.SubscribeRequest, v.ConfigureRequest, v.AuthorizeRequest} {
			if quit, _ := s.handle([]byte(l)); quit != "" {
				t.Fatalf("handshake line %q: %s", l, quit)
			}
		}
		if quit, _ := s.handle([]byte(line)); quit != "" || s.closed() {
			return // the line ended the session, as a hostile one may
		}
		if quit, _ := s.handle([]byte(`{"id":"after","method":"mining.extranonce.subscribe","params":[]}`)); quit != "" {
			t.Fatalf("after %q the session refused a valid request: %s", line, quit)
		}
	})
}

// FuzzRetarget checks vardiff's arithmetic on arbitrary inputs: the next
// difficulty is finite, positive, within the floor and bounds, and at most
// a factor maxRetargetStep from the current one unless a bound forces it.
func FuzzRetarget(f *testing.F) {
	f.Add(512.0, 5120.0, int64(60e9), 0.0, 1e-12, 1e12)
	f.Add(1e-12, 0.0, int64(1), 1e-12, 1e-12, 1e-9)
	f.Add(1e15, 1e300, int64(1e9), 1e3, 1.0, 1e15)
	f.Fuzz(func(t *testing.T, cur, sum float64, elapsed int64, floor, lo, hi float64) {
		if !(lo > 0) || !(hi >= lo) || math.IsInf(hi, 0) || !(cur > 0) || math.IsInf(cur, 0) ||
			math.IsNaN(sum) || sum < 0 || math.IsNaN(floor) || floor < 0 || math.IsInf(floor, 0) {
			return
		}
		o := DifficultyOptions{Min: lo, Max: hi, TargetInterval: 10 * time.Second, Variance: 0.3}
		next, changed := retarget(cur, sum, time.Duration(elapsed), floor, &o)
		if !changed {
			if next != cur {
				t.Fatalf("unchanged but next %v != cur %v", next, cur)
			}
			return
		}
		if math.IsNaN(next) || math.IsInf(next, 0) || next <= 0 {
			t.Fatalf("next difficulty %v", next)
		}
		if next > hi || next < math.Min(math.Max(floor, lo), hi) {
			t.Fatalf("next %v outside [max(floor %v, min %v), max %v]", next, floor, lo, hi)
		}
		bounded := next <= cur*maxRetargetStep*(1+1e-12) && next >= cur/maxRetargetStep*(1-1e-12)
		forced := next == hi || next == math.Max(floor, lo)
		if !bounded && !forced {
			t.Fatalf("step from %v to %v exceeds x%v", cur, next, maxRetargetStep)
		}
	})
}
