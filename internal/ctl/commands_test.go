package ctl

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

const token = "s3cret"

// The tables of blocksJSON and connectionsJSON (whose user agent's
// escape sequence is not printed).
const (
	blocksTable = `HEIGHT  HASH               STATUS     CONF  REWARD      ACCOUNT         FINDER               FOUND
850100  …56b7a8d72728a054  confirmed  24    3.12500000  bcrt1qminerone  bcrt1qminerone.rig1  3h ago
849990  …c5d6e7f8091a2b3c  orphaned   0     3.12600000  bcrt1qminertwo  bcrt1qminertwo.s9    2d ago
`
	connectionsTable = `ID  ADDRESS        WORKERS                               DIFFICULTY  HASHRATE   CONNECTED  EXTRANONCE1  AGENT
7   203.0.113.7    bcrt1qminerone.rig1                   65536       110 TH/s   2h ago     01000007     cgminer/4.12.1
9   198.51.100.20  bcrt1qminertwo.s9,bcrt1qminertwo.s9b  8192        28.0 TH/s  5m ago     01000009     bmminer/2.0.0?[31m
`
)

// get, admin and post are the requests a case wants the fake to see.
func get(path, query string) seen { return seen{Method: "GET", Path: path, Query: query} }

func admin(method, path, query, body string) seen {
	return seen{Method: method, Path: path, Query: query, Auth: "Bearer " + token, Body: body}
}

