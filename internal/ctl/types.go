package ctl

import "time"

// The answers of docs/api.md, as tarbelactl reads them for its tables.
// Fields it does not show are left out; --json prints the answer itself.

// Rates is a hashrate in H/s over the last 10 minutes, hour and day.
type Rates struct {
	M10 float64 `json:"10m"`
	H1  float64 `json:"1h"`
	H24 float64 `json:"24h"`
}

// Pool is GET /api/v1/pool.
type Pool struct {
	Hashrate      Rates `json:"hashrate"`
	MinersOnline  int64 `json:"miners_online"`
	WorkersOnline int64 `json:"workers_online"`
	Shares        struct {
		Accepted int64 `json:"accepted"`
		Rejected int64 `json:"rejected"`
	} `json:"shares"`
	Network struct {
		Height     int64   `json:"height"`
		Difficulty float64 `json:"difficulty"`
	} `json:"network"`
	LastBlock *Block `json:"last_block"`
	Nodes     int64  `json:"nodes"`
}

// Block is one block the pool found.
type Block struct {
	Height        int64     `json:"height"`
	Hash          string    `json:"hash"`
	Finder        string    `json:"finder"`
	Account       string    `json:"account"`
	Reward        int64     `json:"reward"`
	Status        string    `json:"status"`
	Confirmations int64     `json:"confirmations"`
	Time          time.Time `json:"time"`
}

// Account is GET /api/v1/accounts/{address}.
type Account struct {
	Account  string    `json:"account"`
	Hashrate Rates     `json:"hashrate"`
	Workers  []Worker  `json:"workers"`
	Balance  int64     `json:"balance"`
	Pending  int64     `json:"pending"`
	Paid     int64     `json:"paid"`
	Payments []Payment `json:"payments"`
}

// Worker is one worker of an account. Difficulty and RejectRate are nil
// unless the worker is connected to the node that answered.
type Worker struct {
	Name       string    `json:"name"`
	Hashrate   float64   `json:"hashrate"`
	LastShare  time.Time `json:"last_share"`
	Difficulty *float64  `json:"difficulty"`
	RejectRate *float64  `json:"reject_rate"`
	Online     bool      `json:"online"`
}

// Payment is one payment to an account.
type Payment struct {
	Batch  string    `json:"batch"`
	TxID   string    `json:"txid"`
	Amount int64     `json:"amount"`
	Time   time.Time `json:"time"`
	State  string    `json:"state"`
}

// Connection is one open connection of the node that answered.
type Connection struct {
	ID          uint64    `json:"id"`
	Workers     []string  `json:"workers"`
	Address     string    `json:"address"`
	Agent       string    `json:"agent"`
	Difficulty  float64   `json:"difficulty"`
	Hashrate    float64   `json:"hashrate"`
	Connected   time.Time `json:"connected"`
	Extranonce1 string    `json:"extranonce1"`
}

// Ban is one banned address (an IPv4 address or an IPv6 prefix).
type Ban struct {
	Address string    `json:"address"`
	Until   time.Time `json:"until"`
}
