package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/internal/tlscert"
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

// TestConfigCheckAPIToken: with the API on, config check reads its token
// file and refuses one its group or others may read.
func TestConfigCheckAPIToken(t *testing.T) {
	sample, err := os.ReadFile("../../config/tarbela.sample.toml")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TARBELA_NODE_RPC_PASSWORD", "secret")
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		mode os.FileMode
		code int
		out  string
	}{
		{"owner only", 0o600, 0, "OK"},
		{"readable by others", 0o644, 1, "api.token_file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok := filepath.Join(dir, c.name+".token")
			if err := os.WriteFile(tok, []byte("a-token-of-enough-characters\n"), c.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(tok, c.mode); err != nil {
				t.Fatal(err)
			}
			api := strings.Index(string(sample), "[api]\n")
			rest := strings.Replace(string(sample[api:]), `listen = ""`, `listen = "127.0.0.1:0"`, 1)
			rest = strings.Replace(rest, `token_file = ""`, fmt.Sprintf("token_file = %q", tok), 1)
			file := filepath.Join(dir, c.name+".toml")
			if err := os.WriteFile(file, append(sample[:api:api], rest...), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			if code := run([]string{"config", "check", file}, &out, &errb); code != c.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, c.code, errb.String())
			}
			if !strings.Contains(out.String()+errb.String(), c.out) {
				t.Errorf("output %q %q lacks %q", out.String(), errb.String(), c.out)
			}
		})
	}
}

// TestConfigCheckTLS: config check loads the TLS listener's certificate
// and key, and names the key and the fix when they do not load.
func TestConfigCheckTLS(t *testing.T) {
	t.Setenv("TARBELA_NODE_RPC_PASSWORD", "secret")
	sample, err := os.ReadFile("../../config/tarbela.sample.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if _, err := tlscert.Ensure(cert, key, tlscert.Loopback, 365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, cert, key string
		code            int
		out             string
	}{
		{"pair loads", cert, key, 0, "OK"},
		{"key missing", cert, filepath.Join(dir, "nope.key"), 1, "stratum.tls_key_file: cannot be read"},
		{"swapped", key, cert, 1, "swapped"},
	} {
		t.Run(c.name, func(t *testing.T) {
			text := strings.Replace(string(sample), `tls_listen = ""`, `tls_listen = "0.0.0.0:3334"`, 1)
			text = strings.Replace(text, `tls_cert_file = ""`, `tls_cert_file = "`+c.cert+`"`, 1)
			text = strings.Replace(text, `tls_key_file = ""`, `tls_key_file = "`+c.key+`"`, 1)
			file := filepath.Join(t.TempDir(), "tarbela.toml")
			if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			if code := run([]string{"config", "check", file}, &out, &errb); code != c.code {
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
