package redisstore

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Batch states. A batch moves
//
//	planned → [psbt →] signed → broadcast → paid
//
// and leaves the happy path by cancelled (from planned or psbt: nothing
// was broadcast) or failed (an input was spent by another transaction;
// ClearFailed then cancels it). Planned, psbt, signed, broadcast and failed
// batches are open (batches:open); paid and cancelled ones are closed.
const (
	BatchPlanned   = "planned"
	BatchPSBT      = "psbt"
	BatchSigned    = "signed"
	BatchBroadcast = "broadcast"
	BatchPaid      = "paid"
	BatchCancelled = "cancelled"
	BatchFailed    = "failed"
)

// BatchOutput is one payment of a batch. Its JSON names are the batch
// record's (the scripts read account and amount).
type BatchOutput struct {
	Account string `json:"account"`
	Address string `json:"address"`
	Amount  int64  `json:"amount"`
}

// Batch is one payout transaction and its record in the ledger.
type Batch struct {
	ID      string
	State   string
	Created time.Time
	Outputs []BatchOutput
	// Inputs are the spendable outputs the transaction spends.
	Inputs []Outpoint
	// Fee is the transaction's fee, and FeeRate (sat/vB) the rate it was
	// built at: with the inputs and outputs it rebuilds the transaction
	// (a cold batch's signed PSBT is checked against it).
	Fee     int64
	FeeRate float64
	// TxID and TxHex are the signed transaction (RecordSigned); PSBT the
	// unsigned one in the cold mode (SetPSBT), base64.
	TxID  string
	TxHex string
	PSBT  string
	// Height is the chain tip at the last broadcast (MarkBroadcast).
	Height int64
	// Error is why the batch failed (FailBatch).
	Error string
	// Settled is when SettleBatch recorded it paid.
	Settled time.Time
}

// outpointJSON is an input in a batch record's inputs field.
type outpointJSON struct {
	TxID     string `json:"txid"`
	Vout     uint32 `json:"vout"`
	Value    int64  `json:"value"`
	Height   int64  `json:"height"`
	Block    string `json:"block"`
	PkScript string `json:"pkscript"`
}

// PlanBatch records a new batch, in one script: each output's amount moves
// from the account's bal to its pending, the inputs leave utxo, the batch
// is written (state planned) and indexed in batches and batches:open. It
// refuses, changing nothing, when an account's balance is below its amount
// (ErrInsufficient, naming the account), when an input is no longer in
// utxo (ErrInputGone) or differs from it (ErrConflict), and when the id is
// taken by another batch (ErrConflict). Planning the same batch again (same
// id, outputs and inputs: a retry after a lost reply) changes nothing and
// returns nil.
func (l *Ledger) PlanBatch(ctx context.Context, lease Lease, b Batch) error {
	what := "plan batch " + b.ID
	if err := b.checkPlan(); err != nil {
		return invalid(what, "%v", err)
	}
	if b.Created.IsZero() {
		b.Created = time.Now()
	}
	ins := make([]outpointJSON, len(b.Inputs))
	for i, o := range b.Inputs {
		ins[i] = outpointJSON{TxID: o.TxID, Vout: o.Vout, Value: o.Value, Height: o.Height, Block: o.Block,
			PkScript: hex.EncodeToString(o.PkScript)}
	}
	outJSON, err := json.Marshal(b.Outputs)
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", what, err)
	}
	inJSON, err := json.Marshal(ins)
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", what, err)
	}
	args := make([]any, 0, 9+2*len(b.Outputs)+2*len(b.Inputs))
	args = append(args, lease.arg(), b.ID, fmtInt(b.Created.UnixMilli()), string(outJSON), string(inJSON),
		fmtInt(b.Fee), strconv.Itoa(len(b.Outputs)))
	for _, o := range b.Outputs {
		args = append(args, o.Account, fmtInt(o.Amount))
	}
	args = append(args, strconv.Itoa(len(b.Inputs)))
	for _, o := range b.Inputs {
		args = append(args, o.field(), o.value())
	}
	args = append(args, strconv.FormatFloat(b.FeeRate, 'g', -1, 64), l.k.accountPaymentsPrefix())
	k := l.k
	_, err = l.run(ctx, planScript, what, "", []string{k.lock(), k.batch(b.ID), k.bal(), k.pending(), k.utxo(),
		k.batches(), k.openBatches()}, args...)
	return err
}

