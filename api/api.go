package api

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// Pool is what the public routes read. Every node answers alike: the
// figures come from Redis and the node, except a worker's difficulty and
// reject rate, which only the node it is connected to knows.
type Pool interface {
	// Summary returns the pool's front-page figures.
	Summary(ctx context.Context) (Summary, error)
	// Hashrate returns the hashrate of the pool (account "") or of an
	// account over window in points of step, oldest first; the last
	// point is the step that holds now. The API has checked that step is
	// a whole number of minutes, at least one, and window a whole number
	// of steps, at most 24 h. ErrNotFound for an unknown account.
	Hashrate(ctx context.Context, account string, window, step time.Duration) ([]Point, error)
	// WorkerHashrate returns a worker's hashrate over window in points of
	// step, oldest first. The pool keeps a worker's history in tiers (fine
	// for the last hour, coarse for the day: docs/redis.md), so the series
	// is over the window and step nearest to those asked that the tier
	// holding the window has, never finer; Series says which. The API has
	// checked window and step as for Hashrate. ErrNotFound for a worker
	// with no share recorded within the history.
	WorkerHashrate(ctx context.Context, worker string, window, step time.Duration) (Series, error)
	// Blocks returns up to limit (1..1000) blocks, newest first.
	Blocks(ctx context.Context, limit int) ([]Block, error)
	// Account returns an account's page; ErrNotFound when the account
	// has no shares and no ledger entry. The address is one of the pool's
	// network.
	Account(ctx context.Context, address string) (Account, error)
}

// Admin is what the admin routes do to this node's live sessions and
// config.
type Admin interface {
	// Connections returns this node's connections that f selects, oldest
	// first.
	Connections(ctx context.Context, f ConnFilter) ([]Connection, error)
	// KickWorker closes the connections a worker is authorized on and
	// returns how many.
	KickWorker(ctx context.Context, worker string) (int, error)
	// KickAddress closes the connections from an address (IPv6: its
	// prefix, as bans count) and returns how many.
	KickAddress(ctx context.Context, addr netip.Addr) (int, error)
	// Bans returns the bans in force.
	Bans(ctx context.Context) ([]Ban, error)
	// Ban bans an address (IPv6: its prefix) for d and closes its
	// connections. A *FieldError refuses it (an allowlisted address).
	Ban(ctx context.Context, addr netip.Addr, d time.Duration) (Ban, error)
	// Unban lifts a ban; false when the address was not banned.
	Unban(ctx context.Context, addr netip.Addr) (bool, error)
	// Reload re-reads the config file and applies what can change while
	// the pool runs.
	Reload(ctx context.Context) (Reload, error)
	// SetDifficulty fixes the difficulty of the connections a worker is
	// authorized on, as a d=N password does, and returns how many.
	SetDifficulty(ctx context.Context, worker string, d float64) (int, error)
}

// Errors a Pool or an Admin returns for the API to answer with the right
// status. Anything else is a 500.
var (
	// ErrNotFound answers 404 (an unknown account).
	ErrNotFound = errors.New("not found")
	// ErrUnavailable answers 503: the pool's data store (Redis) or node
	// did not answer.
	ErrUnavailable = errors.New("the pool's data store is unavailable")
)

