package redisstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Balances are the accounts' amounts, in satoshis: Bal is owed and not yet
// in a batch, Pending is in an open batch, Paid was paid on chain.
type Balances struct {
	Bal, Pending, Paid map[string]int64
}

// LedgerTotals are the ledger's running sums, in satoshis, from the totals
// hash.
type LedgerTotals struct {
	// Credited is every credit ever made to an account (blocks and PPS);
	// Paid every amount settled on chain.
	Credited, Paid int64
	// Fee is the pool's cut of the credited blocks.
	Fee int64
	// ReserveIn is what blocks gave the PPS/FPPS variance reserve,
	// ReserveOut what PPS credits took from it.
	ReserveIn, ReserveOut int64
}

// Reserve is the PPS/FPPS variance reserve: negative is the pool's loss so
// far.
func (t LedgerTotals) Reserve() int64 { return t.ReserveIn - t.ReserveOut }

// totalFields are LedgerTotals' fields in the totals hash, in order.
var totalFields = []string{"credited", "paid", "fee", "reserve_in", "reserve_out"}

// Balances reads bal, pending and paid at one instant (MULTI).
func (l *Ledger) Balances(ctx context.Context) (Balances, error) {
	pipe := l.rdb.TxPipeline()
	bal, pending, paid := pipe.HGetAll(ctx, l.k.bal()), pipe.HGetAll(ctx, l.k.pending()), pipe.HGetAll(ctx, l.k.paid())
	if _, err := pipe.Exec(ctx); err != nil {
		return Balances{}, fmt.Errorf("redisstore: read balances: HGETALL: %w", err)
	}
	var p findings
	b := Balances{Bal: p.money("bal", bal.Val()), Pending: p.money("pending", pending.Val()),
		Paid: p.money("paid", paid.Val())}
	return b, p.err("read balances")
}

// Totals reads the ledger's running sums.
func (l *Ledger) Totals(ctx context.Context) (LedgerTotals, error) {
	v, err := l.rdb.HMGet(ctx, l.k.totals(), totalFields...).Result()
	if err != nil {
		return LedgerTotals{}, fmt.Errorf("redisstore: read totals: HMGET: %w", err)
	}
	var p findings
	t := p.totals(v)
	return t, p.err("read totals")
}

func (p *findings) totals(v []any) LedgerTotals {
	n := make([]int64, len(totalFields))
	for i, f := range totalFields {
		s, _ := v[i].(string)
		n[i] = p.amount("totals", f, s)
	}
	return LedgerTotals{Credited: n[0], Paid: n[1], Fee: n[2], ReserveIn: n[3], ReserveOut: n[4]}
}

// UTXOs returns the spendable outputs, by height, then txid and vout.
func (l *Ledger) UTXOs(ctx context.Context) ([]Outpoint, error) {
	m, err := l.rdb.HGetAll(ctx, l.k.utxo()).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read utxo: HGETALL: %w", err)
	}
	return parseUTXOs(m)
}

func parseUTXOs(m map[string]string) ([]Outpoint, error) {
	out := make([]Outpoint, 0, len(m))
	for f, v := range m {
		o, err := parseUTXO(f, v)
		if err != nil {
			return nil, fmt.Errorf("redisstore: read utxo: %w", err)
		}
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b Outpoint) int {
		return cmp.Or(cmp.Compare(a.Height, b.Height), cmp.Compare(a.TxID, b.TxID), cmp.Compare(a.Vout, b.Vout))
	})
	return out, nil
}

