package payout

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/payout/wallet"
	"github.com/tarbela-pool/tarbela/pool"
	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// Steps of a run at which Options.Crash is called: the points a crash test
// kills the process at.
const (
	StepAfterPlan      = "after-plan"
	StepAfterSign      = "after-sign"
	StepAfterRecord    = "after-record"
	StepAfterBroadcast = "after-broadcast"
	StepBeforeSettle   = "before-settle"
)

// Options configures one run.
type Options struct {
	Ledger *redisstore.Ledger
	Reader *redisstore.Reader
	Chain  *Chain
	Params *chaincfg.Params
	// PayoutAddress receives the coinbases (pool mode) and the change.
	PayoutAddress string
	// SoloMode says the coinbases pay the miners (pool.mode = "solo"): what
	// they pay the pool's address is the pool's fee, and nobody is credited.
	SoloMode   bool
	Scheme     string
	FeePercent float64
	MinPayout  int64
	Maturity   int64
	MaxOutputs int
	FeeRateMin float64
	FeeRateMax float64
	ConfTarget int
	// Cold writes unsigned PSBTs to PSBTDir instead of signing with Key.
	Cold    bool
	PSBTDir string
	Key     *wallet.Key
	LockTTL time.Duration
	// DryRun computes and prints the plan and changes nothing.
	DryRun bool
	// Out receives the plan and the summary for people.
	Out io.Writer
	Log *zap.Logger
	// Crash, when set, is called at each Step*: tests make it kill the
	// process there.
	Crash func(step string)
	Now   func() time.Time
}

// Report is what a run did (or, dry, would do).
type Report struct {
	Orphaned []string `json:"orphaned"`
	Credited []string `json:"credited"`
	Waiting  int      `json:"waiting"`
	// Credits are the satoshis credited per account by this run.
	Credits map[string]int64 `json:"credits"`
	Batches []string         `json:"batches"`
	Settled []string         `json:"settled"`
	Failed  []string         `json:"failed"`
}

// ErrPaymentsHalted is returned when a failed batch stops the payouts; the
// admin clears it with `tarbela payout clear <batch>`.
var ErrPaymentsHalted = errors.New("payout: payments halted by a failed batch")

// runner is one run's state.
type runner struct {
	o      Options
	lease  redisstore.Lease
	script []byte // payout address's output script
	rep    Report
	log    *zap.Logger
	// dryOutputs are the coinbase outputs a dry run would have added to
	// the spendable ones, so that its plan shows the batches too.
	dryOutputs []redisstore.Outpoint
}

// Run does one pass: reconcile the unfinished batches, unlock and credit
// the matured blocks, credit PPS, plan and pay the balances, settle the
// batches that confirmed. It holds the one-runner lock throughout (a dry run
// takes no lock and writes nothing).
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Crash == nil {
		o.Crash = func(string) {}
	}
	script, err := payScript(o.PayoutAddress, o.Params)
	if err != nil {
		return nil, err
	}
	r := &runner{o: o, script: script, log: o.Log, rep: Report{Credits: map[string]int64{}}}
	if !o.DryRun {
		lease, err := o.Ledger.Lock(ctx, o.LockTTL)
		if err != nil {
			return nil, err
		}
		r.lease = lease
		defer func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = lease.Release(rctx)
		}()
		stop := r.keepLease(ctx)
		defer stop()
	}
	halted, err := r.reconcile(ctx)
	if err != nil {
		return &r.rep, err
	}
	if err := r.unlock(ctx); err != nil {
		return &r.rep, err
	}
	if err := r.creditPPS(ctx); err != nil {
		return &r.rep, err
	}
	if halted {
		return &r.rep, ErrPaymentsHalted
	}
	if err := r.pay(ctx); err != nil {
		return &r.rep, err
	}
	return &r.rep, nil
}

