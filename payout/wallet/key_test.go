package wallet

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/v2"

	"github.com/tarbela-pool/tarbela/internal/localnet"
)

func TestParseWIF(t *testing.T) {
	good := testWIF(t, 1, regtest, true)
	cases := []struct {
		name    string
		wif     string
		net     *chaincfg.Params
		wantErr string // "" for success
	}{
		{"regtest compressed", good, regtest, ""},
		{"surrounding white space", "  " + good + "\n", regtest, ""},
		{"testnet key on regtest (same prefix)", testWIF(t, 1, &chaincfg.TestNet3Params, true), regtest, ""},
		{"uncompressed WIF", testWIF(t, 1, regtest, false), regtest, ""},
		{"mainnet key on regtest", testWIF(t, 1, &chaincfg.MainNetParams, true), regtest, "is a mainnet key, and the pool runs on regtest"},
		{"regtest key on mainnet", good, &chaincfg.MainNetParams, "is a test network (testnet, signet, regtest) key, and the pool runs on mainnet"},
		{"empty", " ", regtest, "the payout key is empty"},
		{"not base58", "0OIl" + good[4:], regtest, "is not a WIF private key"},
		{"bad checksum", good[:len(good)-1] + flip(good[len(good)-1]), regtest, "is not a WIF private key"},
		{"an address", localnet.RegtestAddress(1), regtest, "is not a WIF private key"},
		{"hex private key", hex.EncodeToString(localnet.RegtestKey(1).Serialize()), regtest, "is not a WIF private key"},
		{"no network", good, nil, "no network"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseWIF(tc.wif, tc.net)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got, want := k.Address(), localnet.RegtestAddress(1); got != want {
					t.Errorf("Address() = %s, want %s", got, want)
				}
				return
			}
			wantErr(t, err, nil, tc.wantErr)
			if w := strings.TrimSpace(tc.wif); w != "" && strings.Contains(err.Error(), w) {
				t.Errorf("error %q contains the WIF", err)
			}
		})
	}
}

// flip changes a base58 character into another one.
func flip(c byte) string {
	if c == '2' {
		return "3"
	}
	return "2"
}

func TestLoadKey(t *testing.T) {
	wif := testWIF(t, 1, regtest, true)
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noEnv := func(string) string { return "" }
	envWith := func(v string) func(string) string {
		return func(name string) string {
			if name == KeyEnv {
				return v
			}
			return ""
		}
	}
	cases := []struct {
		name    string
		path    string
		env     func(string) string
		wantErr []string
	}{
		{"file 0600 with newline", write("ok", wif+"\n", 0o600), noEnv, nil},
		{"file 0400", write("ro", wif, 0o400), noEnv, nil},
		{"file readable by others", write("open", wif, 0o644), noEnv, []string{"accessible by group or others (mode 0644)", "chmod 600 " + filepath.Join(dir, "open")}},
		{"file readable by group", write("group", wif, 0o640), noEnv, []string{"mode 0640"}},
		{"file with garbage", write("junk", "not a key\n", 0o600), noEnv, []string{"not a WIF", filepath.Join(dir, "junk")}},
		{"file too large", write("big", strings.Repeat("x", maxKeyFile+1), 0o600), noEnv, []string{"larger than 4096 bytes"}},
		{"missing file", filepath.Join(dir, "nope"), noEnv, []string{"no such file"}},
		{"directory", dir, noEnv, []string{"not a regular file"}},
		{"env", "", envWith(wif), nil},
		{"env with garbage", "", envWith("garbage"), []string{"not a WIF", "read from " + KeyEnv}},
		{"neither", "", noEnv, []string{"no payout key", "payout.key_file", KeyEnv}},
		{"file wins over env", write("ok2", wif, 0o600), envWith("garbage"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := LoadKey(tc.path, tc.env, regtest)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if k.Address() != localnet.RegtestAddress(1) {
					t.Errorf("Address() = %s", k.Address())
				}
				return
			}
			wantErr(t, err, nil, tc.wantErr...)
			if strings.Contains(err.Error(), wif) {
				t.Errorf("error %q contains the WIF", err)
			}
		})
	}
}

func TestLoadKeyDefaultEnv(t *testing.T) {
	t.Setenv(KeyEnv, testWIF(t, 2, regtest, true))
	k, err := LoadKey("", nil, regtest)
	if err != nil {
		t.Fatal(err)
	}
	if k.Address() != localnet.RegtestAddress(2) {
		t.Errorf("Address() = %s, want %s", k.Address(), localnet.RegtestAddress(2))
	}
}

func TestKeyMatches(t *testing.T) {
	k := testKey(t, 1)
	cases := []struct {
		name string
		addr string
		want bool
	}{
		{"its P2WPKH", addrOf(t, "p2wpkh", 1, regtest), true},
		{"its P2PKH", addrOf(t, "p2pkh", 1, regtest), true},
		{"its P2WPKH on mainnet", addrOf(t, "p2wpkh", 1, &chaincfg.MainNetParams), false},
		{"its P2PKH on mainnet", addrOf(t, "p2pkh", 1, &chaincfg.MainNetParams), false},
		{"its P2TR", addrOf(t, "p2tr", 1, regtest), false},
		{"another key's P2WPKH", addrOf(t, "p2wpkh", 2, regtest), false},
		{"another key's P2PKH", addrOf(t, "p2pkh", 2, regtest), false},
		{"a P2SH", addrOf(t, "p2sh", 1, regtest), false},
		{"garbage", "hello", false},
		{"empty", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := k.Matches(tc.addr); got != tc.want {
				t.Errorf("Matches(%s) = %v, want %v", tc.addr, got, tc.want)
			}
		})
	}
}

// TestKeyPrintsNoSecret: formatting a Key, whatever the verb, shows neither
// the WIF nor the private key's bytes.
func TestKeyPrintsNoSecret(t *testing.T) {
	k := testKey(t, 1)
	wif := testWIF(t, 1, regtest, true)
	secret := hex.EncodeToString(localnet.RegtestKey(1).Serialize())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		out := fmt.Sprintf(verb, k) + fmt.Sprintf(verb, *k)
		if strings.Contains(out, wif) || strings.Contains(strings.ToLower(out), secret) {
			t.Errorf("%s prints the secret: %s", verb, out)
		}
	}
	if !strings.Contains(k.String(), k.Address()) {
		t.Errorf("String() = %q, want the address", k.String())
	}
}
