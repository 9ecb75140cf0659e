package loadgen

import (
	"testing"
)

// TestNotifyParams checks the notify fast path on the layouts pools write
// and that anything else falls back to full decoding.
func TestNotifyParams(t *testing.T) {
	tests := []struct {
		name, line, want string
		ok               bool
	}{
		{"tarbela", `{"id":null,"method":"mining.notify","params":["1a","pp",[],"v",true]}` + "\n", `["1a","pp",[],"v",true]`, true},
		{"params first", `{"params":["1",[]],"id":null,"method":"mining.notify"}`, `["1",[]]`, true},
		{"spaces after colon", `{"id":null,"method":"mining.notify","params": ["1"]}`, `["1"]`, true},
		{"other method", `{"id":null,"method":"mining.set_difficulty","params":[1]}`, "", false},
		{"spaced method", `{"id": null, "method": "mining.notify", "params": ["1"]}`, "", false},
		{"no params", `{"id":null,"method":"mining.notify"}`, "", false},
		{"params not an array", `{"method":"mining.notify","params":{"a":[1]}}`, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := notifyParams([]byte(tc.line))
			if ok != tc.ok || string(got) != tc.want {
				t.Errorf("notifyParams = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestSplitJobID checks the split of a notify's params into the job id and
// the rest that identifies the template.
func TestSplitJobID(t *testing.T) {
	tests := []struct {
		name, params, id, rest string
		ok                     bool
	}{
		{"plain", `["5f","aa",true]`, `"5f"`, `,"aa",true]`, true},
		{"space", `[ "5f", "aa"]`, `"5f"`, `, "aa"]`, true},
		{"numeric id", `[5,"aa"]`, "", "", false},
		{"escaped", `["a\"b","aa"]`, "", "", false},
		{"unterminated", `["abc`, "", "", false},
		{"not an array", `{"a":1}`, "", "", false},
		{"empty", ``, "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, rest, ok := splitJobID([]byte(tc.params))
			if ok != tc.ok || string(id) != tc.id || string(rest) != tc.rest {
				t.Errorf("splitJobID = %q, %q, %v; want %q, %q, %v", id, rest, ok, tc.id, tc.rest, tc.ok)
			}
		})
	}
}

// TestJobCacheShares checks that two notifies differing only in the job id
// share one parsed job, and that a different template is parsed anew.
func TestJobCacheShares(t *testing.T) {
	var c jobCache
	get := func(params string) *cachedJob {
		t.Helper()
		_, rest, ok := splitJobID([]byte(params))
		if !ok {
			t.Fatalf("cannot split %s", params)
		}
		j, err := c.get(rest, []byte(params), VectorExtranonce2Size)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	a := get(VectorNotify)
	b := get(`["other-id"` + VectorNotify[len(`["1"`):])
	if a != b {
		t.Error("same template under another id was parsed again")
	}
	if a.prev != "171592f223740e92d223f6e68bff25279af7ac4f2246451e0000000200000000" {
		t.Errorf("prevhash %q", a.prev)
	}
	clean := get(VectorNotify[:len(VectorNotify)-len("false]")] + "true]")
	if clean == a || !clean.job.Clean {
		t.Error("a clean notify of the same template must be its own job")
	}
	_, rest, _ := splitJobID([]byte(`["x","zz"]`))
	if _, err := c.get(rest, []byte(`["x","zz"]`), 4); err == nil {
		t.Error("a malformed notify was accepted")
	}
}