// keepLease renews the lease at a third of its TTL until stopped.
func (r *runner) keepLease(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(r.o.LockTTL/3, 100*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := r.lease.Renew(ctx); err != nil && ctx.Err() == nil {
					r.log.Warn("payout lock not renewed; the run's writes will be refused", zap.Error(err))
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

func (r *runner) printf(format string, args ...any) { fmt.Fprintf(r.o.Out, format, args...) }

// unlock classifies every block that waits for maturity and credits or
// orphans it.
func (r *runner) unlock(ctx context.Context) error {
	blocks, err := r.o.Reader.Blocks(ctx, 1<<20)
	if err != nil {
		return err
	}
	// Oldest first, so balances grow in chain order.
	slices.Reverse(blocks)
	for _, b := range blocks {
		if b.Status != share.BlockAccepted && b.Status != share.BlockSubmitted {
			continue
		}
		v, err := Classify(ctx, r.o.Chain, b.Hash, b.Height, r.o.Maturity)
		if err != nil {
			return fmt.Errorf("payout: block %s at %d: %w", b.Hash, b.Height, err)
		}
		switch v.State {
		case BlockOrphaned:
			r.printf("block %d %s: orphaned\n", b.Height, b.Hash)
			r.rep.Orphaned = append(r.rep.Orphaned, b.Hash)
			if !r.o.DryRun {
				if _, err := r.o.Ledger.OrphanBlock(ctx, r.lease, b.Hash, r.o.Scheme == SchemeProp); err != nil {
					return err
				}
			}
		case BlockMature:
			if err := r.credit(ctx, b); err != nil {
				return err
			}
		default:
			r.rep.Waiting++
		}
	}
	return nil
}

// credit credits one mature block per the scheme, with its coinbase
// outputs to the payout address as spendable outputs.
func (r *runner) credit(ctx context.Context, b redisstore.Block) error {
	blk, err := r.o.Chain.RawBlock(ctx, b.Hash)
	if err != nil {
		return fmt.Errorf("payout: block %s: %w", b.Hash, err)
	}
	if len(blk.Transactions) == 0 {
		return fmt.Errorf("payout: block %s has no transactions", b.Hash)
	}
	cb := blk.Transactions[0]
	txid := cb.TxHash().String()
	var outs []redisstore.Outpoint
	var reward int64
	for i, out := range cb.TxOut {
		if string(out.PkScript) == string(r.script) {
			outs = append(outs, redisstore.Outpoint{TxID: txid, Vout: uint32(i), Value: out.Value,
				PkScript: out.PkScript, Height: b.Height, Block: b.Hash})
			reward += out.Value
		}
	}
	weights, err := r.weights(ctx, b)
	if err != nil {
		return err
	}
	credits, fee := map[string]int64{}, reward
	if !r.o.SoloMode {
		if credits, fee, err = BlockCredits(r.o.Scheme, reward, r.o.FeePercent, b.Account, weights); err != nil {
			return fmt.Errorf("payout: block %s: %w", b.Hash, err)
		}
	}
	var sum int64
	for a, v := range credits {
		sum += v
		r.rep.Credits[a] += v
	}
	r.printf("block %d %s: mature, reward %d sat to the pool address, fee %d, %d accounts credited %d\n",
		b.Height, b.Hash, reward, fee, len(credits), sum)
	r.rep.Credited = append(r.rep.Credited, b.Hash)
	if r.o.DryRun {
		r.dryOutputs = append(r.dryOutputs, outs...)
		return nil
	}
	bc := redisstore.BlockCredit{Hash: b.Hash, Credits: credits, Fee: fee, Reward: reward, Outputs: outs}
	if bc.Sites, err = r.siteEarnings(ctx, b, sum); err != nil {
		return fmt.Errorf("payout: block %s: %w", b.Hash, err)
	}
	if !r.o.SoloMode && (r.o.Scheme == SchemePPS || r.o.Scheme == SchemeFPPS) {
		bc.ReserveIn = reward
	}
	if _, err := r.o.Ledger.CreditBlock(ctx, r.lease, bc); err != nil {
		return err
	}
	return nil
}

// weights returns the work per account the scheme shares a block by.
func (r *runner) weights(ctx context.Context, b redisstore.Block) (map[string]float64, error) {
	switch r.o.Scheme {
	case SchemePPLNS:
		return r.o.Reader.PPLNSWindow(ctx, b.Hash)
	case SchemeProp:
		_, accounts, err := r.o.Reader.RoundWork(ctx, b.Hash)
		return accounts, err
	}
	return nil, nil
}

// siteEarnings splits what the accounts got from a block (credited) over
// the energy sites by the sites' work the block paid for, exactly as the
// accounts' shares are split (Split: largest remainder, sums to credited):
// the window (PPLNS) or the round (PROP) the block froze, the finder's
// site (SOLO). It is nil when nothing was credited or the block was frozen
// before sites' work was kept.
func (r *runner) siteEarnings(ctx context.Context, b redisstore.Block, credited int64) (map[string]int64, error) {
	if credited == 0 || r.o.SoloMode {
		return nil, nil
	}
	var work map[string]float64
	var err error
	switch r.o.Scheme {
	case SchemeSolo:
		site := b.Site
		if site == "" {
			site = redisstore.UnassignedSite
		}
		return map[string]int64{site: credited}, nil
	case SchemePPLNS:
		work, err = r.o.Reader.BlockSiteWork(ctx, b.Hash, true)
	case SchemeProp:
		work, err = r.o.Reader.BlockSiteWork(ctx, b.Hash, false)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for s, w := range work {
		if !(w > 0) || math.IsInf(w, 0) {
			delete(work, s) // Split takes finite weights above zero
		}
	}
	if len(work) == 0 {
		return nil, nil
	}
	return Split(credited, work)
}

// creditPPS moves the whole satoshis PPS/FPPS owes into the balances.
func (r *runner) creditPPS(ctx context.Context) error {
	if r.o.Scheme != SchemePPS && r.o.Scheme != SchemeFPPS {
		return nil
	}
	if r.o.DryRun {
		return nil
	}
	credits, err := r.o.Ledger.CreditPPS(ctx, r.lease)
	for a, v := range credits {
		r.rep.Credits[a] += v
	}
	return err
}

// pay plans, signs, records and broadcasts batches for the balances at
// or above the minimum, MaxOutputs accounts per transaction, oldest
// coinbase outputs first.
func (r *runner) pay(ctx context.Context) error {
	bal, err := r.o.Ledger.Balances(ctx)
	if err != nil {
		return err
	}
	if r.o.DryRun {
		// What this run would have credited counts as if it had.
		for a, v := range r.rep.Credits {
			bal.Bal[a] += v
		}
	}
	var due []wallet.Output
	accounts := make([]string, 0, len(bal.Bal))
	for a := range bal.Bal {
		accounts = append(accounts, a)
	}
	sort.Strings(accounts)
	for _, a := range accounts {
		if v := bal.Bal[a]; v >= r.o.MinPayout {
			due = append(due, wallet.Output{Account: a, Address: a, Amount: v})
		}
	}
	if len(due) == 0 {
		return nil
	}
	utxos, err := r.o.Ledger.UTXOs(ctx)
	if err != nil {
		return err
	}
	utxos = append(utxos, r.dryOutputs...)
	rate, err := r.feeRate(ctx)
	if err != nil {
		return err
	}
	tip, _, err := r.o.Chain.Tip(ctx)
	if err != nil {
		return err
	}
	for n := 0; len(due) > 0; n++ {
		k := min(len(due), r.o.MaxOutputs)
		tx, spent, rest, err := r.build(due[:k], utxos, rate)
		// Short of funds (blocks not yet mature, outputs lost to another
		// spend): pay as many accounts as the outputs cover, in order; the
		// others wait for the next run.
		for errors.Is(err, wallet.ErrInsufficientFunds) && k > 1 {
			k--
			tx, spent, rest, err = r.build(due[:k], utxos, rate)
		}
		if err != nil {
			r.printf("not paid now: %d accounts: %v\n", len(due), err)
			r.log.Warn("payout: batch not built", zap.Int("accounts", len(due)), zap.Error(err))
			return nil
		}
		outs := due[:k]
		utxos = rest
		due = due[k:]
		id := strconv.FormatInt(r.o.Now().UnixMilli(), 10) + "-" + strconv.Itoa(n)
		r.printf("batch %s: %d outputs, %d sat, fee %d sat at %.2f sat/vB, change %d\n", id, len(outs), sumOutputs(outs), tx.Fee, rate, tx.Change)
		if r.o.DryRun {
			for _, o := range outs {
				r.printf("  %s %d\n", o.Address, o.Amount)
			}
			continue
		}
		if err := r.payBatch(ctx, id, tx, spent, tip, rate); err != nil {
			return err
		}
	}
	return nil
}

func sumOutputs(outs []wallet.Output) int64 {
	var s int64
	for _, o := range outs {
		s += o.Amount
	}
	return s
}

// build chooses the oldest outputs that cover outs and the fee at rate and
// returns the transaction, the outputs it spends and the outputs left.
func (r *runner) build(outs []wallet.Output, utxos []redisstore.Outpoint, rate float64) (*wallet.Tx, []redisstore.Outpoint, []redisstore.Outpoint, error) {
	var in []wallet.UTXO
	for i, u := range utxos {
		in = append(in, wallet.UTXO{TxID: u.TxID, Vout: u.Vout, Value: u.Value, PkScript: u.PkScript})
		tx, err := wallet.Build(in, outs, r.o.PayoutAddress, rate, r.o.Params)
		if err == nil {
			return tx, utxos[:i+1], utxos[i+1:], nil
		}
		if !errors.Is(err, wallet.ErrInsufficientFunds) {
			return nil, nil, nil, err
		}
	}
	if len(in) == 0 {
		return nil, nil, nil, fmt.Errorf("%w: no spendable outputs (the pool's blocks are not mature yet, or their outputs wait in unconfirmed batches)", wallet.ErrInsufficientFunds)
	}
	_, err := wallet.Build(in, outs, r.o.PayoutAddress, rate, r.o.Params)
	var have int64
	for _, u := range utxos {
		have += u.Value
	}
	if have >= sumOutputs(outs) {
		// Only the transaction fee is missing: it is the pool's to pay,
		// from its cut of the blocks, and the spendable outputs hold
		// nothing but the miners' balances.
		return nil, nil, nil, fmt.Errorf("%w (the transaction fee is the pool's to pay, from its pool_fee_percent of each block: set pool.pool_fee_percent above 0)", err)
	}
	return nil, nil, nil, err
}

// feeRate is the node's estimate within the configured bounds.
func (r *runner) feeRate(ctx context.Context) (float64, error) {
	rate, ok, err := r.o.Chain.FeeRate(ctx, r.o.ConfTarget)
	if err != nil {
		return 0, err
	}
	if !ok {
		rate = r.o.FeeRateMin
	}
	return min(max(rate, r.o.FeeRateMin), r.o.FeeRateMax), nil
}

// payBatch plans one batch, then signs, records and broadcasts it (hot) or
// writes its PSBT (cold).
func (r *runner) payBatch(ctx context.Context, id string, tx *wallet.Tx, spent []redisstore.Outpoint, tip int64, rate float64) error {
	b := redisstore.Batch{ID: id, Created: r.o.Now(), Fee: tx.Fee, FeeRate: rate, Inputs: spent}
	for _, o := range tx.Outputs {
		b.Outputs = append(b.Outputs, redisstore.BatchOutput{Account: o.Account, Address: o.Address, Amount: o.Amount})
	}
	if err := r.o.Ledger.PlanBatch(ctx, r.lease, b); err != nil {
		return err
	}
	r.rep.Batches = append(r.rep.Batches, id)
	r.o.Crash(StepAfterPlan)
	if r.o.Cold {
		return r.writePSBT(ctx, id, tx)
	}
	if err := wallet.Sign(tx, r.o.Key); err != nil {
		return fmt.Errorf("payout: batch %s: %w", id, err)
	}
	r.o.Crash(StepAfterSign)
	return r.recordAndBroadcast(ctx, id, tx.Msg, tip)
}

// recordAndBroadcast stores the signed transaction before anything is sent,
// then broadcasts it. A crash anywhere after the record leaves a batch that
// the next run's reconcile rebroadcasts or settles: the transaction is fixed
// by then, so an account can only be paid by it.
func (r *runner) recordAndBroadcast(ctx context.Context, id string, msg *wire.MsgTx, tip int64) error {
	var buf bytes.Buffer
	if err := msg.Serialize(&buf); err != nil {
		return fmt.Errorf("payout: batch %s: %w", id, err)
	}
	txid := msg.TxHash().String()
	if err := r.o.Ledger.RecordSigned(ctx, r.lease, id, txid, hex.EncodeToString(buf.Bytes())); err != nil {
		return err
	}
	r.o.Crash(StepAfterRecord)
	return r.broadcast(ctx, id, msg, tip)
}

// broadcast sends the stored transaction and marks the batch broadcast; a
// node that already has it counts as sent.
func (r *runner) broadcast(ctx context.Context, id string, msg *wire.MsgTx, tip int64) error {
	if _, err := r.o.Chain.SendRawTransaction(ctx, msg); err != nil && !AlreadyKnown(err) {
		var be *BroadcastError
		if errors.As(err, &be) && (be.Code == BroadcastConflict || be.Code == BroadcastInputsMissing) {
			// Checked again, with the node's view of each input, by the
			// next reconcile, which fails the batch when an input went
			// elsewhere.
			r.log.Warn("payout: batch broadcast refused", zap.String("batch", id), zap.Error(err))
			return nil
		}
		return fmt.Errorf("payout: batch %s: broadcast: %w", id, err)
	}
	r.o.Crash(StepAfterBroadcast)
	if err := r.o.Ledger.MarkBroadcast(ctx, r.lease, id, tip); err != nil {
		return err
	}
	r.printf("batch %s: broadcast %s\n", id, msg.TxHash())
	return nil
}

// writePSBT writes the batch's unsigned PSBT for an offline signer.
func (r *runner) writePSBT(ctx context.Context, id string, tx *wallet.Tx) error {
	p, err := wallet.NewPSBT(tx)
	if err != nil {
		return fmt.Errorf("payout: batch %s: %w", id, err)
	}
	path := filepath.Join(r.o.PSBTDir, "batch-"+id+".psbt")
	if err := os.WriteFile(path, p, 0o600); err != nil {
		return fmt.Errorf("payout: batch %s: %w", id, err)
	}
	if err := r.o.Ledger.SetPSBT(ctx, r.lease, id, string(p)); err != nil {
		return err
	}
	r.printf("batch %s: unsigned PSBT written to %s; sign it offline, then `tarbela payout submit FILE`\n", id, path)
	return nil
}

// reconcile finishes the batches earlier runs left open, oldest first, per
// the table in docs/payout.md. It reports whether a failed batch halts the
// payouts.
func (r *runner) reconcile(ctx context.Context) (halted bool, err error) {
	open, err := r.o.Ledger.OpenBatches(ctx)
	if err != nil {
		return false, err
	}
	tip, _, err := r.o.Chain.Tip(ctx)
	if err != nil {
		return false, err
	}
	for _, b := range open {
		switch b.State {
		case redisstore.BatchFailed:
			// Its own transaction may have confirmed after all (a
			// conflicting one was dropped): then it is paid.
			if b.TxHex != "" {
				st, found, err := r.o.Chain.TxStatus(ctx, b.TxID, max(b.Height-1, 0))
				if err != nil {
					return halted, fmt.Errorf("payout: batch %s: %w", b.ID, err)
				}
				if found && st.BlockHash != "" {
					msg, err := decodeTx(b.TxHex)
					if err != nil {
						return halted, fmt.Errorf("payout: batch %s: stored transaction: %w", b.ID, err)
					}
					r.printf("batch %s: failed, but its transaction confirmed in block %d: paid\n", b.ID, st.Height)
					r.rep.Settled = append(r.rep.Settled, b.ID)
					if !r.o.DryRun {
						if err := r.o.Ledger.SettleBatch(ctx, r.lease, b.ID, r.change(b, msg, st.Height)...); err != nil {
							return halted, err
						}
					}
					continue
				}
			}
			r.printf("batch %s: FAILED: %s\n  payouts are halted; after checking, clear it with `tarbela payout clear %s`\n", b.ID, b.Error, b.ID)
			r.rep.Failed = append(r.rep.Failed, b.ID)
			halted = true
		case redisstore.BatchPlanned:
			// No transaction was stored, so none was ever broadcast.
			r.printf("batch %s: planned but never signed: cancelled, its amounts back in the balances\n", b.ID)
			if !r.o.DryRun {
				if err := r.o.Ledger.CancelBatch(ctx, r.lease, b.ID); err != nil {
					return halted, err
				}
			}
		case redisstore.BatchPSBT:
			r.printf("batch %s: waits for its signed PSBT (`tarbela payout submit FILE`)\n", b.ID)
		case redisstore.BatchSigned, redisstore.BatchBroadcast:
			failed, err := r.follow(ctx, b, tip)
			if err != nil {
				return halted, err
			}
			halted = halted || failed
		}
	}
	return halted, nil
}

// follow finds a signed batch's transaction on the node: confirmed → paid;
// in the mempool → wait; unknown with its inputs unspent → rebroadcast;
// unknown with an input spent elsewhere → failed.
func (r *runner) follow(ctx context.Context, b redisstore.Batch, tip int64) (failed bool, err error) {
	msg, err := decodeTx(b.TxHex)
	if err != nil {
		return false, fmt.Errorf("payout: batch %s: stored transaction: %w", b.ID, err)
	}
	from := b.Height
	if from <= 0 {
		from = tip
	}
	// The batch's inputs were matured coinbases or earlier change, all in
	// blocks before the batch was planned; a little below the tip at
	// broadcast is where its transaction can first appear.
	st, found, err := r.o.Chain.TxStatus(ctx, b.TxID, max(from-1, 0))
	if err != nil {
		return false, fmt.Errorf("payout: batch %s: %w", b.ID, err)
	}
	switch {
	case found && st.BlockHash != "":
		r.printf("batch %s: confirmed in block %d\n", b.ID, st.Height)
		r.rep.Settled = append(r.rep.Settled, b.ID)
		if r.o.DryRun {
			return false, nil
		}
		r.o.Crash(StepBeforeSettle)
		return false, r.o.Ledger.SettleBatch(ctx, r.lease, b.ID, r.change(b, msg, st.Height)...)
	case found:
		r.printf("batch %s: in the node's mempool\n", b.ID)
		return false, nil
	}
	for _, in := range b.Inputs {
		unspent, err := r.o.Chain.OutputUnspent(ctx, in.TxID, in.Vout)
		if err != nil {
			return false, fmt.Errorf("payout: batch %s: %w", b.ID, err)
		}
		if !unspent {
			reason := fmt.Sprintf("input %s:%d was spent by another transaction; %s never confirmed", in.TxID, in.Vout, b.TxID)
			r.printf("batch %s: %s\n", b.ID, reason)
			r.rep.Failed = append(r.rep.Failed, b.ID)
			if !r.o.DryRun {
				if err := r.o.Ledger.FailBatch(ctx, r.lease, b.ID, reason); err != nil {
					return true, err
				}
			}
			return true, nil
		}
	}
	r.printf("batch %s: not on the node: rebroadcasting %s\n", b.ID, b.TxID)
	if r.o.DryRun {
		return false, nil
	}
	return false, r.broadcast(ctx, b.ID, msg, tip)
}

// change returns the batch transaction's change output, which becomes
// spendable when the batch settles.
func (r *runner) change(b redisstore.Batch, msg *wire.MsgTx, height int64) []redisstore.Outpoint {
	n := len(b.Outputs)
	if len(msg.TxOut) <= n {
		return nil
	}
	out := msg.TxOut[n]
	if !bytes.Equal(out.PkScript, r.script) {
		return nil
	}
	return []redisstore.Outpoint{{TxID: msg.TxHash().String(), Vout: uint32(n), Value: out.Value, PkScript: out.PkScript, Height: height}}
}

// decodeTx reads a stored transaction.
func decodeTx(h string) (*wire.MsgTx, error) {
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, err
	}
	msg := new(wire.MsgTx)
	if err := msg.Deserialize(bytes.NewReader(b)); err != nil {
		return nil, err
	}
	return msg, nil
}

// payScript is the output script of the pool's payout address.
func payScript(addr string, net *chaincfg.Params) ([]byte, error) {
	s, err := pool.PayoutScript(addr, net)
	if err != nil {
		return nil, fmt.Errorf("payout: payout_address: %w", err)
	}
	return s, nil
}
