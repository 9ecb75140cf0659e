package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/daemon"
)

// TestAPIToken: the token comes from api.token_file (its owner's only,
// white space trimmed, at least 16 characters, at most 4 KiB) or, when the
// file is "", from $TARBELA_API_TOKEN; with neither it is "" (admin routes
// off). Every refusal names the key or the variable.
func TestAPIToken(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const tok = "0123456789abcdef0123"
	tests := []struct {
		name    string
		file    string
		env     string
		want    string
		wantErr []string
	}{
		{name: "file", file: file("ok", "  "+tok+"\n", 0o600), want: tok},
		{name: "file wins over the environment", file: file("ok2", tok, 0o400), env: "another-token-from-env", want: tok},
		{name: "environment", env: " " + tok + " ", want: tok},
		{name: "neither", want: ""},
		{name: "file readable by others", file: file("open", tok, 0o644), wantErr: []string{"api.token_file", "chmod 600"}},
		{name: "file readable by the group", file: file("group", tok, 0o640), wantErr: []string{"api.token_file", "0640"}},
		{name: "missing file", file: filepath.Join(dir, "none"), wantErr: []string{"api.token_file", "no such file"}},
		{name: "directory", file: dir, wantErr: []string{"api.token_file", "not a regular file"}},
		{name: "short token in the file", file: file("short", "abc\n", 0o600), wantErr: []string{"api.token_file", "at least 16"}},
		{name: "empty file", file: file("empty", "\n", 0o600), wantErr: []string{"api.token_file", "at least 16"}},
		{name: "large file", file: file("large", strings.Repeat("x", 5000), 0o600), wantErr: []string{"api.token_file", "larger than"}},
		{name: "short token in the environment", env: "abc", wantErr: []string{config.EnvAPIToken, "at least 16"}},
	}
	if os.Geteuid() == 0 {
		// Permissions do not stop root; the check is on the mode bits,
		// so it holds all the same.
		t.Log("running as root: mode bits are still checked")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := func(k string) string {
				if k == config.EnvAPIToken {
					return tc.env
				}
				return ""
			}
			got, err := daemon.APIToken(config.API{Listen: "127.0.0.1:0", TokenFile: tc.file}, env)
			if tc.wantErr == nil {
				if err != nil || got != tc.want {
					t.Fatalf("APIToken = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("APIToken = %q, want an error", got)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
