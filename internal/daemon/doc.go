// Package daemon wires Tarbela's packages into a running pool node: the
// template manager's work feed into the Stratum server, the share validator
// to the Redis store and the block submitter, and the metrics endpoint. It
// converts the one typed config into each package's small options struct.
// cmd/tarbela and the devnet use it; integration tests start it in-process.
//
// # Lifecycle
//
// Every part that runs goroutines has the same two verbs: Start (it may be
// called once) and Stop(ctx) error, which ends every goroutine the part
// owns and returns when they have ended or ctx is done, and is safe to call
// twice and after a failed Start. A blocking loop that ends with its context
// is Run(ctx) (the CPU miner, the load generator); Close is kept for handles
// that own no goroutine (an RPC client's idle connections, a socket).
//
// Start starts, in order: the share store (redisstore.Store), the template
// manager (pool.Manager, with its node clients), the validator
// (share.Validator, which owns the block submissions in flight), the
// Stratum server (stratum.Server), the node's stats writer (nodeReporter:
// one goroutine that writes the node's counters to Redis every 10 s, so
// that every node's API answers for the whole pool), the metrics endpoint,
// the HTTP API (api.Server, when api.listen is set). A part that fails to
// start has Start stop the ones before it in reverse order. Stop ends them
// in reverse, each once nothing upstream can feed it: the API (no admin
// action reaches a part that is stopping), the stats writer (it removes
// the node's counters from Redis), the server (no new share, no new
// block), the validator (the blocks found so far get the node's answer
// and their record, so the manager and the store must still be up), the
// manager, the store (the queued shares reach Redis or the journal, under
// the store's own bound), the metrics endpoint.
//
// The API's seams are in api.go: apiPool reads Redis (the store's reader,
// the payout ledger), the template manager and this node's connections;
// apiAdmin acts on the Stratum server and re-reads the config file
// (ReloadFile, also what SIGHUP does).
package daemon
