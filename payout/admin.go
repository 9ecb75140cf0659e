package payout

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"

	"github.com/tarbela-pool/tarbela/internal/human"
	"github.com/tarbela-pool/tarbela/payout/wallet"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// Status is what `tarbela payout status` shows: the blocks by status, the
// balances, the batches not yet paid and the recent payments, the ledger's
// totals and whether they add up.
type Status struct {
	Blocks      map[string]int          `json:"blocks"`
	Recent      []redisstore.Block      `json:"recent_blocks"`
	Accounts    []AccountStatus         `json:"accounts"`
	Totals      redisstore.LedgerTotals `json:"totals"`
	Reserve     int64                   `json:"reserve"`
	Spendable   int64                   `json:"spendable"`
	Open        []redisstore.Batch      `json:"open_batches"`
	Payments    []redisstore.Batch      `json:"recent_payments"`
	Consistent  bool                    `json:"consistent"`
	Discrepancy string                  `json:"discrepancy,omitempty"`
}

// AccountStatus is one account's balance, pending and paid satoshis.
type AccountStatus struct {
	Account string `json:"account"`
	Balance int64  `json:"balance"`
	Pending int64  `json:"pending"`
	Paid    int64  `json:"paid"`
}

// ReadStatus gathers the status; recent bounds the blocks and payments
// listed.
func ReadStatus(ctx context.Context, l *redisstore.Ledger, r *redisstore.Reader, recent int, now time.Time) (*Status, error) {
	st := &Status{Blocks: map[string]int{}}
	blocks, err := r.Blocks(ctx, 1<<20)
	if err != nil {
		return nil, err
	}
	for i, b := range blocks {
		st.Blocks[string(b.Status)]++
		if i < recent {
			st.Recent = append(st.Recent, b)
		}
	}
	bal, err := l.Balances(ctx)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, m := range []map[string]int64{bal.Bal, bal.Pending, bal.Paid} {
		for a := range m {
			names[a] = true
		}
	}
	for a := range names {
		st.Accounts = append(st.Accounts, AccountStatus{Account: a, Balance: bal.Bal[a], Pending: bal.Pending[a], Paid: bal.Paid[a]})
	}
	sort.Slice(st.Accounts, func(i, j int) bool { return st.Accounts[i].Account < st.Accounts[j].Account })
	if st.Totals, err = l.Totals(ctx); err != nil {
		return nil, err
	}
	st.Reserve = st.Totals.Reserve()
	utxos, err := l.UTXOs(ctx)
	if err != nil {
		return nil, err
	}
	for _, u := range utxos {
		st.Spendable += u.Value
	}
	if st.Open, err = l.OpenBatches(ctx); err != nil {
		return nil, err
	}
	all, err := l.BatchesBetween(ctx, time.Time{}, now.Add(time.Second))
	if err != nil {
		return nil, err
	}
	for i := len(all) - 1; i >= 0 && len(st.Payments) < recent; i-- {
		if all[i].State == redisstore.BatchPaid {
			st.Payments = append(st.Payments, all[i])
		}
	}
	st.Consistent = true
	if err := l.CheckInvariant(ctx); err != nil {
		if !errors.Is(err, redisstore.ErrInvariant) {
			return nil, err
		}
		st.Consistent, st.Discrepancy = false, err.Error()
	}
	return st, nil
}

// WriteTable writes the status for people: aligned tables, amounts in BTC.
func (st *Status) WriteTable(w io.Writer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "BLOCKS\t")
	states := make([]string, 0, len(st.Blocks))
	for s := range st.Blocks {
		states = append(states, s)
	}
	sort.Strings(states)
	for _, s := range states {
		fmt.Fprintf(tw, "%s %d\t", s, st.Blocks[s])
	}
	fmt.Fprintln(tw)
	tw.Flush()
	if len(st.Recent) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\nHEIGHT\tHASH\tSTATUS\tREWARD\tFINDER\tFOUND")
		for _, b := range st.Recent {
			fmt.Fprintf(tw, "%d\t%s…\t%s\t%s\t%s\t%s\n", b.Height, shortHash(b.Hash), b.Status, human.BTC(b.Reward), b.Worker, human.Ago(now, b.Time))
		}
		tw.Flush()
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nACCOUNT\tBALANCE\tPENDING\tPAID")
	for _, a := range st.Accounts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Account, human.BTC(a.Balance), human.BTC(a.Pending), human.BTC(a.Paid))
	}
	tw.Flush()
	if len(st.Open) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\nOPEN BATCH\tSTATE\tOUTPUTS\tAMOUNT\tTXID\tNOTE")
		for _, b := range st.Open {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", b.ID, b.State, len(b.Outputs), human.BTC(batchAmount(b)), b.TxID, b.Error)
		}
		tw.Flush()
	}
	if len(st.Payments) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\nPAID BATCH\tOUTPUTS\tAMOUNT\tFEE\tTXID\tCREATED")
		for _, b := range st.Payments {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", b.ID, len(b.Outputs), human.BTC(batchAmount(b)), human.BTC(b.Fee), b.TxID, human.Ago(now, b.Created))
		}
		tw.Flush()
	}
	t := st.Totals
	fmt.Fprintf(w, "\ncredited %s = balances + pending + paid (%s paid); pool fee %s; PPS reserve %s; spendable %s\n",
		human.BTC(t.Credited), human.BTC(t.Paid), human.BTC(t.Fee), human.BTC(st.Reserve), human.BTC(st.Spendable))
	if !st.Consistent {
		fmt.Fprintf(w, "LEDGER DOES NOT ADD UP: %s\n", st.Discrepancy)
	}
	return nil
}