// FieldError is bad input found beyond the API's own checks (an
// allowlisted address to ban, say): a 400 naming the field.
type FieldError struct {
	Field, Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Hashrates are an account's or the pool's hashrate in H/s over the last
// 10 minutes, hour and day.
type Hashrates struct {
	M10 float64 `json:"10m"`
	H1  float64 `json:"1h"`
	H24 float64 `json:"24h"`
}

// Summary is GET /api/v1/pool.
type Summary struct {
	Hashrate Hashrates `json:"hashrate"`
	// MinersOnline and WorkersOnline are the accounts and workers with a
	// share in the last 10 minutes.
	MinersOnline  int64 `json:"miners_online"`
	WorkersOnline int64 `json:"workers_online"`
	Shares        struct {
		// Accepted counts every share recorded; Rejected adds up the
		// live nodes' counters (since each started).
		Accepted int64 `json:"accepted"`
		Rejected int64 `json:"rejected"`
	} `json:"shares"`
	Network struct {
		// Height is the best block's; Difficulty the network
		// difficulty of the block being mined.
		Height     int64   `json:"height"`
		Difficulty float64 `json:"difficulty"`
	} `json:"network"`
	// LastBlock is the highest block found, nil before the first.
	LastBlock *Block `json:"last_block"`
	// Nodes counts the pool nodes that reported in the last minute.
	Nodes int `json:"nodes"`
}

// Block is a block the pool found.
type Block struct {
	Height int64  `json:"height"`
	Hash   string `json:"hash"`
	// Finder is the worker whose share it was; Account its account.
	Finder  string `json:"finder"`
	Account string `json:"account"`
	// Reward is the coinbase value in satoshis.
	Reward int64 `json:"reward"`
	// Status is submitted, accepted, rejected, confirmed, orphaned,
	// credited or paid.
	Status string `json:"status"`
	// Confirmations counts the main-chain blocks from it to the tip (0
	// for a block that is not on it).
	Confirmations int64     `json:"confirmations"`
	Time          time.Time `json:"time"`
}

// Point is one point of a hashrate series: the rate over the step that
// starts at T.
type Point struct {
	T        time.Time `json:"t"`
	Hashrate float64   `json:"hashrate"`
}

// Series is a hashrate series as the pool could give it: the window and
// step used, at least those asked.
type Series struct {
	Window, Step time.Duration
	Points       []Point
}

// Account is GET /api/v1/accounts/{address}.
type Account struct {
	Account  string    `json:"account"`
	Hashrate Hashrates `json:"hashrate"`
	// Workers are the account's workers, by name, at most MaxWorkers;
	// WorkersTotal counts them all.
	Workers      []Worker `json:"workers"`
	WorkersTotal int64    `json:"workers_total"`
	// Balance is owed and not yet in a payout, Pending in a payout not
	// yet confirmed, Paid paid on chain; satoshis.
	Balance int64 `json:"balance"`
	Pending int64 `json:"pending"`
	Paid    int64 `json:"paid"`
	// Payments are the last MaxPayments payouts, newest first.
	Payments []Payment `json:"payments"`
}

// MaxWorkers and MaxPayments bound an account page.
const (
	MaxWorkers  = 1000
	MaxPayments = 50
)

// Worker is one of an account's workers.
type Worker struct {
	Name string `json:"name"`
	// Hashrate is over the last hour, H/s.
	Hashrate float64 `json:"hashrate"`
	// LastShare is nil for a worker connected here with no share
	// recorded yet.
	LastShare *time.Time `json:"last_share"`
	// Difficulty and RejectRate are known only when the worker is
	// connected to the node answering (nil otherwise); RejectRate is its
	// connections' rejected shares over all their shares.
	Difficulty *float64 `json:"difficulty"`
	RejectRate *float64 `json:"reject_rate"`
	// Online says the worker had a share in the last 10 minutes.
	Online bool `json:"online"`
}

// Payment is an account's part of a payout.
type Payment struct {
	Batch string `json:"batch"`
	// TxID is "" until the transaction is signed.
	TxID   string `json:"txid"`
	Amount int64  `json:"amount"`
	// Time is when it was paid, or planned while it is not.
	Time time.Time `json:"time"`
	// State is planned, psbt, signed, broadcast, paid, cancelled or
	// failed.
	State string `json:"state"`
}

// ConnFilter selects connections; zero fields select all.
type ConnFilter struct {
	Account string
	Limit   int
}

// Connection is one of this node's miner connections.
type Connection struct {
	ID      uint64   `json:"id"`
	Workers []string `json:"workers"`
	// Address is the miner's IP address and port.
	Address string `json:"address"`
	Agent   string `json:"agent"`
	// Difficulty is the connection's share difficulty; Hashrate its
	// estimate in H/s.
	Difficulty  float64   `json:"difficulty"`
	Hashrate    float64   `json:"hashrate"`
	Connected   time.Time `json:"connected"`
	Extranonce1 string    `json:"extranonce1"`
}

// Ban is an address refused until Until: an IPv4 address or an IPv6
// prefix.
type Ban struct {
	Address string    `json:"address"`
	Until   time.Time `json:"until"`
}

// Reload is what a reload applied and which changed keys need a restart.
type Reload struct {
	Applied []string `json:"applied"`
	Restart []string `json:"restart"`
}
