package ctl

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExitAPI: an error answer of the API exits 1 and prints its message
// and the field it names; so does an answer outside the contract.
func TestExitAPI(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		answer func(w http.ResponseWriter, r *http.Request) // replaces the fake's routes when set
		stderr string
	}{
		{"unknown account (404)", []string{"balances", "--account", "bcrt1qnobody"}, nil,
			`tarbelactl balances: GET /api/v1/accounts/bcrt1qnobody: 404 Not Found: account: no shares and no ledger entry (field "address")` + "\n"},
		{"not an address (400)", []string{"workers", "--account", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"}, nil,
			`tarbelactl workers: GET /api/v1/accounts/1BoatSLRHtKNngkdXEeobR76b53LETtpyT: 400 Bad Request: address: "1BoatSLRHtKNngkdXEeobR76b53LETtpyT" is not a regtest address (field "address")` + "\n"},
		{"bad query value (400)", []string{"connections", "--account", "tb1qother"}, nil,
			`tarbelactl connections: GET /api/v1/admin/connections?account=tb1qother: 400 Bad Request: account: "tb1qother" is not a regtest address (field "account")` + "\n"},
		{"Redis down (503)", []string{"status"},
			func(w http.ResponseWriter, r *http.Request) { reply(w, 503, `{"error": "redis: not answering"}`) },
			"tarbelactl status: GET /api/v1/pool: 503 Service Unavailable: redis: not answering\n"},
		{"a proxy's error page", []string{"blocks"},
			func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(502)
				w.Write([]byte("<html>\n<h1>502 Bad Gateway</h1>\n</html>\n"))
			},
			"tarbelactl blocks: GET /api/v1/blocks: 502 Bad Gateway: <html> <h1>502 Bad Gateway</h1> </html>\n"},
		{"a redirect is not followed", []string{"ban", "192.0.2.1"},
			func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "https://pool.example/api/v1/admin/bans", http.StatusMovedPermanently)
			},
			"tarbelactl ban: POST /api/v1/admin/bans: 301 Moved Permanently: the API redirects to https://pool.example/api/v1/admin/bans: set --url to the address it names\n"},
		{"an answer that is not JSON", []string{"bans"},
			func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("OK")) },
			"tarbelactl bans: GET /api/v1/admin/bans: 200 OK: the answer is not JSON: OK\n"},
		{"an answer of another shape", []string{"blocks", "--limit", "3"},
			func(w http.ResponseWriter, r *http.Request) { reply(w, 200, `{"blocks": {"height": 1}}`) },
			"tarbelactl blocks: GET /api/v1/blocks?limit=3: 200 OK: the answer does not follow docs/api.md: json: cannot unmarshal object into Go struct field .blocks of type []ctl.Block\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, token)
			f.answer = tt.answer
			code, out, errOut := f.run(Options{Token: token}, tt.args...)
			if code != ExitAPI || errOut != tt.stderr || out != "" {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d, stderr:\n%s", code, out, errOut, ExitAPI, tt.stderr)
			}
		})
	}
}

