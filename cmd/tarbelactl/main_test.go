package main

import (
	"flag"
	"net"
	"strings"
	"testing"

	"github.com/tarbela-pool/tarbela/internal/ctl"
)

func TestHelp(t *testing.T) {
	var out, errOut strings.Builder
	if code := run([]string{"-h"}, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("-h: exit %d, stderr %s", code, errOut.String())
	}
	if out.String() != ctl.Usage {
		t.Errorf("-h printed:\n%s", out.String())
	}
	for _, line := range []string{"0  done", "1  the API answered an error", "2  usage", "3  cannot reach the API", "4  authentication"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("-h does not document exit code %q", line)
		}
	}
}

// TestFlagsDocumented: every global flag is in ctl.Usage, and the
// token's value never is.
func TestFlagsDocumented(t *testing.T) {
	fs, _ := flags(func(k string) string { return "secret-" + k })
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(ctl.Usage, "--"+f.Name+" ") {
			t.Errorf("ctl.Usage does not document --%s", f.Name)
		}
		if strings.Contains(f.DefValue, "secret-"+ctl.EnvToken) {
			t.Errorf("--%s shows the token in its default", f.Name)
		}
	})
}

func TestBadFlag(t *testing.T) {
	var out, errOut strings.Builder
	if code := run([]string{"--jsn", "status"}, func(string) string { return "" }, &out, &errOut); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if !strings.Contains(errOut.String(), "flag provided but not defined: -jsn") {
		t.Errorf("stderr %q", errOut.String())
	}
}

// TestEnvironment: $TARBELA_API_URL and $TARBELA_API_TOKEN are the
// defaults of --url and --token. The URL is a closed port, so a request
// that is sent exits 3 naming it, and one refused for want of a token
// exits 4.
func TestEnvironment(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	env := map[string]string{ctl.EnvURL: closed}
	getenv := func(k string) string { return env[k] }

	var out, errOut strings.Builder
	if code := run([]string{"bans"}, getenv, &out, &errOut); code != ctl.ExitAuth {
		t.Errorf("bans without a token: exit %d, want %d: %s", code, ctl.ExitAuth, errOut.String())
	}
	env[ctl.EnvToken] = "t"
	errOut.Reset()
	if code := run([]string{"bans"}, getenv, &out, &errOut); code != ctl.ExitUnreachable || !strings.Contains(errOut.String(), closed+"/api/v1/admin/bans") {
		t.Errorf("bans with $%s: exit %d, want %d naming %s: %s", ctl.EnvToken, code, ctl.ExitUnreachable, closed, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"--url", "http://[::1", "status"}, getenv, &out, &errOut); code != ctl.ExitUsage {
		t.Errorf("--url overriding the environment with a bad URL: exit %d, want %d: %s", code, ctl.ExitUsage, errOut.String())
	}
}