// TestCommands runs every command against the fake contract server and
// checks each request it sent (method, path, query, bearer header: on
// admin routes only, body) and what it printed.
func TestCommands(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		json   bool
		answer string // replaces the fake's answer (200) when set
		want   []seen
		out    string
	}{
		{
			name: "status",
			args: []string{"status"},
			want: []seen{get("/api/v1/pool", "")},
			out: `hashrate    1.23 PH/s (10m)  1.20 PH/s (1h)  1.00 PH/s (24h)
online      412 miners, 1234 workers
shares      123456 accepted, 789 rejected (0.64%)
network     height 850123, difficulty 83.1T
last block  850100 …56b7a8d72728a054 confirmed (24 confirmations), 3.12500000 BTC, by bcrt1qminerone.rig1, 3h ago
nodes       3
`,
		},
		{
			name:   "status before the first block",
			args:   []string{"status"},
			answer: poolNoBlockJSON,
			want:   []seen{get("/api/v1/pool", "")},
			out: `hashrate    0 H/s (10m)  0 H/s (1h)  0 H/s (24h)
online      0 miners, 0 workers
shares      0 accepted, 0 rejected
network     height 0, difficulty 4.656542373906925e-10
last block  none yet
nodes       1
`,
		},
		{
			name: "blocks",
			args: []string{"blocks"},
			want: []seen{get("/api/v1/blocks", "")},
			out:  blocksTable,
		},
		{
			name: "blocks with a limit",
			args: []string{"blocks", "--limit", "1000"},
			want: []seen{get("/api/v1/blocks", "limit=1000")},
			out:  blocksTable,
		},
		{
			name: "workers of an account, by hashrate",
			args: []string{"workers", "--account", accountOne},
			want: []seen{get("/api/v1/accounts/"+accountOne, "")},
			out: `WORKER  HASHRATE (1h)  LAST SHARE  DIFFICULTY  REJECTS  ONLINE
rig1    110 TH/s       12s ago     65536       0.20%    yes
rig2    90.0 TH/s      2m ago      -           -        yes
old     0 H/s          3d ago      -           -        no
`,
		},
		{
			name: "workers of two accounts, by name",
			args: []string{"workers", "--sort", "name", "--account", accountTwo, "--account", accountOne},
			want: []seen{get("/api/v1/accounts/"+accountTwo, ""), get("/api/v1/accounts/"+accountOne, "")},
			out: `ACCOUNT         WORKER  HASHRATE (1h)  LAST SHARE  DIFFICULTY  REJECTS  ONLINE
bcrt1qminerone  old     0 H/s          3d ago      -           -        no
bcrt1qminerone  rig1    110 TH/s       12s ago     65536       0.20%    yes
bcrt1qminerone  rig2    90.0 TH/s      2m ago      -           -        yes
bcrt1qminertwo  s9      14.0 TH/s      1s ago      8192        1.25%    yes
`,
		},
		{
			name: "workers by last share, limited",
			args: []string{"workers", "--account", accountOne, "--account", accountTwo, "--sort", "last", "--limit", "2"},
			want: []seen{get("/api/v1/accounts/"+accountOne, ""), get("/api/v1/accounts/"+accountTwo, "")},
			out: `ACCOUNT         WORKER  HASHRATE (1h)  LAST SHARE  DIFFICULTY  REJECTS  ONLINE
bcrt1qminertwo  s9      14.0 TH/s      1s ago      8192        1.25%    yes
bcrt1qminerone  rig1    110 TH/s       12s ago     65536       0.20%    yes
`,
		},
		{
			name: "workers of the node, from its connections",
			args: []string{"workers"},
			want: []seen{admin("GET", "/api/v1/admin/connections", "", "")},
			out: `WORKER               HASHRATE   DIFFICULTY  ADDRESS        CONN  CONNECTED
bcrt1qminerone.rig1  110 TH/s   65536       203.0.113.7    7     2h ago
bcrt1qminertwo.s9    28.0 TH/s  8192        198.51.100.20  9     5m ago
bcrt1qminertwo.s9b   28.0 TH/s  8192        198.51.100.20  9     5m ago
hashrate and difficulty are per connection; connections with several workers: 9
`,
		},
		{
			name: "workers of the node by name, limited",
			args: []string{"workers", "--sort", "name", "--limit", "1"},
			want: []seen{admin("GET", "/api/v1/admin/connections", "", "")},
			out: `WORKER               HASHRATE  DIFFICULTY  ADDRESS      CONN  CONNECTED
bcrt1qminerone.rig1  110 TH/s  65536       203.0.113.7  7     2h ago
hashrate and difficulty are per connection; connections with several workers: 9
`,
		},
		{
			name: "balances",
			args: []string{"balances", "--account", accountOne, "--account", accountTwo},
			want: []seen{get("/api/v1/accounts/"+accountOne, ""), get("/api/v1/accounts/"+accountTwo, "")},
			out: `ACCOUNT         BALANCE     PENDING     PAID
bcrt1qminerone  0.12345678  0.00100000  2.50000000
bcrt1qminertwo  0.00000000  0.00005000  0.00000000
`,
		},
		{
			name: "payments",
			args: []string{"payments", "--account", accountOne},
			want: []seen{get("/api/v1/accounts/"+accountOne, "")},
			out: `PAID     AMOUNT      STATE  BATCH   TXID
24h ago  1.50000000  paid   b-0002  9f2c1a7e3b5d4c6a8e0f1b2d3c4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60
12d ago  1.00000000  paid   b-0001  1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80
`,
		},
		{
			name: "payments of two accounts",
			args: []string{"payments", "--account", accountTwo, "--account", accountOne},
			want: []seen{get("/api/v1/accounts/"+accountTwo, ""), get("/api/v1/accounts/"+accountOne, "")},
			out: `ACCOUNT         PAID     AMOUNT      STATE  BATCH   TXID
bcrt1qminerone  24h ago  1.50000000  paid   b-0002  9f2c1a7e3b5d4c6a8e0f1b2d3c4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60
bcrt1qminerone  12d ago  1.00000000  paid   b-0001  1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80
`,
		},
		{
			name: "connections",
			args: []string{"connections"},
			want: []seen{admin("GET", "/api/v1/admin/connections", "", "")},
			out:  connectionsTable,
		},
		{
			name: "connections of an account, limited",
			args: []string{"connections", "--limit", "5", "--account", accountOne},
			want: []seen{admin("GET", "/api/v1/admin/connections", "account="+accountOne+"&limit=5", "")},
			out:  connectionsTable,
		},
		{
			name: "ban for an hour",
			args: []string{"ban", "203.0.113.7", "--for", "1h"},
			want: []seen{admin("POST", "/api/v1/admin/bans", "", `{"address":"203.0.113.7","duration":"1h"}`)},
			out:  "banned 203.0.113.7 until 2025-06-01T13:00:00Z (in 1h)\n",
		},
		{
			name: "ban for the default 10m",
			args: []string{"ban", "192.0.2.1"},
			want: []seen{admin("POST", "/api/v1/admin/bans", "", `{"address":"192.0.2.1","duration":"10m"}`)},
			out:  "banned 192.0.2.1 until 2025-06-01T12:10:00Z (in 10m)\n",
		},
		{
			name: "ban an IPv6 prefix, the flag first",
			args: []string{"ban", "--for", "72h", "2001:db8:1:2::/64"},
			want: []seen{admin("POST", "/api/v1/admin/bans", "", `{"address":"2001:db8:1:2::/64","duration":"72h"}`)},
			out:  "banned 2001:db8:1:2::/64 until 2025-06-04T12:00:00Z (in 3d)\n",
		},
		{
			name: "unban",
			args: []string{"unban", "192.0.2.1"},
			want: []seen{admin("DELETE", "/api/v1/admin/bans/192.0.2.1", "", "")},
			out:  "unbanned 192.0.2.1\n",
		},
		{
			name: "unban an IPv6 prefix: its slash is escaped",
			args: []string{"unban", "2001:db8:1:2::/64"},
			want: []seen{admin("DELETE", "/api/v1/admin/bans/2001:db8:1:2::%2F64", "", "")},
			out:  "unbanned 2001:db8:1:2::/64\n",
		},
		{
			name: "unban an address that is not banned",
			args: []string{"unban", "198.51.100.1"},
			want: []seen{admin("DELETE", "/api/v1/admin/bans/198.51.100.1", "", "")},
			out:  "198.51.100.1 was not banned\n",
		},
		{
			name: "bans",
			args: []string{"bans"},
			want: []seen{admin("GET", "/api/v1/admin/bans", "", "")},
			out: `ADDRESS            UNTIL                 ENDS
192.0.2.1          2025-06-01T12:09:00Z  in 9m
2001:db8:1:2::/64  2025-06-02T12:00:00Z  in 24h
`,
		},
		{
			name: "kick a worker",
			args: []string{"kick", "--worker", "bcrt1qminerone.rig1"},
			want: []seen{admin("POST", "/api/v1/admin/kick", "", `{"worker":"bcrt1qminerone.rig1"}`)},
			out:  "kicked 2 connections\n",
		},
		{
			name: "kick an address",
			args: []string{"kick", "--address", "203.0.113.7"},
			want: []seen{admin("POST", "/api/v1/admin/kick", "", `{"address":"203.0.113.7"}`)},
			out:  "kicked 2 connections\n",
		},
		{
			name: "reload",
			args: []string{"reload"},
			want: []seen{admin("POST", "/api/v1/admin/reload", "", "")},
			out:  "applied: stratum.difficulty.min, log.level\nneeds a restart: stratum.listen\n",
		},
		{
			name:   "reload that changed nothing",
			args:   []string{"reload"},
			answer: `{"applied": [], "restart": []}`,
			want:   []seen{admin("POST", "/api/v1/admin/reload", "", "")},
			out:    "applied: none\nneeds a restart: none\n",
		},
		{
			name: "difficulty",
			args: []string{"difficulty", "bcrt1qminerone.rig1", "65536"},
			want: []seen{admin("POST", "/api/v1/admin/difficulty", "", `{"worker":"bcrt1qminerone.rig1","difficulty":65536}`)},
			out:  "difficulty 65536 on 1 session of bcrt1qminerone.rig1\n",
		},
		{
			name: "fractional difficulty of a worker not on the node",
			args: []string{"difficulty", "bcrt1qminerone.gone", "0.5"},
			want: []seen{admin("POST", "/api/v1/admin/difficulty", "", `{"worker":"bcrt1qminerone.gone","difficulty":0.5}`)},
			out:  "no session of bcrt1qminerone.gone on this node: nothing changed\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, token)
			if tt.answer != "" {
				f.answer = func(w http.ResponseWriter, r *http.Request) { reply(w, 200, tt.answer) }
			}
			code, out, errOut := f.run(Options{Token: token, JSON: tt.json}, tt.args...)
			if code != ExitOK || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			if got := f.requests(); !slices.Equal(got, tt.want) {
				t.Errorf("requests:\n%+v\nwant:\n%+v", got, tt.want)
			}
			if out != tt.out {
				t.Errorf("printed:\n%s\nwant:\n%s", out, tt.out)
			}
		})
	}
}

