package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/api"
	"github.com/tarbela-pool/tarbela/stratum"
)

// APIOptions serves Tarbela's HTTP API (package api) beside the in-process
// pool, so that what polling the API costs the share path can be measured
// (tarbela-bench pool --api, scripts/load/api.sh).
type APIOptions struct {
	// Listen is the API's address; "" serves none.
	Listen string
	// Pool builds the public routes' source from the pool's Stratum
	// server (internal/daemon's NewAPIPool over the Redis the pool
	// records into). Required with Listen.
	Pool func(*stratum.Server) api.Pool
	// Network is the network the account addresses are of (regtest when
	// nil).
	Network *chaincfg.Params
	// Log receives the API's logs (zap.NewNop() by default).
	Log *zap.Logger
}

// startAPI serves the API o describes for the pool's server p. The admin
// routes answer 403: there is no token, and no admin behind them.
func startAPI(o APIOptions, srv *stratum.Server) (*api.Server, net.Addr, error) {
	if o.Pool == nil {
		return nil, nil, errors.New("api: no source for the public routes (APIOptions.Pool)")
	}
	if o.Network == nil {
		o.Network = &chaincfg.RegressionNetParams
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	s, err := api.New(api.Options{Pool: o.Pool(srv), Admin: noAdmin{}, Network: o.Network, Log: o.Log})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("api: %w", err)
	}
	if err := s.Start(ln); err != nil {
		ln.Close()
		return nil, nil, err
	}
	return s, ln.Addr(), nil
}

// errNoAdmin is every admin action's answer; without a token the API
// refuses the admin routes before asking.
var errNoAdmin = errors.New("the load tool's pool has no admin routes")

// noAdmin is the load pool's api.Admin: it does nothing.
type noAdmin struct{}

func (noAdmin) Connections(context.Context, api.ConnFilter) ([]api.Connection, error) {
	return nil, errNoAdmin
}
func (noAdmin) KickWorker(context.Context, string) (int, error)             { return 0, errNoAdmin }
func (noAdmin) KickAddress(context.Context, netip.Addr) (int, error)        { return 0, errNoAdmin }
func (noAdmin) Bans(context.Context) ([]api.Ban, error)                     { return nil, errNoAdmin }
func (noAdmin) Unban(context.Context, netip.Addr) (bool, error)             { return false, errNoAdmin }
func (noAdmin) Reload(context.Context) (api.Reload, error)                  { return api.Reload{}, errNoAdmin }
func (noAdmin) SetDifficulty(context.Context, string, float64) (int, error) { return 0, errNoAdmin }
func (noAdmin) Ban(context.Context, netip.Addr, time.Duration) (api.Ban, error) {
	return api.Ban{}, errNoAdmin
}
