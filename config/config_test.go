package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// poolBase and nodesBase make a minimal valid regtest file together.
const (
	poolBase  = "[pool]\nnetwork = \"regtest\"\npayout_address = \"" + regtestAddr + "\"\n"
	nodesBase = "[[nodes]]\nrpc_user = \"u\"\nrpc_password = \"p\"\n"
)

// regtestAddr is the BIP173 regtest P2WPKH example address.
const regtestAddr = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"

// Addresses from BIP173 and well-known blocks, one per network family.
const (
	mainnetBech32 = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
	mainnetP2PKH  = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa" // genesis coinbase
	testnetBech32 = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
)

const samplePath = "tarbela.sample.toml"

// envOf builds an env lookup from a map.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// problemsOf returns the problems of a *ValidationError, failing the test for
// any other error.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	if err == nil {
		t.Fatal("got no error, want a *ValidationError")
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %T %v, want a *ValidationError", err, err)
	}
	return ve.Problems
}

// fields returns the sorted field paths of ps.
func fields(ps []Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Field
	}
	slices.Sort(out)
	return out
}

// findProblem returns the problem at field, failing the test if absent.
func findProblem(t *testing.T, ps []Problem, field string) Problem {
	t.Helper()
	for _, p := range ps {
		if p.Field == field {
			return p
		}
	}
	t.Fatalf("no problem for %s; got %v", field, ps)
	return Problem{}
}

