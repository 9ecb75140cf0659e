package vectors

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Vector is one entry of testdata/stratum-vectors.json.
type Vector struct {
	Name     string                     `json:"name"`
	Source   string                     `json:"source"`
	Inputs   map[string]json.RawMessage `json:"inputs"`
	Expected map[string]json.RawMessage `json:"expected"`
}

// Entries of stratum-vectors.json by position.
const (
	RecordedSession = 0 // public-pool session, testnet block 2442185
	Merkle1         = 1 // ESP-Miner merkle root vectors
	Merkle2         = 2
	Block100000     = 3 // mainnet block 100000 as a Stratum job
	Genesis         = 4
	Block125552     = 5
	HeightPushes    = 6 // BIP34 height pushes
	VersionRolling  = 7 // BIP310 cases
)

// Path returns the path of a file in the module's testdata directory,
// found by walking up from the working directory to go.mod.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", name)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("vectors: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Load returns every entry of testdata/stratum-vectors.json.
func Load(tb testing.TB) []Vector {
	tb.Helper()
	b, err := os.ReadFile(Path(tb, "stratum-vectors.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var vs []Vector
	if err := json.Unmarshal(b, &vs); err != nil {
		tb.Fatal(err)
	}
	return vs
}

// CoreTemplate returns the result of the recorded Bitcoin Core
// getblocktemplate (testdata/core-gbt-testnet-2442185.json).
func CoreTemplate(tb testing.TB) json.RawMessage {
	tb.Helper()
	b, err := os.ReadFile(Path(tb, "core-gbt-testnet-2442185.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var f struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Fatal(err)
	}
	return f.Result
}

// Str decodes a string field of m.
func Str(tb testing.TB, m map[string]json.RawMessage, k string) string {
	tb.Helper()
	var s string
	if err := json.Unmarshal(m[k], &s); err != nil {
		tb.Fatalf("vector field %s: %v", k, err)
	}
	return s
}

// Strs decodes a string-array field of m.
func Strs(tb testing.TB, m map[string]json.RawMessage, k string) []string {
	tb.Helper()
	var s []string
	if err := json.Unmarshal(m[k], &s); err != nil {
		tb.Fatalf("vector field %s: %v", k, err)
	}
	return s
}

// Unhex decodes hex or fails the test.
func Unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// SubmitParams returns the params of a recorded mining.submit request line.
func SubmitParams(tb testing.TB, request string) []string {
	tb.Helper()
	var r struct {
		Params []string `json:"params"`
	}
	if err := json.Unmarshal([]byte(request), &r); err != nil {
		tb.Fatal(err)
	}
	return r.Params
}
