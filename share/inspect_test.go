package share

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/internal/vectors"
)

func TestInspectRecordedShare(t *testing.T) {
	v := vectors.Load(t)[vectors.RecordedSession]
	var req struct {
		Params json.RawMessage `json:"params"`
	}
	json.Unmarshal([]byte(vectors.Str(t, v.Inputs, "submit_request")), &req)
	en1 := vectors.Unhex(t, "57a6f098")
	for _, c := range []struct {
		name     string
		diff     float64
		mask     uint32
		accepted *bool
		reason   string
	}{
		{"no difficulty", 0, 0x1fffe000, nil, ""},
		{"accepted at 512", 512, 0x1fffe000, ptr(true), ""},
		{"low at 1000", 1000, 0x1fffe000, ptr(false), "low-difficulty"},
		{"no mask", 512, 0, ptr(false), "version-bits-outside-mask"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in, err := Inspect(v.Inputs["notify_params"], en1, req.Params, c.mask, c.diff, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if (in.Accepted == nil) != (c.accepted == nil) || (in.Accepted != nil && *in.Accepted != *c.accepted) || in.Reason != c.reason {
				t.Fatalf("got accepted=%v reason=%q, want %v %q", in.Accepted, in.Reason, c.accepted, c.reason)
			}
			if c.reason == "version-bits-outside-mask" {
				return
			}
			if in.Hash != vectors.Str(t, v.Expected, "hash") || in.Header != vectors.Str(t, v.Expected, "header") ||
				in.Coinbase != vectors.Str(t, v.Expected, "coinbase_nonwitness") || in.Block {
				t.Errorf("inspection %+v", in)
			}
		})
	}
	if _, err := Inspect(v.Inputs["notify_params"], en1, []byte(`["w","1"]`), 0, 0, time.Now()); err == nil {
		t.Error("short submit params accepted")
	}
	if _, err := Inspect(v.Inputs["notify_params"], en1[:3], req.Params, 0, 0, time.Now()); err == nil {
		t.Error("3-byte extranonce1 accepted")
	}
}

func ptr[T any](v T) *T { return &v }
