package redisstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Ledger is the payout job's view of the ledger: balances, pending and
// paid amounts, the pool's spendable coinbase outputs, payout batches and
// the runner lock. It holds no payout logic: each write is one fenced,
// idempotent Lua script (ledger_script.go), so a run that lost its lease
// cannot write, and a call repeated after a lost reply changes nothing more.
// The contract is docs/payout.md; the keys are in docs/redis.md.
//
// All amounts are int64 satoshis. The one float is pps:owed, by design.
type Ledger struct {
	rdb redis.UniversalClient
	k   ledgerKeys
}

// NewLedger returns the ledger under prefix ("tarbela" when empty), the
// same prefix the share stores write.
func NewLedger(rdb redis.UniversalClient, prefix string) *Ledger {
	if prefix == "" {
		prefix = "tarbela"
	}
	return &Ledger{rdb: rdb, k: ledgerKeys{newKeys(prefix)}}
}

// ledgerKeys names the ledger's keys. It is its own type so that the share
// store's key helpers and these can grow apart without clashing.
type ledgerKeys struct{ keys }

func (k ledgerKeys) lock() string           { return k.base + "pay:lock" }
func (k ledgerKeys) fence() string          { return k.base + "pay:fence" }
func (k ledgerKeys) bal() string            { return k.base + "bal" }
func (k ledgerKeys) pending() string        { return k.base + "pending" }
func (k ledgerKeys) paid() string           { return k.base + "paid" }
func (k ledgerKeys) owed() string           { return k.base + "pps:owed" }
func (k ledgerKeys) utxo() string           { return k.base + "utxo" }
func (k ledgerKeys) batch(id string) string { return k.base + "batch:" + id }
func (k ledgerKeys) batches() string        { return k.base + "batches" }
func (k ledgerKeys) openBatches() string    { return k.base + "batches:open" }

// accountPayments indexes an account's batches (score: created ms).
func (k ledgerKeys) accountPayments(account string) string {
	return k.accountPaymentsPrefix() + account
}
func (k ledgerKeys) accountPaymentsPrefix() string { return k.base + "pay:a:" }

// frozenWindow is the PPLNS window frozen with a block.
func (k ledgerKeys) frozenWindow(hash string) string { return k.base + "round:" + hash + ":pplns" }

// frozenWorkers is the work per worker of the round a block froze.
func (k ledgerKeys) frozenWorkers(hash string) string { return k.base + "round:" + hash + ":w" }

// Errors of the ledger. Each is wrapped as "redisstore: <what was being
// done>: <error>: <details>" (account, batch, states), so callers switch
// with errors.Is and log the message. A call refused for its arguments
// returns ErrInvalid; ErrNoBlock means the block has no record.
var (
	// ErrFenced means the call's lease is no longer the one pay:lock
	// holds (it expired, or another run took the lock): nothing changed.
	ErrFenced = errors.New("payout lease lost (fenced)")
	// ErrState means the batch (or block) is in a state the call does
	// not start from; the message names the state and the allowed ones.
	ErrState = errors.New("wrong state")
	// ErrConflict means the ledger already holds other data where the
	// call would write: a batch id planned with other outputs, another
	// transaction or PSBT for a batch, an input recorded otherwise.
	ErrConflict = errors.New("conflicts with the ledger")
	// ErrInsufficient means an account's balance is below its amount in
	// the batch; the message names the account.
	ErrInsufficient = errors.New("balance too low")
	// ErrInputGone means an input of the batch is no longer among the
	// spendable outputs (another batch took it).
	ErrInputGone = errors.New("input not spendable")
	// ErrNoBatch means no batch has the given id.
	ErrNoBatch = errors.New("no such batch")
	// ErrInvariant means the ledger's sums do not agree
	// (CheckInvariant), or a script found an amount missing.
	ErrInvariant = errors.New("ledger invariant broken")
)

// LockedError is Lock's answer while another run holds the lock.
type LockedError struct {
	// Token is the holder's fencing token.
	Token int64
	// ExpiresIn is the lock's remaining TTL (negative when it has none).
	ExpiresIn time.Duration
}

func (e *LockedError) Error() string {
	var d string
	switch {
	case e.ExpiresIn < 0:
		return fmt.Sprintf("payout: another run holds the lock (token %d, without expiry)", e.Token)
	case e.ExpiresIn < time.Second:
		d = e.ExpiresIn.Round(time.Millisecond).String()
	default:
		d = e.ExpiresIn.Round(time.Second).String()
	}
	return fmt.Sprintf("payout: another run holds the lock (token %d, expires in %s)", e.Token, d)
}