// TestExitUsage: a bad command line exits 2 with a message, sends
// nothing, and never panics.
func TestExitUsage(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		o      Options
		args   []string
		stderr string // a part of what it prints
	}{
		{"no command", Options{}, nil, "usage: tarbelactl"},
		{"unknown command", Options{}, []string{"stats"}, `unknown command "stats"`},
		{"unknown flag", Options{}, []string{"blocks", "--limt", "3"}, "flag provided but not defined: -limt"},
		{"extra argument", Options{}, []string{"status", "now"}, `want no arguments, got ["now"]`},
		{"blocks limit 0", Options{}, []string{"blocks", "--limit", "0"}, "--limit 0: must be 1..1000"},
		{"blocks limit too high", Options{}, []string{"blocks", "--limit", "1001"}, "--limit 1001: must be 1..1000"},
		{"blocks limit not a number", Options{}, []string{"blocks", "--limit", "ten"}, `invalid value "ten" for flag -limit`},
		{"workers sort unknown", Options{}, []string{"workers", "--sort", "speed"}, `--sort "speed": want hashrate, name or last`},
		{"workers sort last without account", Options{}, []string{"workers", "--sort", "last"}, "--sort last needs --account"},
		{"workers limit 0", Options{}, []string{"workers", "--account", accountOne, "--limit", "0"}, "--limit 0: must be at least 1"},
		{"workers empty account", Options{}, []string{"workers", "--account", ""}, `--account "": want an address`},
		{"account with a space", Options{}, []string{"balances", "--account", "bcrt1q x"}, `--account "bcrt1q x": want an address`},
		{"balances without account", Options{}, []string{"balances"}, "--account is required"},
		{"payments without account", Options{}, []string{"payments"}, "--account is required"},
		{"connections limit 0", Options{}, []string{"connections", "--limit", "0"}, "--limit 0: must be at least 1"},
		{"connections empty account", Options{}, []string{"connections", "--account", " "}, `--account " ": want an address`},
		{"ban without address", Options{}, []string{"ban"}, "want ADDRESS [--for 10m], got []"},
		{"ban two addresses", Options{}, []string{"ban", "192.0.2.1", "192.0.2.2"}, "want ADDRESS [--for 10m]"},
		{"ban a host name", Options{}, []string{"ban", "miner.example"}, `"miner.example": want an IP address`},
		{"ban in days", Options{}, []string{"ban", "192.0.2.1", "--for", "1d"}, `--for "1d": want a positive duration`},
		{"ban for a negative time", Options{}, []string{"ban", "192.0.2.1", "--for", "-5m"}, `--for "-5m": want a positive duration`},
		{"ban for zero", Options{}, []string{"ban", "--for", "0s", "192.0.2.1"}, `--for "0s": want a positive duration`},
		{"unban without address", Options{}, []string{"unban"}, "want ADDRESS, got []"},
		{"unban a bad prefix", Options{}, []string{"unban", "2001:db8::/129"}, `"2001:db8::/129": want an IP address`},
		{"kick without target", Options{}, []string{"kick"}, "give one of --worker and --address"},
		{"kick both", Options{}, []string{"kick", "--worker", "w", "--address", "192.0.2.1"}, "give one of --worker and --address"},
		{"kick an empty worker", Options{}, []string{"kick", "--worker", ""}, "--worker is empty"},
		{"difficulty without D", Options{}, []string{"difficulty", "w"}, `want WORKER D, got ["w"]`},
		{"difficulty not a number", Options{}, []string{"difficulty", "w", "high"}, `D "high": want a share difficulty above 0`},
		{"difficulty 0", Options{}, []string{"difficulty", "w", "0"}, `D "0": want a share difficulty above 0`},
		{"difficulty negative", Options{}, []string{"difficulty", "w", "--", "-1"}, `D "-1": want a share difficulty above 0`},
		{"difficulty infinite", Options{}, []string{"difficulty", "w", "Inf"}, `D "Inf"`},
		{"difficulty NaN", Options{}, []string{"difficulty", "w", "NaN"}, `D "NaN"`},
		{"difficulty empty worker", Options{}, []string{"difficulty", "", "2"}, "WORKER is empty"},
		{"url without scheme", Options{URL: "127.0.0.1:8080"}, []string{"status"}, `--url "127.0.0.1:8080": want http://HOST:PORT`},
		{"url of another scheme", Options{URL: "ftp://127.0.0.1"}, []string{"status"}, `--url "ftp://127.0.0.1"`},
		{"url without host", Options{URL: "http://"}, []string{"status"}, `--url "http://"`},
		{"url with a query", Options{URL: "http://127.0.0.1:8080/?x=1"}, []string{"status"}, `--url "http://127.0.0.1:8080/?x=1"`},
		{"timeout 0", Options{Timeout: -time.Second}, []string{"status"}, "--timeout -1s: must be more than 0"},
		{"token and token file", Options{Token: "a", TokenFile: empty}, []string{"bans"}, "--token and --token-file: give one"},
		{"token file missing", Options{TokenFile: filepath.Join(dir, "none")}, []string{"bans"}, "--token-file: open " + dir},
		{"token file empty", Options{TokenFile: empty}, []string{"bans"}, "--token-file " + empty + ": the file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, token)
			if tt.o.Token == "" && tt.o.TokenFile == "" {
				tt.o.Token = token
			}
			code, out, errOut := f.run(tt.o, tt.args...)
			if code != ExitUsage || !strings.Contains(errOut, tt.stderr) || out != "" {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d and %q", code, out, errOut, ExitUsage, tt.stderr)
			}
			if r := f.requests(); len(r) != 0 {
				t.Errorf("sent %+v", r)
			}
		})
	}
}

