package wallet

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"

	"github.com/tarbela-pool/tarbela/internal/localnet"
)

var regtest = &chaincfg.RegressionNetParams

// testWIF is the WIF of localnet.RegtestKey(seed) on net.
func testWIF(t testing.TB, seed byte, net *chaincfg.Params, compress bool) string {
	t.Helper()
	w, err := btcutil.NewWIF(localnet.RegtestKey(seed), net, compress)
	if err != nil {
		t.Fatal(err)
	}
	return w.String()
}

// testKey is the payout key made from localnet.RegtestKey(seed).
func testKey(t testing.TB, seed byte) *Key {
	t.Helper()
	k, err := ParseWIF(testWIF(t, seed, regtest, true), regtest)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// addrOf returns an address of the given type for seed on net: the
// P2WPKH, P2PKH or P2TR (key path only) address of localnet.RegtestKey(seed),
// or a P2WSH or P2SH address of a script made from seed.
func addrOf(t testing.TB, kind string, seed byte, net *chaincfg.Params) string {
	t.Helper()
	pub := localnet.RegtestKey(seed).PubKey()
	hash := address.Hash160(pub.SerializeCompressed())
	var a address.Address
	var err error
	switch kind {
	case "p2wpkh":
		a, err = address.NewAddressWitnessPubKeyHash(hash, net)
	case "p2pkh":
		a, err = address.NewAddressPubKeyHash(hash, net)
	case "p2tr":
		a, err = address.NewAddressTaproot(schnorr.SerializePubKey(txscript.ComputeTaprootKeyNoScript(pub)), net)
	case "p2wsh":
		h := sha256.Sum256([]byte{txscript.OP_TRUE, seed})
		a, err = address.NewAddressWitnessScriptHash(h[:], net)
	case "p2sh":
		a, err = address.NewAddressScriptHashFromHash(address.Hash160([]byte{txscript.OP_TRUE, seed}), net)
	default:
		t.Fatalf("no address kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return a.EncodeAddress()
}

// wantErr fails t unless err is an error that wraps is (when not nil) and
// whose text contains every string of want.
func wantErr(t testing.TB, err, is error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("error %q is not %v", err, is)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q, want it to contain %q", err, w)
		}
	}
}
