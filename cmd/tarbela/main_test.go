package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tarbela-pool/tarbela/internal/vectors"
)

func TestConfigCheck(t *testing.T) {
	for _, c := range []struct {
		name, file, env string
		code            int
		out             string
	}{
		{"sample with the password from the environment", "../../config/tarbela.sample.toml", "secret", 0, "OK"},
		{"sample without the password", "../../config/tarbela.sample.toml", "", 1, "nodes[0].rpc_password"},
		{"missing file", "does-not-exist.toml", "", 1, "does-not-exist.toml"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("TARBELA_NODE_RPC_PASSWORD", c.env)
			var out, errb bytes.Buffer
			if code := run([]string{"config", "check", c.file}, &out, &errb); code != c.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, c.code, errb.String())
			}
			if !strings.Contains(out.String()+errb.String(), c.out) {
				t.Errorf("output %q %q lacks %q", out.String(), errb.String(), c.out)
			}
		})
	}
}

// TestShareVerify runs the inspector on the recorded session's accepted
// share (testdata/stratum-vectors.json entry 0).
func TestShareVerify(t *testing.T) {
	v := vectors.Load(t)[vectors.RecordedSession]
	notify := string(v.Inputs["notify_params"])
	wantHash := vectors.Str(t, v.Expected, "hash")
	var req struct {
		Params json.RawMessage `json:"params"`
	}
	json.Unmarshal([]byte(vectors.Str(t, v.Inputs, "submit_request")), &req)
	for _, c := range []struct {
		name     string
		diff     string
		accepted bool
	}{{"accepted at 512", "512", true}, {"low at 1000", "1000", false}} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run([]string{"share", "verify", "-notify", notify, "-extranonce1", "57a6f098",
				"-submit", string(req.Params), "-mask", "1fffe000", "-difficulty", c.diff}, &out, &errb)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			var got struct {
				Hash     string `json:"hash"`
				Accepted *bool  `json:"accepted"`
				Block    *bool  `json:"block"`
			}
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("output %q: %v", out.String(), err)
			}
			if got.Hash != wantHash || got.Accepted == nil || *got.Accepted != c.accepted || got.Block == nil || *got.Block {
				t.Errorf("output %s", out.String())
			}
		})
	}
	var out, errb bytes.Buffer
	if code := run([]string{"share", "verify", "-notify", "[]", "-extranonce1", "zz", "-submit", "[]"}, &out, &errb); code == 0 {
		t.Error("bad extranonce1 accepted")
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"frobnicate"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
}