// maxSatoshi is the most any amount may be: 21 million BTC. Sums below it
// stay exact in the scripts' Lua numbers (doubles, exact to 2^53).
const maxSatoshi = 21_000_000 * 100_000_000

// Outpoint is a transaction output the pool can spend (a matured coinbase
// output to payout_address, or a batch's change).
type Outpoint struct {
	TxID  string // hex, as the node shows it
	Vout  uint32
	Value int64
	// PkScript is the output's script (hex in Redis), needed to sign.
	PkScript []byte
	// Height and Block are where the output was mined.
	Height int64
	Block  string
}

// field is the outpoint's field in utxo: "txid:vout".
func (o Outpoint) field() string { return o.TxID + ":" + strconv.FormatUint(uint64(o.Vout), 10) }

// value is the outpoint's value in utxo: "value|height|block|pkscript".
func (o Outpoint) value() string {
	return strconv.FormatInt(o.Value, 10) + "|" + strconv.FormatInt(o.Height, 10) + "|" + o.Block + "|" +
		hex.EncodeToString(o.PkScript)
}

// check refuses an outpoint the ledger cannot hold; the caller wraps the
// error with ErrInvalid.
func (o Outpoint) check() error {
	if err := checkTxID(o.TxID); err != nil {
		return err
	}
	if o.Value <= 0 || o.Value > maxSatoshi {
		return fmt.Errorf("outpoint %s value %d", o.field(), o.Value)
	}
	if o.Height < 0 || strings.ContainsAny(o.Block, "|") {
		return fmt.Errorf("outpoint %s height %d block %q", o.field(), o.Height, o.Block)
	}
	return nil
}

func checkTxID(txid string) error {
	if _, err := hex.DecodeString(txid); err != nil || len(txid) != 64 || strings.ToLower(txid) != txid {
		return fmt.Errorf("txid %q is not 64 lower-case hex digits", txid)
	}
	return nil
}

// invalid is the error of a call refused for its arguments.
func invalid(what string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, what, fmt.Sprintf(format, args...))
}

// parseUTXO reads an outpoint from its utxo field and value.
func parseUTXO(field, value string) (Outpoint, error) {
	bad := func() (Outpoint, error) {
		return Outpoint{}, fmt.Errorf("%w: utxo %s holds %q", ErrInvariant, field, value)
	}
	txid, vout, ok := strings.Cut(field, ":")
	if !ok {
		return bad()
	}
	parts := strings.Split(value, "|")
	if len(parts) != 4 {
		return bad()
	}
	n, err1 := strconv.ParseUint(vout, 10, 32)
	v, err2 := strconv.ParseInt(parts[0], 10, 64)
	h, err3 := strconv.ParseInt(parts[1], 10, 64)
	pk, err4 := hex.DecodeString(parts[3])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return bad()
	}
	return Outpoint{TxID: txid, Vout: uint32(n), Value: v, Height: h, Block: parts[2], PkScript: pk}, nil
}

// validName refuses what cannot be a field or key part: empty, or with
// whitespace or control characters.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// run calls a ledger script and turns its refusals into the typed errors.
// what names the call ("plan batch b1"); need, when set, names the states
// the call starts from, for ErrState's message.
func (l *Ledger) run(ctx context.Context, s *redis.Script, what, need string, keys []string, args ...any) (any, error) {
	v, err := s.Run(ctx, l.rdb, keys, args...).Result()
	if err == nil {
		return v, nil
	}
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return nil, fmt.Errorf("redisstore: %s: EVALSHA: %w", what, err)
	}
	code, detail, _ := strings.Cut(rerr.Error(), " ")
	var typed error
	switch code {
	case "FENCED":
		typed = ErrFenced
	case "STATE":
		typed = ErrState
		if need != "" {
			detail += ", the call needs " + need
		}
	case "CONFLICT":
		typed = ErrConflict
	case "INSUFFICIENT":
		typed = ErrInsufficient
	case "INPUTGONE":
		typed = ErrInputGone
	case "NOBATCH":
		typed = ErrNoBatch
	case "NOBLOCK":
		typed = ErrNoBlock
	case "INVARIANT":
		typed = ErrInvariant
	default:
		return nil, fmt.Errorf("redisstore: %s: EVALSHA: %w", what, err)
	}
	return nil, fmt.Errorf("redisstore: %s: %w: %s", what, typed, detail)
}