// TestExitUnreachable: no answer exits 3 and names the URL: a closed
// port, and an API that does not answer within --timeout.
func TestExitUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answers only once the client has given up
	}))
	t.Cleanup(hung.Close)
	halfway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"blocks": [`))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the rest never comes
	}))
	t.Cleanup(halfway.Close)

	tests := []struct {
		name    string
		o       Options
		args    []string
		stderrs []string
	}{
		{"closed port", Options{URL: closed}, []string{"status"},
			[]string{"cannot reach the API: GET " + closed + "/api/v1/pool: dial tcp", "connection refused", "$TARBELA_API_URL"}},
		{"closed port, admin", Options{URL: closed + "/", Token: token}, []string{"kick", "--worker", "w"},
			[]string{"cannot reach the API: POST " + closed + "/api/v1/admin/kick:", "connection refused"}},
		{"no answer in time", Options{URL: hung.URL, Timeout: 50 * time.Millisecond}, []string{"blocks"},
			[]string{"cannot reach the API: GET " + hung.URL + "/api/v1/blocks: no answer within 50ms (--timeout)"}},
		{"answer stops halfway", Options{URL: halfway.URL, Timeout: 50 * time.Millisecond}, []string{"blocks"},
			[]string{"cannot reach the API: GET " + halfway.URL + "/api/v1/blocks: no answer within 50ms (--timeout)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f fakeAPI
			code, out, errOut := f.run(tt.o, tt.args...)
			if code != ExitUnreachable || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %s; want exit %d", code, out, errOut, ExitUnreachable)
			}
			for _, s := range tt.stderrs {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr %q does not say %q", errOut, s)
				}
			}
		})
	}
}

// TestExitAuth: exit 4 when an admin command has no token (nothing is
// sent), when the API refuses the token (401) and when its admin routes
// are disabled (403); each message says what to set.
func TestExitAuth(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("stale\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		serverTok string
		o         Options
		args      []string
		sent      string // the Authorization header sent; "" for no request
		stderr    string
	}{
		{"no token", token, Options{}, []string{"bans"}, "",
			"tarbelactl bans: /api/v1/admin/bans needs the API's admin token: set $TARBELA_API_TOKEN, or pass --token or --token-file\n"},
		{"no token, workers of the node", token, Options{}, []string{"workers"}, "",
			"tarbelactl workers: /api/v1/admin/connections needs the API's admin token: set $TARBELA_API_TOKEN, or pass --token or --token-file\n"},
		{"wrong token (401)", token, Options{Token: "wrong"}, []string{"reload"}, "Bearer wrong",
			"tarbelactl reload: POST /api/v1/admin/reload: 401 Unauthorized: missing or wrong bearer token (the token from --token was refused: set $TARBELA_API_TOKEN, or pass --token or --token-file, to the node's [api] token)\n"},
		{"stale token in the environment (401)", token, Options{EnvToken: "old"}, []string{"unban", "192.0.2.1"}, "Bearer old",
			"the token from $TARBELA_API_TOKEN was refused"},
		{"stale token file (401)", token, Options{TokenFile: tokenFile}, []string{"connections"}, "Bearer stale",
			"the token from --token-file " + tokenFile + " was refused"},
		{"admin routes disabled (403)", "", Options{Token: token}, []string{"difficulty", "w", "2"}, "Bearer " + token,
			"tarbelactl difficulty: POST /api/v1/admin/difficulty: 403 Forbidden: admin routes are disabled: set api.token_file or TARBELA_API_TOKEN (the node has no admin token: set [api] token_file or $TARBELA_API_TOKEN where tarbela runs)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.serverTok)
			code, out, errOut := f.run(tt.o, tt.args...)
			if code != ExitAuth || out != "" || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit %d and:\n%s", code, out, errOut, ExitAuth, tt.stderr)
			}
			r := f.requests()
			switch {
			case tt.sent == "" && len(r) != 0:
				t.Errorf("sent %+v without a token", r)
			case tt.sent != "" && (len(r) != 1 || r[0].Auth != tt.sent):
				t.Errorf("sent %+v, want one request with Authorization %q", r, tt.sent)
			}
		})
	}
}

// TestTokenSources: --token, else --token-file (trimmed), else
// $TARBELA_API_TOKEN; a public route never carries the token.
func TestTokenSources(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"flag", Options{Token: "from-flag", EnvToken: "from-env"}, "Bearer from-flag"},
		{"file", Options{TokenFile: file, EnvToken: "from-env"}, "Bearer from-file"},
		{"environment", Options{EnvToken: "from-env"}, "Bearer from-env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, strings.TrimPrefix(tt.want, "Bearer "))
			if code, _, errOut := f.run(tt.o, "bans"); code != ExitOK {
				t.Fatalf("bans: exit %d: %s", code, errOut)
			}
			if code, _, errOut := f.run(tt.o, "status"); code != ExitOK {
				t.Fatalf("status: exit %d: %s", code, errOut)
			}
			r := f.requests()
			if len(r) != 2 || r[0].Auth != tt.want || r[1].Auth != "" {
				t.Errorf("sent %+v, want %q on the admin route and nothing on the public one", r, tt.want)
			}
		})
	}
}

// TestURLPrefix: a base URL with a path (a node behind a reverse proxy)
// keeps it in front of every route.
func TestURLPrefix(t *testing.T) {
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		reply(w, 200, poolJSON)
	}))
	t.Cleanup(srv.Close)
	var f fakeAPI
	if code, _, errOut := f.run(Options{URL: srv.URL + "/tarbela/"}, "status"); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if path != "/tarbela/api/v1/pool" {
		t.Errorf("path %q, want /tarbela/api/v1/pool", path)
	}
}