// checkPlan refuses a batch the ledger cannot hold: a bad id, no outputs
// or inputs, an account twice, an amount out of range, a bad input.
func (b *Batch) checkPlan() error {
	switch {
	case !validName(b.ID):
		return fmt.Errorf("batch id %q", b.ID)
	case b.State != "" && b.State != BatchPlanned:
		return fmt.Errorf("a new batch is planned, not %s", b.State)
	case len(b.Outputs) == 0 || len(b.Inputs) == 0:
		return fmt.Errorf("%d outputs, %d inputs", len(b.Outputs), len(b.Inputs))
	case b.Fee < 0 || b.Fee > maxSatoshi:
		return fmt.Errorf("fee %d", b.Fee)
	}
	accounts := make(map[string]bool, len(b.Outputs))
	for _, o := range b.Outputs {
		if !validName(o.Account) || accounts[o.Account] || o.Amount <= 0 || o.Amount > maxSatoshi {
			return fmt.Errorf("output %q %d (accounts must be valid, once per batch, amounts positive)",
				o.Account, o.Amount)
		}
		accounts[o.Account] = true
	}
	inputs := make(map[string]bool, len(b.Inputs))
	for _, o := range b.Inputs {
		if err := o.check(); err != nil {
			return err
		}
		if inputs[o.field()] {
			return fmt.Errorf("input %s twice", o.field())
		}
		inputs[o.field()] = true
	}
	return nil
}

// move runs one batch transition of moveScript.
func (l *Ledger) move(ctx context.Context, lease Lease, what, need, id, op string, extra ...any) error {
	what += " " + id
	if !validName(id) {
		return invalid(what, "batch id")
	}
	k := l.k
	keys := []string{k.lock(), k.batch(id), k.bal(), k.pending(), k.paid(), k.utxo(), k.totals(), k.openBatches()}
	args := append([]any{lease.arg(), op, id, fmtInt(time.Now().UnixMilli())}, extra...)
	_, err := l.run(ctx, moveScript, what, need, keys, args...)
	return err
}

// SetPSBT stores the batch's unsigned transaction for the cold mode:
// planned → psbt. Again with the same PSBT: no change; another PSBT:
// ErrConflict.
func (l *Ledger) SetPSBT(ctx context.Context, lease Lease, id, psbtBase64 string) error {
	if psbtBase64 == "" {
		return invalid("set PSBT of batch "+id, "empty PSBT")
	}
	return l.move(ctx, lease, "set PSBT of batch", BatchPlanned, id, "psbt", psbtBase64)
}

// RecordSigned stores the batch's signed transaction: planned or psbt →
// signed. From then on only this transaction can pay the batch. Again with
// the same txid (also once broadcast or paid): no change; another txid:
// ErrConflict.
func (l *Ledger) RecordSigned(ctx context.Context, lease Lease, id, txid, txhex string) error {
	what := "record signed batch"
	if err := checkTxID(txid); err != nil {
		return invalid(what+" "+id, "%v", err)
	}
	if _, err := hex.DecodeString(txhex); err != nil || txhex == "" {
		return invalid(what+" "+id, "transaction is not hex")
	}
	return l.move(ctx, lease, what, "planned or psbt", id, "sign", txid, txhex)
}

// MarkBroadcast records that the transaction was sent, with the chain tip
// then: signed or broadcast → broadcast (a rebroadcast updates the
// height).
func (l *Ledger) MarkBroadcast(ctx context.Context, lease Lease, id string, height int64) error {
	if height < 0 {
		return invalid("mark broadcast batch "+id, "height %d", height)
	}
	return l.move(ctx, lease, "mark broadcast batch", "signed or broadcast", id, "broadcast", fmtInt(height))
}

// SettleBatch records the batch paid once its transaction is in a block:
// signed, broadcast or failed → paid. Each output's amount moves from
// pending to paid, totals paid grows by their sum, the batch leaves
// batches:open, and change (the transaction's outputs back to the pool,
// whose TxID must be the batch's) joins utxo. From failed it is the
// admin's way out when the transaction turned out mined after all (a batch
// that failed before it was signed cannot be settled). Again: no change.
func (l *Ledger) SettleBatch(ctx context.Context, lease Lease, id string, change ...Outpoint) error {
	what := "settle batch"
	args := []any{"", strconv.Itoa(len(change))}
	for _, o := range change {
		if err := o.check(); err != nil {
			return invalid(what+" "+id, "change: %v", err)
		}
		if o.TxID != change[0].TxID {
			return invalid(what+" "+id, "change of two transactions")
		}
		args[0] = o.TxID
		args = append(args, o.field(), o.value())
	}
	return l.move(ctx, lease, what, "signed, broadcast or failed", id, "settle", args...)
}

// CancelBatch undoes a batch that was never signed: planned or psbt →
// cancelled. Each amount goes back from pending to bal and the inputs back
// to utxo, as they were. Again: no change.
func (l *Ledger) CancelBatch(ctx context.Context, lease Lease, id string) error {
	return l.move(ctx, lease, "cancel batch", "planned or psbt", id, "cancel")
}

// FailBatch records that the batch cannot be paid as planned (an input was
// spent by another transaction): planned, psbt, signed or broadcast →
// failed. The batch stays open and its amounts pending: payouts stop until
// the admin clears it (ClearFailed) or settles it (SettleBatch). Again: no
// change (the first reason is kept).
func (l *Ledger) FailBatch(ctx context.Context, lease Lease, id, reason string) error {
	if reason == "" {
		reason = "failed"
	}
	return l.move(ctx, lease, "fail batch", "planned, psbt, signed or broadcast", id, "fail", reason)
}

