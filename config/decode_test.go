package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

// netipPrefix shortens the type in tables.
type netipPrefix = netip.Prefix

func mustPrefix(t testing.TB, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecodeValues(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		field   string // "" when valid
		message string
		check   func(*Config) bool
	}{
		{name: "duration as integer", src: "[template]\nrpc_timeout = 10\n",
			field: "template.rpc_timeout", message: `must be a duration string such as "30s" (got integer 10)`},
		{name: "negative duration", src: "[template]\nrpc_timeout = \"-1s\"\n",
			field: "template.rpc_timeout", message: "must be a positive duration"},
		{name: "compound duration", src: "[stratum]\nidle_timeout = \"1h30m\"\n",
			check: func(c *Config) bool { return c.Stratum.IdleTimeout == 90*time.Minute }},
		{name: "zero ban disables", src: "[stratum]\nban_duration = \"0s\"\n",
			check: func(c *Config) bool { return c.Stratum.BanDuration == 0 }},
		{name: "string for integer", src: poolBase + "node_id = \"1\"\n",
			field: "pool.node_id", message: `must be an integer (got string "1")`},
		{name: "float for integer", src: poolBase + "node_id = 1.5\n",
			field: "pool.node_id", message: "must be an integer (got float 1.5)"},
		{name: "node id zero", src: poolBase + "node_id = 0\n",
			check: func(c *Config) bool { return c.Pool.NodeID == 0 }},
		{name: "integer for float", src: "[stratum.difficulty]\nmax = 100000\n",
			check: func(c *Config) bool { return c.Stratum.Difficulty.Max == 100000 }},
		{name: "nan difficulty", src: "[stratum.difficulty]\ninitial = nan\n",
			field: "stratum.difficulty.initial", message: "must be > 0 and finite"},
		{name: "inf difficulty", src: "[stratum.difficulty]\nmax = inf\n",
			field: "stratum.difficulty.max", message: "must be > 0 and finite"},
		{name: "min over max", src: "[stratum.difficulty]\nmin = 10\nmax = 1\n",
			field: "stratum.difficulty.min", message: "must be <= stratum.difficulty.max"},
		{name: "initial below min", src: "[stratum.difficulty]\nmin = 10\ninitial = 1\n",
			field: "stratum.difficulty.initial", message: "must be between min 10 and max"},
		{name: "fractional difficulty", src: "[stratum.difficulty]\nmin = 1e-12\ninitial = 1e-10\n",
			check: func(c *Config) bool { return c.Stratum.Difficulty.Initial == 1e-10 }},
		{name: "version mask number", src: "[stratum]\nversion_mask = 536862720\n",
			field: "stratum.version_mask", message: "must be 8 hex digits"},
		{name: "version mask short", src: "[stratum]\nversion_mask = \"1fffe00\"\n",
			field: "stratum.version_mask", message: "must be 8 hex digits"},
		{name: "version mask signed", src: "[stratum]\nversion_mask = \"+1fffe00\"\n",
			field: "stratum.version_mask", message: "must be 8 hex digits"},
		{name: "version mask outside bip320", src: "[stratum]\nversion_mask = \"ffffffff\"\n",
			field: "stratum.version_mask", message: "general-purpose bits 1fffe000"},
		{name: "version mask off", src: "[stratum]\nversion_mask = \"00000000\"\n",
			check: func(c *Config) bool { return c.Stratum.VersionMask == 0 }},
		{name: "version mask upper case", src: "[stratum]\nversion_mask = \"1FFFE000\"\n",
			check: func(c *Config) bool { return c.Stratum.VersionMask == 0x1fffe000 }},
		{name: "allow ips", src: "[stratum]\nallow_ips = [\"203.0.113.7/24\", \"198.51.100.9\", \"2001:db8::/48\"]\n",
			check: func(c *Config) bool {
				return slices.Equal(c.Stratum.AllowIPs, []netipPrefix{
					mustPrefix(t, "203.0.113.0/24"), mustPrefix(t, "198.51.100.9/32"), mustPrefix(t, "2001:db8::/48"),
				})
			}},
		// The locator places array elements at their key's line.
		{name: "allow ips multi-line", src: "[stratum]\nallow_ips = [\n  \"10.0.0.0/8\",\n  \"bad\",\n]\n",
			field: "stratum.allow_ips[1]", message: `must be a CIDR such as "203.0.113.0/24" or a single address (got "bad") (line 2)`},
		{name: "allow ips not array", src: "[stratum]\nallow_ips = \"10.0.0.0/8\"\n",
			field: "stratum.allow_ips", message: "must be an array (got string"},
		{name: "allow ips element type", src: "[stratum]\nallow_ips = [\"10.0.0.0/8\", 7]\n",
			field: "stratum.allow_ips[1]", message: "must be a string"},
		{name: "table for string", src: "[log]\nlevel = { x = 1 }\n",
			field: "log.level", message: "must be a string (got a table)"},
		{name: "section not a table", src: "log = \"debug\"\n",
			field: "log", message: "must be a table"},
		{name: "nodes not array of tables", src: "nodes = [1]\n",
			field: "nodes[0]", message: "must be a table (got integer 1)"},
		{name: "nodes as inline array", src: "nodes = [{rpc_user = \"u\", rpc_password = \"p\"}]\n",
			check: func(c *Config) bool { return c.Nodes[0].RPCUser == "u" && c.Nodes[0].Longpoll }},
		{name: "empty nodes", src: "nodes = []\n",
			field: "nodes", message: "at least one"},
		{name: "date for bool", src: nodesBase + "longpoll = 1979-05-27\n",
			field: "nodes[0].longpoll", message: "must be true or false (got a date/time)"},
		{name: "duplicate node names", src: "[[nodes]]\nname = \"a\"\nrpc_user = \"u\"\nrpc_password = \"p\"\n[[nodes]]\nname = \"a\"\nrpc_user = \"u\"\nrpc_password = \"p\"\n",
			field: "nodes[1].name", message: "duplicates nodes[0].name"},
		{name: "user without password names env", src: nodesBase + "[[nodes]]\nrpc_user = \"u\"\n",
			field: "nodes[1].rpc_password", message: "TARBELA_NODE_1_RPC_PASSWORD"},
		{name: "zmq without port", src: nodesBase + "zmq_hashblock = \"tcp://127.0.0.1\"\n",
			field: "nodes[0].zmq_hashblock", message: "must have a port"},
		{name: "zmq ok", src: nodesBase + "zmq_hashblock = \"tcp://127.0.0.1:28332\"\n",
			check: func(c *Config) bool { return c.Nodes[0].ZMQHashBlock == "tcp://127.0.0.1:28332" }},
		{name: "rpc url without host", src: nodesBase + "rpc_url = \"http://:8332\"\n",
			field: "nodes[0].rpc_url", message: "must name a host"},
		{name: "rpc url bad port", src: nodesBase + "rpc_url = \"http://127.0.0.1:99999\"\n",
			field: "nodes[0].rpc_url", message: "must have a port 1..65535"},
		{name: "metrics disabled", src: "[metrics]\nlisten = \"\"\n",
			check: func(c *Config) bool { return c.Metrics.Listen == "" }},
		{name: "api on", src: "[api]\nlisten = \"127.0.0.1:8080\"\ntoken_file = \"/etc/tarbela/api.token\"\n",
			check: func(c *Config) bool {
				return c.API.Listen == "127.0.0.1:8080" && c.API.TokenFile == "/etc/tarbela/api.token"
			}},
		{name: "api bad listen", src: "[api]\nlisten = \"8080\"\n",
			field: "api.listen", message: "must be host:port"},
		{name: "listen any port", src: "[stratum]\nlisten = \"127.0.0.1:0\"\n",
			check: func(c *Config) bool { return c.Stratum.Listen == "127.0.0.1:0" }},
		{name: "listen ipv6", src: "[stratum]\nlisten = \"[::1]:3333\"\n",
			check: func(c *Config) bool { return c.Stratum.Listen == "[::1]:3333" }},
		{name: "listen bad port", src: "[stratum]\nlisten = \":70000\"\n",
			field: "stratum.listen", message: "port must be 0..65535"},
		{name: "redis port 0", src: "[redis]\naddr = \"127.0.0.1:0\"\n",
			field: "redis.addr", message: "port must be 1..65535"},
		{name: "queue below batch", src: "[redis]\nbatch_size = 100\nqueue_size = 10\n",
			field: "redis.queue_size", message: "must be redis.batch_size (100)"},
		{name: "tag too long", src: poolBase + "coinbase_tag = \"" + strings.Repeat("x", MaxCoinbaseTagBytes+1) + "\"\n",
			field: "pool.coinbase_tag", message: "at most 40 bytes (got 41)"},
		{name: "tag at limits", src: poolBase + "coinbase_tag = \"" + strings.Repeat("x", MaxCoinbaseTagBytes) + "\"\nextranonce2_size = 16\n",
			check: func(c *Config) bool { return len(c.Pool.CoinbaseTag) == MaxCoinbaseTagBytes }},
		{name: "empty tag", src: poolBase + "coinbase_tag = \"\"\n",
			check: func(c *Config) bool { return c.Pool.CoinbaseTag == "" }},
		{name: "tag non-ascii", src: poolBase + "coinbase_tag = \"/tärbela/\"\n",
			field: "pool.coinbase_tag", message: "printable ASCII; byte 2 is 0xc3"},
		{name: "multi-line string skipped by locator", src: poolBase + "coinbase_tag = \"\"\"\nmode = 1\n\"\"\"\nmode = \"x\"\n",
			field: "pool.mode", message: `(got "x") (line 7)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A case that sets [pool] or nodes itself replaces the base's.
			src := tt.src
			if !strings.Contains(src, "[pool]") {
				src += poolBase
			}
			if !strings.Contains(src, "nodes") {
				src += nodesBase
			}
			c, err := Parse([]byte(src), nil)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if !tt.check(c) {
					t.Fatalf("decoded value wrong: %+v", c)
				}
				return
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 && tt.name != "multi-line string skipped by locator" {
				t.Fatalf("got %v, want one problem at %s", ps, tt.field)
			}
			if p := findProblem(t, ps, tt.field); !strings.Contains(p.Message, tt.message) {
				t.Errorf("message %q lacks %q", p.Message, tt.message)
			}
		})
	}
}

func TestLocator(t *testing.T) {
	src := `# comment
[pool]
node_id = 1
"quoted key" = 2
tag = """
[not.a.table]
fake = 1
"""
[stratum . difficulty]
min = 1
[[nodes]]
name = "a"
[[nodes]]
name = "b"
[nodes.extra]
x = 1
[log]
a.b.c = 1
'lit.key' = 2
`
	loc := newLocator([]byte(src))
	tests := []struct {
		path string
		line int
	}{
		{"pool", 2},
		{"pool.node_id", 3},
		{`pool."quoted key"`, 4},
		{"pool.tag", 5},
		{"not.a.table", 0},
		{"pool.fake", 2}, // absent key: nearest parent
		{"stratum.difficulty", 9},
		{"stratum.difficulty.min", 10},
		{"stratum", 0},
		{"nodes", 11},
		{"nodes[0]", 11},
		{"nodes[0].name", 12},
		{"nodes[1].name", 14},
		{"nodes[1].extra.x", 16},
		{"nodes[2].name", 11},
		{"log.a.b.c", 18},
		{`log."lit.key"`, 19},
		{"metrics.listen", 0},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := loc.line(tt.path); got != tt.line {
				t.Errorf("line(%q) = %d, want %d", tt.path, got, tt.line)
			}
		})
	}
}

func TestParentPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a.b.c", "a.b"},
		{"a.b[2]", "a.b"},
		{"a[0].b", "a[0]"},
		{`a."x.y"`, "a"},
		{`a."x[\"1\"]"`, "a"},
		{"a", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := parentPath(tt.in); got != tt.want {
				t.Errorf("parentPath(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"min", "mni", 1},
		{"min", "max", 2},
		{"ab", "ba", 1},
		{"rpc_pasword", "rpc_password", 1},
		{"abc", "", 3},
		{"kitten", "sitting", 3},
	}
	for _, tt := range tests {
		t.Run(tt.a+"/"+tt.b, func(t *testing.T) {
			if got := editDistance(tt.a, tt.b); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

// FuzzParse checks that no input makes Parse panic or hang, and that a config
// Parse accepts also passes Validate.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"", poolBase + nodesBase,
		"[stratum]\nallow_ips = [\"10.0.0.0/8\"]\nversion_mask = \"1fffe000\"\n",
		"nodes = [{rpc_user = \"u\"}]\n[log]\n\"a b\" = '''\nx\n'''\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, envOf(map[string]string{EnvNodeRPCPassword: "p"}))
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("Parse accepted a config Validate rejects: %v", verr)
			}
		}
		newLocator(data).line("pool.node_id")
	})
}
