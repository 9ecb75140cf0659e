package wallet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
)

// KeyEnv names the environment variable LoadKey reads the WIF from when no
// key file is configured.
const KeyEnv = "TARBELA_PAYOUT_KEY"

// maxKeyFile bounds what LoadKey reads: a WIF is 51 or 52 characters, so a
// larger file is something else.
const maxKeyFile = 4096

// Key is the pool's payout key. Its addresses and signatures always use the
// compressed public key (a WIF that marks its key uncompressed is accepted;
// the secret is the same), so the key pays and spends P2WPKH, and P2PKH of
// the compressed key.
//
// A Key never prints its secret: String and GoString name its address.
type Key struct {
	priv *btcec.PrivateKey
	pub  []byte // compressed, 33 bytes
	hash []byte // HASH160 of pub
	net  *chaincfg.Params
}

// ParseWIF decodes a private key in wallet import format for net. The
// errors never contain the WIF.
func ParseWIF(wif string, net *chaincfg.Params) (*Key, error) {
	if net == nil {
		return nil, errors.New("payout/wallet: no network given for the payout key")
	}
	wif = strings.TrimSpace(wif)
	if wif == "" {
		return nil, errors.New("payout/wallet: the payout key is empty")
	}
	w, err := btcutil.DecodeWIF(wif)
	if err != nil {
		return nil, fmt.Errorf("payout/wallet: the payout key is not a WIF private key "+
			"(base58, 51 or 52 characters: 5, K or L on mainnet, 9 or c on the test networks; "+
			"export it with your wallet's dumpprivkey or descriptor export): %w", err)
	}
	if !w.IsForNet(net) {
		keyNet := "test network (testnet, signet, regtest)"
		if w.IsForNet(&chaincfg.MainNetParams) {
			keyNet = "mainnet"
		}
		return nil, fmt.Errorf("payout/wallet: the payout key is a %s key, and the pool runs on %s: "+
			"use the WIF of a %s key (%s)", keyNet, net.Name, net.Name, wifPrefix(net))
	}
	return newKey(w.PrivKey, net), nil
}

// wifPrefix says how a WIF for net starts, for error messages.
func wifPrefix(net *chaincfg.Params) string {
	if net.PrivateKeyID == chaincfg.MainNetParams.PrivateKeyID {
		return "K or L, compressed"
	}
	return "c, compressed"
}

func newKey(priv *btcec.PrivateKey, net *chaincfg.Params) *Key {
	pub := priv.PubKey().SerializeCompressed()
	return &Key{priv: priv, pub: pub, hash: address.Hash160(pub), net: net}
}

// LoadKey reads the payout key's WIF from the file at path (surrounding
// white space ignored), or from the environment variable TARBELA_PAYOUT_KEY
// when path is "". env looks variables up (os.Getenv when nil). Like ssh
// with a private key, it refuses a file that its group or others may access.
func LoadKey(path string, env func(string) string, net *chaincfg.Params) (*Key, error) {
	if path == "" {
		if env == nil {
			env = os.Getenv
		}
		v := env(KeyEnv)
		if strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("payout/wallet: no payout key: set payout.key_file (a file holding the WIF, mode 0600) or %s", KeyEnv)
		}
		k, err := ParseWIF(v, net)
		if err != nil {
			return nil, fmt.Errorf("%w (read from %s)", err, KeyEnv)
		}
		return k, nil
	}
	wif, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParseWIF(wif, net)
	if err != nil {
		return nil, fmt.Errorf("%w (read from %s)", err, path)
	}
	return k, nil
}

// readKeyFile returns the content of a key file after checking, on the open
// file, that it is a small regular file only its owner may access.
func readKeyFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("payout/wallet: payout key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("payout/wallet: payout key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("payout/wallet: payout key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return "", fmt.Errorf("payout/wallet: payout key file %s is accessible by group or others (mode %04o): "+
			"a private key must be readable by its owner only: chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return "", fmt.Errorf("payout/wallet: payout key file: %w", err)
	}
	if len(b) > maxKeyFile {
		return "", fmt.Errorf("payout/wallet: payout key file %s is larger than %d bytes: it should hold one WIF", path, maxKeyFile)
	}
	return string(bytes.TrimSpace(b)), nil
}

// Address returns the key's P2WPKH address (bech32), the address the pool's
// coinbase should pay for the hot and cold modes alike.
func (k *Key) Address() string {
	a, err := address.NewAddressWitnessPubKeyHash(k.hash, k.net)
	if err != nil {
		// A 20-byte program is always valid.
		return ""
	}
	return a.EncodeAddress()
}

// Matches reports whether addr, on the key's network, is the P2WPKH or the
// P2PKH address of this key: the check that payout_address belongs to the
// configured key.
func (k *Key) Matches(addr string) bool {
	a, err := address.DecodeAddress(addr, k.net)
	if err != nil || !a.IsForNet(k.net) {
		return false
	}
	switch a := a.(type) {
	case *address.AddressWitnessPubKeyHash:
		return bytes.Equal(a.WitnessProgram(), k.hash)
	case *address.AddressPubKeyHash:
		return bytes.Equal(a.ScriptAddress(), k.hash)
	}
	return false
}

// String names the key by its address, so that printing a Key by mistake
// shows no secret.
func (k *Key) String() string {
	if k == nil {
		return "payout key <nil>"
	}
	return "payout key " + k.Address()
}

// GoString is String, for %#v.
func (k *Key) GoString() string { return k.String() }
