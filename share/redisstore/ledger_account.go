package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// AccountBalance is one account's amounts in the ledger, in satoshis: Bal
// owed and not yet in a batch, Pending in an open batch, Paid paid on
// chain. Known says the ledger has the account in any of them.
type AccountBalance struct {
	Bal, Pending, Paid int64
	Known              bool
}

// AccountBalance reads one account's amounts at one instant (MULTI).
func (l *Ledger) AccountBalance(ctx context.Context, account string) (AccountBalance, error) {
	pipe := l.rdb.TxPipeline()
	bal := pipe.HGet(ctx, l.k.bal(), account)
	pending := pipe.HGet(ctx, l.k.pending(), account)
	paid := pipe.HGet(ctx, l.k.paid(), account)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return AccountBalance{}, fmt.Errorf("redisstore: read the balance of %s: %w", account, err)
	}
	var p findings
	var b AccountBalance
	for _, c := range []struct {
		key string
		cmd *redis.StringCmd
		dst *int64
	}{{"bal", bal, &b.Bal}, {"pending", pending, &b.Pending}, {"paid", paid, &b.Paid}} {
		if v, err := c.cmd.Result(); err == nil {
			b.Known = true
			*c.dst = p.amount(c.key, account, v)
		}
	}
	return b, p.err("read the balance of " + account)
}

// Payment is an account's part of one payout batch.
type Payment struct {
	// Batch is the batch id; TxID its transaction, "" before it is
	// signed.
	Batch, TxID string
	// State is the batch's state (BatchPlanned … BatchPaid,
	// BatchCancelled, BatchFailed).
	State string
	// Amount is what the batch pays the account, in satoshis.
	Amount int64
	// Created is when the batch was planned; Settled when it was found
	// paid (zero before).
	Created, Settled time.Time
}

// AccountPayments returns the account's last n payments, newest first, from
// its payment index (pay:a:<account>), which the ledger keeps from the
// release that added it on: batches planned before it are not listed.
func (l *Ledger) AccountPayments(ctx context.Context, account string, n int) ([]Payment, error) {
	if n <= 0 {
		return nil, nil
	}
	ids, err := l.rdb.ZRevRange(ctx, l.k.accountPayments(account), 0, int64(n-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read the payments of %s: %w", account, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	pipe := l.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, l.k.batch(id), "state", "created", "outputs", "txid", "settled")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redisstore: read the payments of %s: %w", account, err)
	}
	out := make([]Payment, 0, len(ids))
	for i, c := range cmds {
		v := c.Val()
		state, _ := v[0].(string)
		if state == "" {
			continue // no record
		}
		outs, _ := v[2].(string)
		var os []BatchOutput
		if err := json.Unmarshal([]byte(outs), &os); err != nil {
			return nil, fmt.Errorf("redisstore: batch %s: %w: outputs: %w", ids[i], ErrInvariant, err)
		}
		p := Payment{Batch: ids[i], State: state, Created: time.UnixMilli(parseInt(v[1]))}
		p.TxID, _ = v[3].(string)
		if ms := parseInt(v[4]); ms > 0 {
			p.Settled = time.UnixMilli(ms)
		}
		for _, o := range os {
			if o.Account == account {
				p.Amount += o.Amount
			}
		}
		out = append(out, p)
	}
	return out, nil
}