// TestJSON checks that --json prints the API's answers unchanged but for
// the indentation: the same bytes once compacted, one document per
// answer, for every command.
func TestJSON(t *testing.T) {
	tests := []struct {
		args    []string
		answers []string
	}{
		{[]string{"status"}, []string{poolJSON}},
		{[]string{"blocks", "--limit", "2"}, []string{blocksJSON}},
		{[]string{"workers", "--account", accountOne, "--sort", "name", "--limit", "1"}, []string{accountOneJSON}},
		{[]string{"workers"}, []string{connectionsJSON}},
		{[]string{"balances", "--account", accountOne, "--account", accountTwo}, []string{accountOneJSON, accountTwoJSON}},
		{[]string{"payments", "--account", accountTwo}, []string{accountTwoJSON}},
		{[]string{"connections"}, []string{connectionsJSON}},
		{[]string{"ban", "192.0.2.1", "--for", "9m"}, []string{`{"address": "192.0.2.1", "until": "2025-06-01T12:09:00Z"}`}},
		{[]string{"unban", "192.0.2.1"}, []string{`{"unbanned": true}`}},
		{[]string{"bans"}, []string{bansJSON}},
		{[]string{"kick", "--worker", "w"}, []string{`{"kicked": 2}`}},
		{[]string{"reload"}, []string{reloadJSON}},
		{[]string{"difficulty", "w", "2"}, []string{`{"sessions": 1}`}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f := newFake(t, token)
			code, out, errOut := f.run(Options{Token: token, JSON: true}, tt.args...)
			if code != ExitOK || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			var want bytes.Buffer
			for _, a := range tt.answers {
				if err := json.Compact(&want, []byte(a)); err != nil {
					t.Fatal(err)
				}
			}
			dec := json.NewDecoder(strings.NewReader(out))
			var got bytes.Buffer
			docs := 0
			for dec.More() {
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					t.Fatalf("output is not JSON: %v\n%s", err, out)
				}
				if err := json.Compact(&got, raw); err != nil {
					t.Fatal(err)
				}
				docs++
			}
			if got.String() != want.String() {
				t.Errorf("JSON printed:\n%s\nwant the answers:\n%s", got.String(), want.String())
			}
			if docs != len(tt.answers) || !strings.Contains(out, "\n  \"") {
				t.Errorf("want %d indented documents, printed:\n%s", len(tt.answers), out)
			}
		})
	}
}

// TestUsageListsEveryCommand keeps the help in step with the commands.
func TestUsageListsEveryCommand(t *testing.T) {
	for _, c := range commands {
		if !strings.Contains(Usage, "  "+strings.TrimSpace(c.name+" "+c.synopsis)) {
			t.Errorf("Usage does not list %q", c.name+" "+c.synopsis)
		}
	}
}

// TestCommandHelp: "COMMAND -h" prints its usage line and flags to
// stdout, sends nothing and exits 0; "help" prints Usage.
func TestCommandHelp(t *testing.T) {
	f := newFake(t, token)
	code, out, _ := f.run(Options{}, "ban", "-h")
	if code != ExitOK || !strings.Contains(out, "usage: tarbelactl ban ADDRESS [--for 10m]") || !strings.Contains(out, "-for") {
		t.Errorf("ban -h: exit %d, printed:\n%s", code, out)
	}
	code, out, _ = f.run(Options{}, "help")
	if code != ExitOK || out != Usage {
		t.Errorf("help: exit %d, printed:\n%s", code, out)
	}
	if r := f.requests(); len(r) != 0 {
		t.Errorf("help sent %+v", r)
	}
}
