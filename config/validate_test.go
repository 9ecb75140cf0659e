package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestAllProblemsAtOnce(t *testing.T) {
	src := `
[pool]
node_id = 300
mode = "shared"
network = "regtest"
payout_address = "` + mainnetBech32 + `"
coinbase_tag = "tarbela\u0001"
extranonce2_size = 1
[stratum]
listen = "3333"
max_line_bytes = 10
idle_timeout = "10 minutes"
write_timeout = 10
version_mask = "e0000000"
allow_ips = ["10.0.0.0/8", "not-an-ip"]
ipv6_prefix = 16
[stratum.difficulty]
min = -1
variance = 2.0
[[nodes]]
rpc_url = "ftp://127.0.0.1:8332"
[[nodes]]
name = "bad name"
rpc_url = "http://user:hunter2@127.0.0.1:8332"
rpc_user = "u"
rpc_password = "p"
zmq_hashblock = "127.0.0.1:28332"
[template]
poll_interval = "0s"
[redis]
addr = ":6379"
db = -1
prefix = "{tarbela}"
batch_size = 0
[log]
level = "verbose"
format = "text"
[metrics]
listen = "9100"
[api]
listen = "localhost"
`
	_, err := Parse([]byte(src), nil)
	ps := problemsOf(t, err)
	want := []string{
		"api.listen",
		"log.format",
		"log.level",
		"metrics.listen",
		"nodes[0].rpc_url",
		"nodes[0].rpc_user",
		"nodes[1].name",
		"nodes[1].rpc_url",
		"nodes[1].zmq_hashblock",
		"pool.coinbase_tag",
		"pool.extranonce2_size",
		"pool.mode",
		"pool.node_id",
		"pool.payout_address",
		"redis.addr",
		"redis.batch_size",
		"redis.db",
		"redis.prefix",
		"stratum.allow_ips[1]",
		"stratum.difficulty.min",
		"stratum.difficulty.variance",
		"stratum.idle_timeout",
		"stratum.ipv6_prefix",
		"stratum.listen",
		"stratum.max_line_bytes",
		"stratum.version_mask",
		"stratum.write_timeout",
		"template.poll_interval",
	}
	if got := fields(ps); !slices.Equal(got, want) {
		t.Fatalf("problem fields\n got %v\nwant %v\n%v", got, want, err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, fmt.Sprintf("invalid config, %d problems:\n", len(want))) {
		t.Errorf("error does not start with the count: %q", msg)
	}
	if n := strings.Count(msg, "\n"); n != len(want) {
		t.Errorf("error has %d lines after the header, want one per problem (%d)", n, len(want))
	}
	for _, s := range []string{
		"stratum.difficulty.min: must be > 0 and finite (got -1) (line 18)",
		"pool.node_id: must be 0..255",
		`stratum.idle_timeout: must be a duration such as "30s"`,
		"pool.payout_address: is not a regtest address",
		"nodes[1].zmq_hashblock: must be a URL with scheme tcp",
	} {
		if !strings.Contains(msg, s) {
			t.Errorf("error lacks %q:\n%s", s, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error echoes a password from a URL:\n%s", msg)
	}
}

func TestEnvSecrets(t *testing.T) {
	src := `
[pool]
network = "regtest"
payout_address = "` + regtestAddr + `"
[redis]
password = "from-file"
[[nodes]]
rpc_user = "u"
rpc_password = "file0"
[[nodes]]
rpc_user = "u"
[[nodes]]
rpc_cookie_file = "/c"
[[nodes]]
rpc_user = "u"
`
	tests := []struct {
		name      string
		env       map[string]string
		nodes     []Secret
		redis     Secret
		badFields []string
	}{
		{
			name:      "no env leaves passwords missing",
			badFields: []string{"nodes[1].rpc_password", "nodes[3].rpc_password"},
		},
		{
			name:  "shared fills nodes without password or cookie",
			env:   map[string]string{EnvNodeRPCPassword: "shared"},
			nodes: []Secret{"file0", "shared", "", "shared"},
			redis: "from-file",
		},
		{
			name: "per-index overrides file and shared",
			env: map[string]string{
				EnvNodeRPCPassword: "shared",
				EnvNodePassword(0): "env0",
				EnvNodePassword(3): "env3",
				EnvRedisPassword:   "redis-env",
			},
			nodes: []Secret{"env0", "shared", "", "env3"},
			redis: "redis-env",
		},
		{
			name:      "per-index on a cookie node conflicts",
			env:       map[string]string{EnvNodeRPCPassword: "shared", EnvNodePassword(2): "env2"},
			badFields: []string{"nodes[2].rpc_cookie_file"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(src), envOf(tt.env))
			if tt.badFields != nil {
				if got := fields(problemsOf(t, err)); !slices.Equal(got, tt.badFields) {
					t.Fatalf("problems at %v, want %v (%v)", got, tt.badFields, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			for i, want := range tt.nodes {
				if c.Nodes[i].RPCPassword != want {
					t.Errorf("nodes[%d] password %q, want %q", i, string(c.Nodes[i].RPCPassword), string(want))
				}
			}
			if c.Redis.Password != tt.redis {
				t.Errorf("redis password %q, want %q", string(c.Redis.Password), string(tt.redis))
			}
		})
	}
}

func TestLoadUsesProcessEnv(t *testing.T) {
	t.Setenv(EnvNodePassword(0), "per-node")
	t.Setenv(EnvRedisPassword, "redis-env")
	c, err := Load(samplePath)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Nodes[0].RPCPassword != "per-node" || c.Redis.Password != "redis-env" {
		t.Fatalf("env not applied: node %q redis %q", string(c.Nodes[0].RPCPassword), string(c.Redis.Password))
	}
}

func TestPayoutAddress(t *testing.T) {
	tests := []struct {
		name    string
		network string
		mode    string
		addr    string
		fee     float64
		field   string // "" when valid
		message string
	}{
		{name: "regtest bech32 on regtest", network: NetworkRegtest, addr: regtestAddr},
		{name: "mainnet bech32 on mainnet", network: NetworkMainnet, addr: mainnetBech32},
		{name: "mainnet p2pkh on mainnet", network: NetworkMainnet, addr: mainnetP2PKH},
		{name: "testnet bech32 on testnet", network: NetworkTestnet, addr: testnetBech32},
		{name: "testnet bech32 on signet", network: NetworkSignet, addr: testnetBech32},
		{name: "testnet bech32 on testnet4", network: NetworkTestnet4, addr: testnetBech32},
		{name: "mainnet bech32 on regtest", network: NetworkRegtest, addr: mainnetBech32,
			field: "pool.payout_address", message: "is not a regtest address"},
		{name: "mainnet p2pkh on regtest", network: NetworkRegtest, addr: mainnetP2PKH,
			field: "pool.payout_address", message: "is not a valid regtest address"},
		{name: "testnet bech32 on regtest", network: NetworkRegtest, addr: testnetBech32,
			field: "pool.payout_address", message: "is not a regtest address"},
		{name: "regtest on mainnet", network: NetworkMainnet, addr: regtestAddr,
			field: "pool.payout_address", message: "is not a mainnet address"},
		{name: "bad checksum", network: NetworkMainnet, addr: mainnetBech32[:len(mainnetBech32)-1] + "5",
			field: "pool.payout_address", message: "is not a valid mainnet address"},
		{name: "pay to anchor", network: NetworkMainnet, addr: "bc1pfeessrawgf",
			field: "pool.payout_address", message: "anyone can spend"},
		{name: "missing in pool mode", network: NetworkRegtest,
			field: "pool.payout_address", message: "is required in pool mode"},
		{name: "optional in solo mode", network: NetworkRegtest, mode: ModeSolo},
		{name: "solo fee needs address", network: NetworkRegtest, mode: ModeSolo, fee: 1,
			field: "pool.pool_fee_percent", message: "payout_address is empty"},
		{name: "solo fee with address", network: NetworkRegtest, mode: ModeSolo, fee: 1.5, addr: regtestAddr},
		{name: "fee in pool mode: the payout job's cut", network: NetworkRegtest, addr: regtestAddr, fee: 1},
		{name: "fee over 100", network: NetworkRegtest, mode: ModeSolo, addr: regtestAddr, fee: 101,
			field: "pool.pool_fee_percent", message: "must be 0..100"},
		{name: "unknown network", network: "testnet3", addr: regtestAddr,
			field: "pool.network", message: `"mainnet", "testnet", "testnet4", "signet" or "regtest"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.Nodes[0].RPCUser, c.Nodes[0].RPCPassword = "u", "p"
			c.Pool.Network = tt.network
			c.Pool.PayoutAddress = tt.addr
			c.Pool.PoolFeePercent = tt.fee
			if tt.mode != "" {
				c.Pool.Mode = tt.mode
			}
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			ps := problemsOf(t, err)
			if len(ps) != 1 {
				t.Fatalf("got %v, want one problem", ps)
			}
			if p := findProblem(t, ps, tt.field); !strings.Contains(p.Message, tt.message) {
				t.Errorf("message %q lacks %q", p.Message, tt.message)
			}
		})
	}
}

func TestValidationErrorFormat(t *testing.T) {
	tests := []struct {
		name string
		err  *ValidationError
		want string
	}{
		{"one", &ValidationError{Problems: []Problem{{"a.b", "must be x"}}},
			"invalid config, 1 problem:\n\ta.b: must be x"},
		{"two", &ValidationError{Problems: []Problem{{"a", "m1"}, {"b[0].c", "m2"}}},
			"invalid config, 2 problems:\n\ta: m1\n\tb[0].c: m2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestIPv6Prefix: stratum.ipv6_prefix takes 32..128 and names itself when
// out of range.
func TestIPv6Prefix(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  int // 0 when invalid
	}{
		{"left out", "", 64},
		{"shortest", "32", 32},
		{"per site", "48", 48},
		{"exact address", "128", 128},
		{"too short", "31", 0},
		{"zero", "0", 0},
		{"too long", "129", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "[pool]\nnetwork = \"regtest\"\npayout_address = \"" + regtestAddr + "\"\n[[nodes]]\nrpc_user = \"u\"\nrpc_password = \"p\"\n[stratum]\n"
			if tt.value != "" {
				src += "ipv6_prefix = " + tt.value + "\n"
			}
			c, err := Parse([]byte(src), nil)
			if tt.want == 0 {
				ps := problemsOf(t, err)
				if p := findProblem(t, ps, "stratum.ipv6_prefix"); len(ps) != 1 || !strings.Contains(p.Message, "must be 32..128") {
					t.Fatalf("problems %v, want one for stratum.ipv6_prefix", ps)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Stratum.IPv6Prefix != tt.want {
				t.Fatalf("ipv6_prefix %d, want %d", c.Stratum.IPv6Prefix, tt.want)
			}
		})
	}
}

// TestWebsocketNeedsPort: btcd's websocket dials host:port, so a node URL
// without a port passes only without websocket_notify.
func TestWebsocketNeedsPort(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		ws, bad   bool
	}{
		{"websocket with port", "http://127.0.0.1:18334", true, false},
		{"websocket without port", "http://127.0.0.1", true, true},
		{"no websocket without port", "http://node.example", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := fmt.Sprintf("[pool]\nnetwork = \"regtest\"\npayout_address = %q\n[[nodes]]\nrpc_url = %q\nrpc_user = \"u\"\nrpc_password = \"p\"\nwebsocket_notify = %v\n",
				regtestAddr, tc.url, tc.ws)
			_, err := Parse([]byte(src), nil)
			if !tc.bad {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if got := fields(problemsOf(t, err)); !slices.Equal(got, []string{"nodes[0].rpc_url"}) || !strings.Contains(err.Error(), "must have a port with websocket_notify") {
				t.Fatalf("problems %v: %v; want nodes[0].rpc_url naming the port", got, err)
			}
		})
	}
}

// TestPayoutSection: each bad payout key is reported by its path with the
// fix; the defaults are valid.
func TestPayoutSection(t *testing.T) {
	base := "[pool]\nnetwork = \"regtest\"\npayout_address = \"" + regtestAddr + "\"\n[[nodes]]\nrpc_user = \"u\"\nrpc_password = \"p\"\n[payout]\n"
	for _, tc := range []struct {
		name, src, field, message string
	}{
		{name: "defaults"},
		{"unknown scheme", `scheme = "pay-per-last"`, "payout.scheme", `"pplns", "prop", "pps", "fpps" or "solo"`},
		{"window zero", "pplns_window = 0", "payout.pplns_window", "must be > 0"},
		{"maturity below consensus", "maturity = 99", "payout.maturity", "must be at least 100"},
		{"no outputs", "max_outputs = 0", "payout.max_outputs", "must be 1..2000"},
		{"min payout zero", "min_payout = 0", "payout.min_payout", "at least 1 satoshi"},
		{"fee cap under floor", "fee_rate_min = 5\nfee_rate_max = 2", "payout.fee_rate_max", "at least fee_rate_min"},
		{"cold without directory", `mode = "cold"`, "payout.psbt_dir", "required in cold mode"},
		{"unknown mode", `mode = "warm"`, "payout.mode", `"hot" or "cold"`},
		{"short lock", `lock_ttl = "10ms"`, "payout.lock_ttl", "at least 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(base+tc.src+"\n"), nil)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("defaults: %v", err)
				}
				return
			}
			if got := fields(problemsOf(t, err)); !slices.Equal(got, []string{tc.field}) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("problems %v: %v; want %s with %q", got, err, tc.field, tc.message)
			}
		})
	}
}

// TestStratumTLS: tls_listen needs both files named and a port of its own;
// a file named without tls_listen is a mistake, reported with the fix.
func TestStratumTLS(t *testing.T) {
	base := "[pool]\nnetwork = \"regtest\"\npayout_address = \"" + regtestAddr + "\"\n[[nodes]]\nrpc_user = \"u\"\nrpc_password = \"p\"\n[stratum]\nlisten = \"0.0.0.0:3333\"\n"
	files := "tls_cert_file = \"/etc/tarbela/tls.crt\"\ntls_key_file = \"/etc/tarbela/tls.key\"\n"
	for _, tc := range []struct {
		name, src string
		fields    []string // nil: valid
		message   string
	}{
		{name: "off"},
		{name: "on", src: "tls_listen = \"0.0.0.0:3334\"\n" + files},
		{name: "any port", src: "tls_listen = \"127.0.0.1:0\"\n" + files},
		{"no files", "tls_listen = \"0.0.0.0:3334\"\n", []string{"stratum.tls_cert_file", "stratum.tls_key_file"}, "is required with stratum.tls_listen"},
		{"no key", "tls_listen = \"0.0.0.0:3334\"\ntls_cert_file = \"/c\"\n", []string{"stratum.tls_key_file"}, "private key"},
		{"listen's address", "tls_listen = \"0.0.0.0:3333\"\n" + files, []string{"stratum.tls_listen"}, "must differ from stratum.listen"},
		{"no port", "tls_listen = \"3334\"\n" + files, []string{"stratum.tls_listen"}, "host:port"},
		{"files without listener", files, []string{"stratum.tls_cert_file", "stratum.tls_key_file"}, "stratum.tls_listen is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(base+tc.src), nil)
			if tc.fields == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if strings.Contains(tc.src, "tls_listen") && (c.Stratum.TLSListen == "" || c.Stratum.TLSCertFile == "" || c.Stratum.TLSKeyFile == "") {
					t.Fatalf("TLS keys not decoded: %+v", c.Stratum)
				}
				return
			}
			if got := fields(problemsOf(t, err)); !slices.Equal(got, tc.fields) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("problems %v: %v; want %v with %q", got, err, tc.fields, tc.message)
			}
		})
	}
}