func batchAmount(b redisstore.Batch) int64 {
	var s int64
	for _, o := range b.Outputs {
		s += o.Amount
	}
	return s
}

func shortHash(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

// ExportCSV writes every payment of the batches created in [from, to) as
// CSV: one line per output of a paid batch (the paid ones only: a batch
// not yet confirmed has not paid anyone).
func ExportCSV(ctx context.Context, l *redisstore.Ledger, from, to time.Time, w io.Writer) error {
	batches, err := l.BatchesBetween(ctx, from, to)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"created", "settled", "batch", "txid", "account", "address", "amount_sat", "batch_fee_sat"})
	for _, b := range batches {
		if b.State != redisstore.BatchPaid {
			continue
		}
		for _, o := range b.Outputs {
			settled := ""
			if !b.Settled.IsZero() {
				settled = b.Settled.UTC().Format(time.RFC3339)
			}
			_ = cw.Write([]string{b.Created.UTC().Format(time.RFC3339), settled, b.ID, b.TxID, o.Account, o.Address,
				strconv.FormatInt(o.Amount, 10), strconv.FormatInt(b.Fee, 10)})
		}
	}
	cw.Flush()
	return cw.Error()
}

// Submit takes a cold batch's signed PSBT: it finds the batch waiting for
// it, checks that the PSBT pays exactly that batch (the transaction is
// rebuilt from the batch's inputs, outputs and fee rate), finalizes it,
// stores the transaction and broadcasts it. It holds the run lock.
func Submit(ctx context.Context, o Options, psbt []byte) (batchID string, err error) {
	lease, err := o.Ledger.Lock(ctx, o.LockTTL)
	if err != nil {
		return "", err
	}
	defer lease.Release(context.WithoutCancel(ctx))
	open, err := o.Ledger.OpenBatches(ctx)
	if err != nil {
		return "", err
	}
	var mismatch []string
	for _, b := range open {
		if b.State != redisstore.BatchPSBT {
			continue
		}
		want, err := rebuild(b, o.PayoutAddress, o.Params)
		if err != nil {
			return "", fmt.Errorf("payout: batch %s: %w", b.ID, err)
		}
		msg, err := wallet.FinalizePSBT(psbt, want)
		if errors.Is(err, wallet.ErrPSBTMismatch) {
			mismatch = append(mismatch, b.ID+": "+err.Error())
			continue
		}
		if err != nil {
			return b.ID, fmt.Errorf("payout: batch %s: %w", b.ID, err)
		}
		tip, _, err := o.Chain.Tip(ctx)
		if err != nil {
			return b.ID, err
		}
		r := &runner{o: o, lease: lease, log: o.Log}
		r.o.Crash = func(string) {}
		if r.o.Out == nil {
			r.o.Out = io.Discard
		}
		if r.script, err = payScript(o.PayoutAddress, o.Params); err != nil {
			return b.ID, err
		}
		return b.ID, r.recordAndBroadcast(ctx, b.ID, msg, tip)
	}
	if len(mismatch) == 0 {
		return "", errors.New("payout: no batch waits for a signed PSBT")
	}
	slices.Sort(mismatch)
	return "", fmt.Errorf("payout: the PSBT pays none of the waiting batches:\n  %s", strings.Join(mismatch, "\n  "))
}

// rebuild makes a batch's unsigned transaction again from its record.
func rebuild(b redisstore.Batch, changeAddress string, net *chaincfg.Params) (*wallet.Tx, error) {
	ins := make([]wallet.UTXO, len(b.Inputs))
	for i, u := range b.Inputs {
		ins[i] = wallet.UTXO{TxID: u.TxID, Vout: u.Vout, Value: u.Value, PkScript: u.PkScript}
	}
	outs := make([]wallet.Output, len(b.Outputs))
	for i, o := range b.Outputs {
		outs[i] = wallet.Output{Account: o.Account, Address: o.Address, Amount: o.Amount}
	}
	tx, err := wallet.Build(ins, outs, changeAddress, b.FeeRate, net)
	if err != nil {
		return nil, err
	}
	if tx.Fee != b.Fee {
		return nil, fmt.Errorf("rebuilt with fee %d sat, the batch recorded %d", tx.Fee, b.Fee)
	}
	return tx, nil
}

// Clear returns a failed batch's amounts to the balances once the admin has
// checked that its transaction will never confirm (docs/payout.md); its
// inputs that the node still holds unspent become spendable again.
func Clear(ctx context.Context, l *redisstore.Ledger, chain *Chain, ttl time.Duration, id string) error {
	lease, err := l.Lock(ctx, ttl)
	if err != nil {
		return err
	}
	defer lease.Release(context.WithoutCancel(ctx))
	b, err := l.Batch(ctx, id)
	if err != nil {
		return err
	}
	var unspent []redisstore.Outpoint
	for _, in := range b.Inputs {
		ok, err := chain.OutputUnspent(ctx, in.TxID, in.Vout)
		if err != nil {
			return fmt.Errorf("payout: clear %s: %w", id, err)
		}
		if ok {
			unspent = append(unspent, in)
		}
	}
	return l.ClearFailed(ctx, lease, id, unspent...)
}