func readSample(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestSampleLoads(t *testing.T) {
	t.Setenv(EnvNodeRPCPassword, "devnet-secret")
	c, err := Load(samplePath)
	if err != nil {
		t.Fatalf("Load(sample): %v", err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"network", c.Pool.Network, NetworkRegtest},
		{"payout address", c.Pool.PayoutAddress, regtestAddr},
		{"node count", len(c.Nodes), 1},
		{"node name", c.Nodes[0].Name, "btcd-regtest"},
		{"node url", c.Nodes[0].RPCURL, "http://127.0.0.1:18334"},
		{"node password from env", string(c.Nodes[0].RPCPassword), "devnet-secret"},
		{"websocket", c.Nodes[0].WebsocketNotify, true},
		{"version mask", c.Stratum.VersionMask, uint32(0x1fffe000)},
		{"idle timeout", c.Stratum.IdleTimeout, 10 * time.Minute},
		{"batch interval", c.Redis.BatchInterval, 10 * time.Millisecond},
		{"initial difficulty", c.Stratum.Difficulty.Initial, 0.001},
		{"max difficulty", c.Stratum.Difficulty.Max, 1e15},
		{"allow ips", len(c.Stratum.AllowIPs), 0},
		{"log format", c.Log.Format, "console"},
		{"chain params", c.ChainParams().Name, "regtest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
}

func TestSampleNeedsOnlyThePassword(t *testing.T) {
	data := readSample(t)
	_, err := Parse(data, nil)
	ps := problemsOf(t, err)
	if got := fields(ps); !slices.Equal(got, []string{"nodes[0].rpc_password"}) {
		t.Fatalf("problems %v, want only nodes[0].rpc_password", ps)
	}
	wantLine := 0
	for i, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "rpc_password") {
			wantLine = i + 1
		}
	}
	if want := fmt.Sprintf("(line %d)", wantLine); !strings.Contains(ps[0].Message, want) {
		t.Errorf("message %q does not name %s", ps[0].Message, want)
	}
	if !strings.Contains(ps[0].Message, "TARBELA_NODE_0_RPC_PASSWORD") {
		t.Errorf("message %q does not name the env variable", ps[0].Message)
	}
}

// keyPaths lists every key path of struct type t as the sample spells it
// (slices of tables at index 0).
func keyPaths(t reflect.Type, prefix string) []string {
	var out []string
	for f := range fieldsOf(t) {
		sf := t.Field(fieldsOf(t)[f].index)
		path := joinPath(prefix, f)
		switch {
		case sf.Type.Kind() == reflect.Struct && sf.Type != prefixType:
			out = append(out, keyPaths(sf.Type, path)...)
		case sf.Type.Kind() == reflect.Slice && sf.Type.Elem().Kind() == reflect.Struct && sf.Type.Elem() != prefixType:
			out = append(out, keyPaths(sf.Type.Elem(), path+"[0]")...)
		default:
			out = append(out, path)
		}
	}
	slices.Sort(out)
	return out
}

func TestSampleDocumentsEveryKey(t *testing.T) {
	data := readSample(t)
	lines := strings.Split(string(data), "\n")
	loc := newLocator(data)
	for _, path := range keyPaths(reflect.TypeFor[Config](), "") {
		t.Run(path, func(t *testing.T) {
			n, ok := loc.lines[path]
			if !ok {
				t.Fatalf("sample does not set %s", path)
			}
			documented := false
			for i := n - 2; i >= 0 && strings.HasPrefix(lines[i], "#"); i-- {
				documented = documented || strings.Contains(lines[i], "Default:")
			}
			// rpc_user and rpc_password share one comment block.
			if !documented && path != "nodes[0].rpc_password" {
				t.Errorf("line %d: %s has no comment stating its default", n, path)
			}
		})
	}
}

// defaultValueRE takes the value after "Default:" in a sample comment: a
// quoted string, an empty array or a bare number/boolean.
var defaultValueRE = regexp.MustCompile(`Default: ("[^"]*"|\[\]|[^\s(]+)`)

func TestSampleDefaultsMatchCode(t *testing.T) {
	data := readSample(t)
	lines := strings.Split(string(data), "\n")
	loc := newLocator(data)
	for _, path := range keyPaths(reflect.TypeFor[Config](), "") {
		if path == "nodes[0].name" || path == "nodes[0].rpc_password" {
			continue // index-derived name; shares rpc_user's comment
		}
		t.Run(path, func(t *testing.T) {
			value := ""
			for i := loc.lines[path] - 2; i >= 0 && strings.HasPrefix(lines[i], "#"); i-- {
				if m := defaultValueRE.FindStringSubmatch(lines[i]); m != nil {
					value = strings.TrimSuffix(m[1], ".")
				}
			}
			if value == "" {
				t.Fatalf("no documented default for %s", path)
			}
			// Write "key = <documented default>" at the key's place and
			// decode it over Default: nothing may change.
			table, key := parentPath(path), path[len(parentPath(path))+1:]
			header := "[" + table + "]"
			switch table {
			case "nodes[0]":
				header = "[[nodes]]"
			case "sites[0]":
				header = "[[sites]]"
			case "sites[0].fleets[0]":
				header = "[[sites]]\n[[sites.fleets]]"
			}
			doc := header + "\n" + key + " = " + value + "\n"
			if table == "" {
				doc = key + " = " + value + "\n"
			}
			raw, err := decodeTOML([]byte(doc))
			if err != nil {
				t.Fatalf("documented default %s does not parse: %v", value, err)
			}
			got := Default()
			var ps problems
			decodeConfig(raw, got, &ps)
			if len(ps) != 0 {
				t.Fatalf("documented default %s: %v", value, ps)
			}
			want := Default()
			switch table {
			case "nodes[0]":
				want.Nodes = []Node{DefaultNode()}
			case "sites[0]":
				want.Sites = []Site{{}}
			case "sites[0].fleets[0]":
				want.Sites = []Site{{Fleets: []Fleet{{}}}}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("sample documents %s = %s, but Default() differs", path, value)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	regtest := func(c *Config) {
		c.Pool.Network = NetworkRegtest
		c.Pool.PayoutAddress = regtestAddr
		c.Nodes[0].RPCUser = "tarbela"
		c.Nodes[0].RPCPassword = "secret"
	}
	tests := []struct {
		name   string
		edit   func(*Config)
		fields []string // nil: valid
	}{
		{name: "regtest with payout address and node credentials", edit: regtest},
		{name: "as is needs payout address and credentials", edit: func(*Config) {},
			fields: []string{"nodes[0].rpc_user", "pool.payout_address"}},
		{name: "solo regtest needs no payout address", edit: func(c *Config) {
			regtest(c)
			c.Pool.Mode = ModeSolo
			c.Pool.PayoutAddress = ""
		}},
		{name: "cookie file instead of user", edit: func(c *Config) {
			regtest(c)
			c.Nodes[0].RPCUser, c.Nodes[0].RPCPassword = "", ""
			c.Nodes[0].RPCCookieFile = "/var/lib/bitcoind/.cookie"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.edit(c)
			err := c.Validate()
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if got := fields(problemsOf(t, err)); !slices.Equal(got, tt.fields) {
				t.Fatalf("problems at %v, want %v (%v)", got, tt.fields, err)
			}
		})
	}
}

func TestDefaultIsFresh(t *testing.T) {
	a := Default()
	a.Nodes[0].Name = "changed"
	a.Stratum.AllowIPs = append(a.Stratum.AllowIPs, mustPrefix(t, "10.0.0.0/8"))
	b := Default()
	if b.Nodes[0].Name != "node0" || len(b.Stratum.AllowIPs) != 0 {
		t.Fatalf("Default shares state between calls: %+v", b)
	}
}

func TestEmptyFileIsDefault(t *testing.T) {
	_, err := Parse(nil, nil)
	want := Default()
	ps := problemsOf(t, err)
	if got := fields(ps); !slices.Equal(got, fields(problemsOf(t, want.Validate()))) {
		t.Fatalf("empty file problems %v differ from Default's", got)
	}
}

func TestParseOverDefaults(t *testing.T) {
	src := `
[pool]
network = "regtest"
payout_address = "` + regtestAddr + `"
[stratum.difficulty]
initial = 2
[[nodes]]
rpc_user = "u"
rpc_password = "p"
[[nodes]]
name = "backup"
rpc_url = "https://10.0.0.2:8332"
rpc_cookie_file = "/c"
longpoll = false
`
	c, err := Parse([]byte(src), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Default()
	want.Pool.Network = NetworkRegtest
	want.Pool.PayoutAddress = regtestAddr
	want.Stratum.Difficulty.Initial = 2
	want.Nodes = []Node{
		{Name: "node0", RPCURL: defaultNodeRPCURL, RPCUser: "u", RPCPassword: "p", Longpoll: true},
		{Name: "backup", RPCURL: "https://10.0.0.2:8332", RPCCookieFile: "/c"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
}

func TestUnknownKey(t *testing.T) {
	tests := []struct {
		name    string
		extra   string
		field   string
		line    int
		message string
	}{
		{"unknown table", "[bogus]\nx = 1\n", "bogus", 7, "unknown key"},
		{"typo in node", "rpc_pasword = \"x\"\n", "nodes[0].rpc_pasword", 7, `did you mean "rpc_password"?`},
		{"second node", "[[nodes]]\nrpc_user = \"u\"\nrpc_password = \"p\"\nzmq = \"x\"\n", "nodes[1].zmq", 10, "unknown key"},
		{"nested table", "[stratum.difficulty]\nmni = 1\n", "stratum.difficulty.mni", 8, `did you mean "min"?`},
		{"dotted key", "[stratum]\ndifficulty.maximum = 5\n", "stratum.difficulty.maximum", 8, "unknown key"},
		{"quoted key", "[log]\n\"lev el\" = 1\n", `log."lev el"`, 8, "unknown key"},
		{"case matters", "[Log]\nlevel = \"info\"\n", "Log", 7, `did you mean "log"?`},
		{"inline table", "[stratum]\ndifficulty = { min = 1, bad = 2 }\n", "stratum.difficulty.bad", 8, "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(poolBase+nodesBase+tt.extra), nil)
			ps := problemsOf(t, err)
			if len(ps) != 1 {
				t.Fatalf("got %d problems, want 1: %v", len(ps), err)
			}
			p := ps[0]
			if p.Field != tt.field {
				t.Errorf("field %q, want %q", p.Field, tt.field)
			}
			if !strings.Contains(p.Message, tt.message) || !strings.Contains(p.Message, fmt.Sprintf("(line %d)", tt.line)) {
				t.Errorf("message %q, want it to contain %q and line %d", p.Message, tt.message, tt.line)
			}
		})
	}
}

func TestSyntaxError(t *testing.T) {
	tests := []struct {
		name string
		src  string
	}{
		{"unterminated string", "[pool]\nmode = \"pool\n"},
		{"duplicate key", "[pool]\nmode = \"pool\"\nmode = \"solo\"\n"},
		{"bad header", "[pool\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), nil)
			if err == nil {
				t.Fatal("Parse accepted invalid TOML")
			}
			var ve *ValidationError
			if errors.As(err, &ve) {
				t.Fatalf("syntax error reported as validation: %v", err)
			}
			if !strings.Contains(err.Error(), "line ") {
				t.Errorf("error %q does not name a line", err)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "missing.toml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.toml") {
		t.Fatalf("missing file: got %v, want a wrapped fs.ErrNotExist naming the file", err)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[pool]\nnode_id = -1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	ps := problemsOf(t, err)
	findProblem(t, ps, "pool.node_id")
	if !strings.HasPrefix(err.Error(), "config "+bad+": invalid config") {
		t.Errorf("error %q does not start with the file", err)
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	c := Default()
	c.Nodes[0].RPCPassword = "node-hunter2"
	c.Redis.Password = "redis-hunter2"
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", c),
		"%+v":  fmt.Sprintf("%+v", c),
		"%#v":  fmt.Sprintf("%#v", c),
		"%s":   fmt.Sprintf("%s", c.Redis.Password),
		"json": string(js),
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(out, "hunter2") {
				t.Errorf("secret leaked: %s", out)
			}
			if !strings.Contains(out, redacted) {
				t.Errorf("no redaction marker in %s", out)
			}
		})
	}
	if string(c.Redis.Password) != "redis-hunter2" {
		t.Error("string conversion must reveal the secret for use")
	}
}

func TestValidateNil(t *testing.T) {
	var c *Config
	problemsOf(t, c.Validate())
	if err := func() error {
		c := Default()
		c.Pool.PayoutAddress = mainnetBech32
		c.Nodes[0].RPCUser = "u"
		c.Nodes[0].RPCPassword = "p"
		return c.Validate()
	}(); err != nil {
		t.Fatalf("valid mainnet config: %v", err)
	}
}

func TestScriptSigFits(t *testing.T) {
	// Validation's per-field limits must imply the consensus scriptSig bounds,
	// so no accepted configuration builds an invalid coinbase.
	if n := ScriptSigBytes(MaxCoinbaseTagBytes, MaxExtranonce2Size); n > MaxScriptSigBytes {
		t.Errorf("largest scriptSig %d > %d", n, MaxScriptSigBytes)
	}
	if n := ScriptSigBytes(0, MinExtranonce2Size); n < 2 {
		t.Errorf("smallest scriptSig %d < 2", n)
	}
}
