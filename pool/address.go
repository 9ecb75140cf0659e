package pool

import (
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"

	"github.com/tarbela-pool/tarbela/share"
)

// Networks maps the configuration's network names to chain parameters.
var Networks = map[string]*chaincfg.Params{
	"mainnet":  &chaincfg.MainNetParams,
	"testnet":  &chaincfg.TestNet3Params,
	"testnet4": &chaincfg.TestNet4Params,
	"signet":   &chaincfg.SigNetParams,
	"regtest":  &chaincfg.RegressionNetParams,
}

// PayoutScript decodes addr for net and returns its output script. The
// error says which network the address was checked against.
func PayoutScript(addr string, net *chaincfg.Params) ([]byte, error) {
	a, err := address.DecodeAddress(addr, net)
	if err != nil {
		return nil, fmt.Errorf("%q is not a valid %s address: %w", addr, net.Name, err)
	}
	if !a.IsForNet(net) {
		return nil, fmt.Errorf("%q is not a %s address", addr, net.Name)
	}
	s, err := txscript.PayToAddrScript(a)
	if err != nil {
		return nil, fmt.Errorf("%q cannot be paid to: %w", addr, err)
	}
	return s, nil
}

// maxUsername bounds a Stratum username.
const maxUsername = 128

// Authorizer checks Stratum usernames of the form address[.worker] against
// the network. It satisfies stratum.Authorizer.
type Authorizer struct {
	net *chaincfg.Params
}

// NewAuthorizer returns an Authorizer for the network.
func NewAuthorizer(net *chaincfg.Params) *Authorizer { return &Authorizer{net: net} }

// Authorize validates username and splits it into account and rig. The
// error is meant for the miner.
func (a *Authorizer) Authorize(username string) (*share.Worker, error) {
	if username == "" || len(username) > maxUsername {
		return nil, fmt.Errorf("invalid username: want <%s address>[.<worker>], at most %d characters", a.net.Name, maxUsername)
	}
	account, rig, _ := strings.Cut(username, ".")
	for _, c := range rig {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return nil, fmt.Errorf("invalid worker name %q: use letters, digits, '-', '_' and '.'", rig)
		}
	}
	if _, err := PayoutScript(account, a.net); err != nil {
		return nil, fmt.Errorf("invalid username: want <%s address>[.<worker>]: %w", a.net.Name, err)
	}
	return &share.Worker{Name: username, Account: account, Rig: rig}, nil
}