// ClearFailed gives a failed batch's amounts back to the balances after the
// admin checked that it was not paid: failed → cancelled, pending → bal.
// Its inputs go back to utxo only as given in unspent (the caller asked the
// node which are still unspent): another transaction spent at least one of
// them. Again: no change.
func (l *Ledger) ClearFailed(ctx context.Context, lease Lease, id string, unspent ...Outpoint) error {
	what := "clear failed batch"
	args := []any{"", strconv.Itoa(len(unspent))}
	if len(unspent) > 0 {
		b, err := l.Batch(ctx, id)
		if err != nil {
			return err
		}
		mine := make(map[string]bool, len(b.Inputs))
		for _, in := range b.Inputs {
			mine[in.field()] = true
		}
		for _, o := range unspent {
			if err := o.check(); err != nil {
				return invalid(what+" "+id, "unspent input: %v", err)
			}
			if !mine[o.field()] {
				return invalid(what+" "+id, "%s is not an input of the batch", o.field())
			}
			args = append(args, o.field(), o.value())
		}
	}
	return l.move(ctx, lease, what, "failed", id, "clear", args...)
}

// Batch reads one batch (ErrNoBatch when there is none).
func (l *Ledger) Batch(ctx context.Context, id string) (Batch, error) {
	bs, err := l.readBatches(ctx, []string{id})
	if err != nil {
		return Batch{}, err
	}
	if len(bs) == 0 {
		return Batch{}, fmt.Errorf("redisstore: read batch %s: %w", id, ErrNoBatch)
	}
	return bs[0], nil
}

// OpenBatches returns the batches not yet paid or cancelled, oldest first:
// the ones a run reconciles before it plans new ones.
func (l *Ledger) OpenBatches(ctx context.Context) ([]Batch, error) {
	ids, err := l.rdb.SMembers(ctx, l.k.openBatches()).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read open batches: SMEMBERS: %w", err)
	}
	return l.readBatches(ctx, ids)
}

// FailedBatches returns the failed batches, oldest first: while there is
// one, payouts stop.
func (l *Ledger) FailedBatches(ctx context.Context) ([]Batch, error) {
	bs, err := l.OpenBatches(ctx)
	return slices.DeleteFunc(bs, func(b Batch) bool { return b.State != BatchFailed }), err
}

// BatchesBetween returns the batches created in [from, to), oldest first,
// whatever their state (payout export).
func (l *Ledger) BatchesBetween(ctx context.Context, from, to time.Time) ([]Batch, error) {
	ids, err := l.rdb.ZRangeByScore(ctx, l.k.batches(), &redis.ZRangeBy{
		Min: fmtInt(from.UnixMilli()), Max: "(" + fmtInt(to.UnixMilli())}).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read batches: ZRANGEBYSCORE: %w", err)
	}
	return l.readBatches(ctx, ids)
}

// readBatches reads the batches of ids (skipping ids without a record),
// oldest first, 500 per pipeline.
func (l *Ledger) readBatches(ctx context.Context, ids []string) ([]Batch, error) {
	out := make([]Batch, 0, len(ids))
	for chunk := range slices.Chunk(ids, 500) {
		pipe := l.rdb.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(chunk))
		for i, id := range chunk {
			cmds[i] = pipe.HGetAll(ctx, l.k.batch(id))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("redisstore: read batches: HGETALL: %w", err)
		}
		for _, c := range cmds {
			if len(c.Val()) == 0 {
				continue
			}
			b, err := parseBatch(c.Val())
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b Batch) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// parseBatch reads a batch record.
func parseBatch(m map[string]string) (Batch, error) {
	b := Batch{ID: m["id"], State: m["state"], TxID: m["txid"], TxHex: m["tx"], PSBT: m["psbt"], Error: m["error"],
		Created: time.UnixMilli(parseInt(m["created"])), Fee: parseInt(m["fee"]), FeeRate: parseFloat(m["rate"]), Height: parseInt(m["height"])}
	if ms := parseInt(m["settled"]); ms > 0 {
		b.Settled = time.UnixMilli(ms)
	}
	var ins []outpointJSON
	if err := json.Unmarshal([]byte(m["outputs"]), &b.Outputs); err != nil {
		return b, fmt.Errorf("redisstore: batch %s: %w: outputs: %w", b.ID, ErrInvariant, err)
	}
	if err := json.Unmarshal([]byte(m["inputs"]), &ins); err != nil {
		return b, fmt.Errorf("redisstore: batch %s: %w: inputs: %w", b.ID, ErrInvariant, err)
	}
	b.Inputs = make([]Outpoint, len(ins))
	for i, o := range ins {
		pk, err := hex.DecodeString(o.PkScript)
		if err != nil {
			return b, fmt.Errorf("redisstore: batch %s: %w: input pkscript: %w", b.ID, ErrInvariant, err)
		}
		b.Inputs[i] = Outpoint{TxID: o.TxID, Vout: o.Vout, Value: o.Value, Height: o.Height, Block: o.Block, PkScript: pk}
	}
	return b, nil
}