// CheckInvariant reads the ledger at one instant and checks, naming every
// difference (ErrInvariant):
//
//   - credited = Σ bal + Σ pending + Σ paid, to the satoshi;
//   - totals paid = Σ paid;
//   - each account's pending = the sum of its amounts in the open batches;
//   - no amount is negative or malformed;
//   - no input of an open batch is still in utxo.
func (l *Ledger) CheckInvariant(ctx context.Context) error {
	// The open batches are read in the same MULTI as the balances; the
	// ids must be known before it, so it is retried when they changed.
	for range 5 {
		ids, err := l.rdb.SMembers(ctx, l.k.openBatches()).Result()
		if err != nil {
			return fmt.Errorf("redisstore: check invariant: SMEMBERS: %w", err)
		}
		slices.Sort(ids)
		pipe := l.rdb.TxPipeline()
		open := pipe.SMembers(ctx, l.k.openBatches())
		bal, pending, paid := pipe.HGetAll(ctx, l.k.bal()), pipe.HGetAll(ctx, l.k.pending()), pipe.HGetAll(ctx, l.k.paid())
		totals := pipe.HMGet(ctx, l.k.totals(), totalFields...)
		utxo := pipe.HGetAll(ctx, l.k.utxo())
		batches := make([]*redis.SliceCmd, len(ids))
		for i, id := range ids {
			batches[i] = pipe.HMGet(ctx, l.k.batch(id), "state", "outputs", "inputs")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("redisstore: check invariant: MULTI: %w", err)
		}
		now := open.Val()
		slices.Sort(now)
		if !slices.Equal(ids, now) {
			continue
		}
		var p findings
		b := Balances{Bal: p.money("bal", bal.Val()), Pending: p.money("pending", pending.Val()),
			Paid: p.money("paid", paid.Val())}
		t := p.totals(totals.Val())
		sb, sp, sd := satSum(b.Bal), satSum(b.Pending), satSum(b.Paid)
		if t.Credited != sb+sp+sd {
			p.add("credited %d ≠ Σ bal %d + Σ pending %d + Σ paid %d = %d (%+d sat)",
				t.Credited, sb, sp, sd, sb+sp+sd, t.Credited-(sb+sp+sd))
		}
		if t.Paid != sd {
			p.add("totals paid %d ≠ Σ paid %d", t.Paid, sd)
		}
		want := map[string]int64{}
		for i, c := range batches {
			v := c.Val()
			state, _ := v[0].(string)
			outs, _ := v[1].(string)
			ins, _ := v[2].(string)
			var os []BatchOutput
			var is []outpointJSON
			if json.Unmarshal([]byte(outs), &os) != nil || json.Unmarshal([]byte(ins), &is) != nil {
				p.add("open batch %s (%s) has no readable outputs or inputs", ids[i], state)
				continue
			}
			for _, o := range os {
				want[o.Account] += o.Amount
			}
			for _, o := range is {
				f := o.TxID + ":" + strconv.FormatUint(uint64(o.Vout), 10)
				if _, ok := utxo.Val()[f]; ok {
					p.add("input %s of open batch %s is still in utxo", f, ids[i])
				}
			}
		}
		for _, a := range accountsIn(want, b.Pending) {
			if want[a] != b.Pending[a] {
				p.add("pending of %s is %d, its open batches hold %d", a, b.Pending[a], want[a])
			}
		}
		return p.err("check invariant")
	}
	return fmt.Errorf("redisstore: check invariant: the open batches kept changing")
}

func satSum(m map[string]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}

// accountsIn returns the accounts of the maps, sorted, once each.
func accountsIn(ms ...map[string]int64) []string {
	var out []string
	for _, m := range ms {
		out = slices.AppendSeq(out, maps.Keys(m))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// findings collects what a read found wrong, for one ErrInvariant.
type findings []string

func (p *findings) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// amount parses a satoshi amount (empty is 0); a malformed or negative one
// is a problem.
func (p *findings) amount(key, field, s string) int64 {
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		p.add("%s %s holds %q", key, field, s)
	}
	return n
}

func (p *findings) money(key string, m map[string]string) map[string]int64 {
	out := make(map[string]int64, len(m))
	for f, s := range m {
		out[f] = p.amount(key, f, s)
	}
	return out
}

func (p findings) err(what string) error {
	if len(p) == 0 {
		return nil
	}
	slices.Sort(p)
	return fmt.Errorf("redisstore: %s: %w: %s", what, ErrInvariant, strings.Join(p, "; "))
}

// LedgerSummary is the ledger in a few numbers, for metrics: the totals,
// the sums of the balances and of the pending amounts, and the batches by
// state (the open ones read, the paid and cancelled ones counted as they
// close).
type LedgerSummary struct {
	LedgerTotals
	Balances, Pending int64
	Batches           map[string]int
}

// Summary reads the summary: a few hash reads and the open batches, never
// the closed ones, so its cost does not grow with the payment history.
func (l *Ledger) Summary(ctx context.Context) (LedgerSummary, error) {
	var s LedgerSummary
	t, err := l.Totals(ctx)
	if err != nil {
		return s, err
	}
	s.LedgerTotals = t
	b, err := l.Balances(ctx)
	if err != nil {
		return s, err
	}
	for _, v := range b.Bal {
		s.Balances += v
	}
	for _, v := range b.Pending {
		s.Pending += v
	}
	counts, err := l.rdb.HMGet(ctx, l.k.totals(), "batches_paid", "batches_cancelled").Result()
	if err != nil {
		return s, fmt.Errorf("redisstore: read summary: HMGET: %w", err)
	}
	s.Batches = map[string]int{}
	for i, state := range []string{BatchPaid, BatchCancelled} {
		if v, ok := counts[i].(string); ok {
			n, _ := strconv.Atoi(v)
			s.Batches[state] = n
		}
	}
	open, err := l.OpenBatches(ctx)
	if err != nil {
		return s, err
	}
	for _, o := range open {
		s.Batches[o.State]++
	}
	return s, nil
}
