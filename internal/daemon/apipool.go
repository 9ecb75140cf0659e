package daemon

import (
	"github.com/tarbela-pool/tarbela/api"
	"github.com/tarbela-pool/tarbela/pool"
	"github.com/tarbela-pool/tarbela/share/redisstore"
	"github.com/tarbela-pool/tarbela/stratum"
)

// APIPoolOptions are the sources of NewAPIPool's answers.
type APIPoolOptions struct {
	// Reader and Ledger read the pool-wide figures from Redis; both are
	// required.
	Reader *redisstore.Reader
	Ledger *redisstore.Ledger
	// Manager, when set, gives the network height and difficulty; without
	// it they are 0 and blocks have no confirmations.
	Manager *pool.Manager
	// Server, when set, gives the difficulty and reject rate of the
	// workers connected to it; without it they are null.
	Server *stratum.Server
}

// NewAPIPool returns the api.Pool the daemon serves, for a process that
// serves the API over a Redis ledger without a whole daemon: the load
// tool's in-process pool (tarbela-bench pool --api), which has a Stratum
// server but no node.
func NewAPIPool(o APIPoolOptions) api.Pool {
	return &apiPool{reader: o.Reader, ledger: o.Ledger, manager: o.Manager, server: o.Server}
}
