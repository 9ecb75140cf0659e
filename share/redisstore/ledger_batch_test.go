package redisstore_test

import (
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// batchOp is one batch transition, called with the arguments a run would
// repeat after a lost reply.
type batchOp struct {
	name string
	do   func(e *ledgerEnv, id string) error
}

func txidOf(id string) string { return hash64("tx " + id) }

var batchOps = []batchOp{
	{"SetPSBT", func(e *ledgerEnv, id string) error { return e.l.SetPSBT(e.ctx, e.lease, id, "cHNidP8B"+id) }},
	{"RecordSigned", func(e *ledgerEnv, id string) error {
		return e.l.RecordSigned(e.ctx, e.lease, id, txidOf(id), "02000000"+txidOf(id))
	}},
	{"MarkBroadcast", func(e *ledgerEnv, id string) error { return e.l.MarkBroadcast(e.ctx, e.lease, id, 800_000) }},
	{"SettleBatch", func(e *ledgerEnv, id string) error { return e.l.SettleBatch(e.ctx, e.lease, id) }},
	{"CancelBatch", func(e *ledgerEnv, id string) error { return e.l.CancelBatch(e.ctx, e.lease, id) }},
	{"FailBatch", func(e *ledgerEnv, id string) error { return e.l.FailBatch(e.ctx, e.lease, id, "input spent") }},
	{"ClearFailed", func(e *ledgerEnv, id string) error { return e.l.ClearFailed(e.ctx, e.lease, id) }},
}

func opNamed(name string) batchOp {
	for _, o := range batchOps {
		if o.name == name {
			return o
		}
	}
	panic("no batch op " + name)
}

// The test batch: alice 30,000 and bob 20,000 from one 60,000 input.
var (
	testOutputs = []redisstore.BatchOutput{{Account: "alice", Address: "addr-alice", Amount: 30_000},
		{Account: "bob", Address: "addr-bob", Amount: 20_000}}
	testCredits = map[string]int64{"alice": 35_000, "bob": 25_000}
)

// reach plans batch "b" on a funded ledger and walks it through path.
func reach(e *ledgerEnv, path []string) redisstore.Outpoint {
	e.t.Helper()
	in := e.fund("funding", 100, testCredits)
	b := redisstore.Batch{ID: "b", Outputs: testOutputs, Inputs: []redisstore.Outpoint{in}, Fee: 250}
	if err := e.l.PlanBatch(e.ctx, e.lease, b); err != nil {
		e.t.Fatalf("PlanBatch: %v", err)
	}
	for _, name := range path {
		if err := opNamed(name).do(e, "b"); err != nil {
			e.t.Fatalf("reaching the state: %s: %v", name, err)
		}
	}
	return in
}

// TestLedgerBatchTransitions runs every transition from every state: the
// allowed ones move the batch and the money, a repeat changes nothing, the
// others fail with ErrState (or ErrConflict) and change nothing.
func TestLedgerBatchTransitions(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	// rows: a state and how to reach it; want: per op, the state the op
	// leaves ("=" for a repeat that changes nothing, "" for ErrState).
	rows := []struct {
		state string
		path  []string
		want  map[string]string
	}{
		{"planned", nil, map[string]string{"SetPSBT": "psbt", "RecordSigned": "signed", "CancelBatch": "cancelled",
			"FailBatch": "failed"}},
		{"psbt", []string{"SetPSBT"}, map[string]string{"SetPSBT": "=", "RecordSigned": "signed",
			"CancelBatch": "cancelled", "FailBatch": "failed"}},
		{"signed", []string{"RecordSigned"}, map[string]string{"RecordSigned": "=", "MarkBroadcast": "broadcast",
			"SettleBatch": "paid", "FailBatch": "failed"}},
		{"broadcast", []string{"RecordSigned", "MarkBroadcast"}, map[string]string{"RecordSigned": "=",
			"MarkBroadcast": "=", "SettleBatch": "paid", "FailBatch": "failed"}},
		{"paid", []string{"RecordSigned", "MarkBroadcast", "SettleBatch"}, map[string]string{"RecordSigned": "=",
			"SettleBatch": "="}},
		{"cancelled", []string{"CancelBatch"}, map[string]string{"CancelBatch": "="}},
		{"failed after signing", []string{"RecordSigned", "FailBatch"}, map[string]string{"SettleBatch": "paid",
			"FailBatch": "=", "ClearFailed": "cancelled"}},
		{"failed unsigned", []string{"FailBatch"}, map[string]string{"FailBatch": "=", "ClearFailed": "cancelled"}},
		{"cleared", []string{"RecordSigned", "FailBatch", "ClearFailed"}, map[string]string{"CancelBatch": "=",
			"ClearFailed": "="}},
	}
	for _, row := range rows {
		for _, op := range batchOps {
			t.Run(row.state+"/"+op.name, func(t *testing.T) {
				e := newLedgerEnv(t, c)
				in := reach(e, row.path)
				from := e.batch("b").State
				before := e.snapshot()
				want, allowed := row.want[op.name]
				err := op.do(e, "b")
				switch {
				case !allowed:
					if !errors.Is(err, redisstore.ErrState) {
						t.Fatalf("%s from %s = %v, want ErrState", op.name, from, err)
					}
					e.same("refused "+op.name, before, e.snapshot())
					return
				case want == "=":
					if err != nil {
						t.Fatalf("repeated %s = %v, want nil", op.name, err)
					}
					e.same("repeated "+op.name, before, e.snapshot())
					return
				case err != nil:
					t.Fatalf("%s from %s: %v", op.name, from, err)
				}
				got := e.batch("b")
				if got.State != want {
					t.Fatalf("%s from %s left %s, want %s", op.name, from, got.State, want)
				}
				e.invariant()
				checkMoney(t, e, got, from, op.name, in)
				// A retry after a lost reply changes nothing.
				before = e.snapshot()
				if err := op.do(e, "b"); err != nil {
					t.Errorf("%s again: %v", op.name, err)
				}
				e.same(op.name+" again", before, e.snapshot())
			})
		}
	}
}

// checkMoney checks where the batch's amounts and input are after a
// transition that moved it.
func checkMoney(t *testing.T, e *ledgerEnv, b redisstore.Batch, from, op string, in redisstore.Outpoint) {
	t.Helper()
	bal := e.balances()
	open := b.State != redisstore.BatchPaid && b.State != redisstore.BatchCancelled
	for _, o := range testOutputs {
		wantBal, wantPending, wantPaid := testCredits[o.Account]-o.Amount, o.Amount, int64(0)
		switch b.State {
		case redisstore.BatchPaid:
			wantPending, wantPaid = 0, o.Amount
		case redisstore.BatchCancelled:
			wantBal, wantPending = testCredits[o.Account], 0
		}
		if bal.Bal[o.Account] != wantBal || bal.Pending[o.Account] != wantPending || bal.Paid[o.Account] != wantPaid {
			t.Errorf("%s: bal/pending/paid = %d/%d/%d, want %d/%d/%d", o.Account, bal.Bal[o.Account],
				bal.Pending[o.Account], bal.Paid[o.Account], wantBal, wantPending, wantPaid)
		}
	}
	inUTXO := len(e.utxos()) == 1
	// Only CancelBatch gives the input back: ClearFailed's was spent by
	// someone else, SettleBatch's by the batch.
	if wantIn := op == "CancelBatch"; inUTXO != wantIn {
		t.Errorf("input %s in utxo = %v after %s from %s, want %v", in.TxID, inUTXO, op, from, wantIn)
	}
	openIDs, err := e.l.OpenBatches(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if (len(openIDs) == 1) != open {
		t.Errorf("batch open = %v, want %v in state %s", len(openIDs) == 1, open, b.State)
	}
	if paid := e.totals().Paid; (b.State == redisstore.BatchPaid) != (paid == 50_000) {
		t.Errorf("totals paid = %d in state %s", paid, b.State)
	}
}

func TestLedgerPlanRefusals(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	tests := []struct {
		name string
		// batch returns the batch to plan on a ledger funded by
		// reach(nil) (batch "b" planned from input in).
		batch   func(e *ledgerEnv, in redisstore.Outpoint) redisstore.Batch
		wantErr error
		wantMsg string
	}{
		{"balance too low", func(e *ledgerEnv, _ redisstore.Outpoint) redisstore.Batch {
			in := e.fund("more", 101, map[string]int64{"carol": 10})
			return redisstore.Batch{ID: "c", Inputs: []redisstore.Outpoint{in}, Outputs: []redisstore.BatchOutput{
				{Account: "carol", Address: "x", Amount: 10}, {Account: "alice", Address: "y", Amount: 5_001}}}
		}, redisstore.ErrInsufficient, "account alice has 5000, the batch wants 5001"},
		{"input taken by another batch", func(e *ledgerEnv, in redisstore.Outpoint) redisstore.Batch {
			return redisstore.Batch{ID: "c", Inputs: []redisstore.Outpoint{in}, Outputs: []redisstore.BatchOutput{
				{Account: "alice", Address: "x", Amount: 1}}}
		}, redisstore.ErrInputGone, in0Field()},
		{"input differs from utxo", func(e *ledgerEnv, _ redisstore.Outpoint) redisstore.Batch {
			in := e.fund("more", 101, map[string]int64{"carol": 10})
			in.Value++
			return redisstore.Batch{ID: "c", Inputs: []redisstore.Outpoint{in}, Outputs: []redisstore.BatchOutput{
				{Account: "carol", Address: "x", Amount: 10}}}
		}, redisstore.ErrConflict, "in utxo"},
		{"id taken by another batch", func(e *ledgerEnv, _ redisstore.Outpoint) redisstore.Batch {
			in := e.fund("more", 101, map[string]int64{"carol": 10})
			return redisstore.Batch{ID: "b", Inputs: []redisstore.Outpoint{in}, Outputs: []redisstore.BatchOutput{
				{Account: "carol", Address: "x", Amount: 10}}}
		}, redisstore.ErrConflict, "exists"},
		{"same batch again", func(e *ledgerEnv, in redisstore.Outpoint) redisstore.Batch {
			return redisstore.Batch{ID: "b", Outputs: testOutputs, Inputs: []redisstore.Outpoint{in}, Fee: 250}
		}, nil, ""},
		{"account twice", func(e *ledgerEnv, _ redisstore.Outpoint) redisstore.Batch {
			in := e.fund("more", 101, map[string]int64{"carol": 10})
			return redisstore.Batch{ID: "c", Inputs: []redisstore.Outpoint{in}, Outputs: []redisstore.BatchOutput{
				{Account: "carol", Address: "x", Amount: 5}, {Account: "carol", Address: "x", Amount: 5}}}
		}, redisstore.ErrInvalid, "once per batch"},
		{"no inputs", func(e *ledgerEnv, _ redisstore.Outpoint) redisstore.Batch {
			return redisstore.Batch{ID: "c", Outputs: []redisstore.BatchOutput{{Account: "alice", Address: "x", Amount: 5}}}
		}, redisstore.ErrInvalid, "0 inputs"},
		{"zero amount", func(e *ledgerEnv, _ redisstore.Outpoint) redisstore.Batch {
			in := e.fund("more", 101, map[string]int64{"carol": 10})
			return redisstore.Batch{ID: "c", Inputs: []redisstore.Outpoint{in}, Outputs: []redisstore.BatchOutput{
				{Account: "carol", Address: "x", Amount: 0}}}
		}, redisstore.ErrInvalid, "amounts positive"},
		{"id with a space", func(e *ledgerEnv, in redisstore.Outpoint) redisstore.Batch {
			return redisstore.Batch{ID: "a b", Inputs: []redisstore.Outpoint{in}, Outputs: testOutputs}
		}, redisstore.ErrInvalid, "batch id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newLedgerEnv(t, c)
			in := reach(e, nil)
			b := tc.batch(e, in)
			before := e.snapshot()
			err := e.l.PlanBatch(e.ctx, e.lease, b)
			if !errors.Is(err, tc.wantErr) || (err != nil && !strings.Contains(err.Error(), tc.wantMsg)) {
				t.Fatalf("PlanBatch = %v, want %v naming %q", err, tc.wantErr, tc.wantMsg)
			}
			e.same("refused plan", before, e.snapshot())
		})
	}
}

func in0Field() string { return hash64("coinbase "+hash64("block funding")) + ":0 is not in utxo" }

// TestLedgerBatchConflicts: a batch keeps its first transaction and PSBT,
// and a settle's change must come from the batch's transaction.
func TestLedgerBatchConflicts(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	change := func(txid string) redisstore.Outpoint {
		return redisstore.Outpoint{TxID: txid, Vout: 2, Value: 9_750, Height: 800_001, Block: hash64("mined"),
			PkScript: []byte{0x51}}
	}
	tests := []struct {
		name string
		path []string
		do   func(e *ledgerEnv) error
		want error
	}{
		{"another transaction", []string{"RecordSigned"}, func(e *ledgerEnv) error {
			return e.l.RecordSigned(e.ctx, e.lease, "b", hash64("other"), "02")
		}, redisstore.ErrConflict},
		{"another transaction once paid", []string{"RecordSigned", "SettleBatch"}, func(e *ledgerEnv) error {
			return e.l.RecordSigned(e.ctx, e.lease, "b", hash64("other"), "02")
		}, redisstore.ErrConflict},
		{"another PSBT", []string{"SetPSBT"}, func(e *ledgerEnv) error {
			return e.l.SetPSBT(e.ctx, e.lease, "b", "cHNidP8Bother")
		}, redisstore.ErrConflict},
		{"change of another transaction", []string{"RecordSigned"}, func(e *ledgerEnv) error {
			return e.l.SettleBatch(e.ctx, e.lease, "b", change(hash64("other")))
		}, redisstore.ErrConflict},
		{"unknown batch", nil, func(e *ledgerEnv) error { return e.l.CancelBatch(e.ctx, e.lease, "nope") },
			redisstore.ErrNoBatch},
		{"change joins utxo", []string{"RecordSigned", "MarkBroadcast"}, func(e *ledgerEnv) error {
			if err := e.l.SettleBatch(e.ctx, e.lease, "b", change(txidOf("b"))); err != nil {
				return err
			}
			if u := e.utxos(); len(u) != 1 || !outpointEqual(u[0], change(txidOf("b"))) {
				e.t.Errorf("utxo after settle = %+v, want the change", u)
			}
			if err := e.l.SettleBatch(e.ctx, e.lease, "b", change(txidOf("b"))); err != nil {
				e.t.Errorf("settle again: %v", err)
			}
			return nil
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newLedgerEnv(t, c)
			reach(e, tc.path)
			before := e.snapshot()
			if err := tc.do(e); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				e.same("refused call", before, e.snapshot())
			}
			e.invariant()
		})
	}
}

// model is what the ledger should hold, kept by the random test.
type model struct {
	bal, pending, paid map[string]int64
	batches            map[string]*modelBatch
}

type modelBatch struct {
	state string
	// signed: the batch holds a transaction; cleared: ClearFailed
	// cancelled it.
	signed, cleared bool
	outputs         []redisstore.BatchOutput
}

// TestLedgerInvariantRandom plays a seeded random sequence of credits, PPS
// credits, plans, transitions (allowed or not), repeats, cancels,
// failures, clears and settles, checking the invariant after every step
// and the balances against a model at the end.
func TestLedgerInvariantRandom(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	for _, seed := range []uint64{1, 2, 3} {
		t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) {
			e := newLedgerEnv(t, c)
			rng := rand.New(rand.NewPCG(seed, 0))
			m := model{bal: map[string]int64{}, pending: map[string]int64{}, paid: map[string]int64{},
				batches: map[string]*modelBatch{}}
			accounts := []string{"alice", "bob", "carol", "dave", "erin", "frank"}
			ops := map[string]int{}
			// next is where each op leaves a batch from each state, as in
			// TestLedgerBatchTransitions ("=" no change, missing: ErrState).
			next := func(op string, b *modelBatch) string {
				s := b.state
				switch op {
				case "SetPSBT":
					return map[string]string{"planned": "psbt", "psbt": "="}[s]
				case "RecordSigned":
					return map[string]string{"planned": "signed", "psbt": "signed", "signed": "=", "broadcast": "=", "paid": "="}[s]
				case "MarkBroadcast":
					return map[string]string{"signed": "broadcast", "broadcast": "="}[s]
				case "SettleBatch":
					if s == "failed" && !b.signed {
						return ""
					}
					return map[string]string{"signed": "paid", "broadcast": "paid", "failed": "paid", "paid": "="}[s]
				case "CancelBatch":
					return map[string]string{"planned": "cancelled", "psbt": "cancelled", "cancelled": "="}[s]
				case "FailBatch":
					return map[string]string{"planned": "failed", "psbt": "failed", "signed": "failed", "broadcast": "failed", "failed": "="}[s]
				case "ClearFailed":
					if s == "cancelled" && b.cleared {
						return "="
					}
					return map[string]string{"failed": "cancelled"}[s]
				}
				return ""
			}
			var blocks, nbatch int
			for step := range 400 {
				switch k := rng.IntN(10); {
				case k < 2: // a matured block
					blocks++
					credits := map[string]int64{}
					for _, a := range accounts {
						if rng.IntN(2) == 0 {
							credits[a] = rng.Int64N(1_000_000) + 1
							m.bal[a] += credits[a]
						}
					}
					if len(credits) == 0 {
						continue
					}
					e.fund("r"+strconv.Itoa(blocks), int64(blocks), credits)
					ops["credit"]++
				case k < 3: // PPS
					for _, a := range accounts {
						c.HIncrByFloat(e.ctx, e.key("pps:owed"), a, rng.Float64()*1000)
					}
					got, err := e.l.CreditPPS(e.ctx, e.lease)
					if err != nil {
						t.Fatalf("step %d: CreditPPS: %v", step, err)
					}
					for a, v := range got {
						m.bal[a] += v
					}
					ops["pps"]++
				case k < 5: // plan from whatever is there
					u := e.utxos()
					var outs []redisstore.BatchOutput
					for _, a := range accounts {
						if m.bal[a] > 0 && rng.IntN(2) == 0 {
							outs = append(outs, redisstore.BatchOutput{Account: a, Address: "addr-" + a, Amount: rng.Int64N(m.bal[a]) + 1})
						}
					}
					if len(u) == 0 || len(outs) == 0 {
						continue
					}
					if rng.IntN(8) == 0 { // now and then, more than the balance
						outs[0].Amount = m.bal[outs[0].Account] + 1
					}
					nbatch++
					id := "p" + strconv.Itoa(nbatch)
					ins := u[:1+rng.IntN(min(len(u), 3))]
					err := e.l.PlanBatch(e.ctx, e.lease, redisstore.Batch{ID: id, Outputs: outs, Inputs: ins})
					over := outs[0].Amount > m.bal[outs[0].Account]
					if over != errors.Is(err, redisstore.ErrInsufficient) || (!over && err != nil) {
						t.Fatalf("step %d: PlanBatch (over balance: %v) = %v", step, over, err)
					}
					if err != nil {
						ops["plan refused"]++
						continue
					}
					for _, o := range outs {
						m.bal[o.Account] -= o.Amount
						m.pending[o.Account] += o.Amount
					}
					m.batches[id] = &modelBatch{state: "planned", outputs: outs}
					ops["plan"]++
				default: // a transition of a random batch, allowed or not
					if len(m.batches) == 0 {
						continue
					}
					ids := slices.Sorted(maps.Keys(m.batches))
					id := ids[rng.IntN(len(ids))]
					b := m.batches[id]
					op := batchOps[rng.IntN(len(batchOps))]
					if rng.IntN(2) == 0 {
						// Half the time, a move the state allows, so
						// batches also get far.
						var moves []batchOp
						onward := rng.IntN(10) < 7 // mostly toward paid
						for _, o := range batchOps {
							if w := next(o.name, b); w != "" && w != "=" && (!onward || w != "cancelled" && w != "failed") {
								moves = append(moves, o)
							}
						}
						if len(moves) > 0 {
							op = moves[rng.IntN(len(moves))]
						}
					}
					want := next(op.name, b)
					before := e.snapshot()
					err := op.do(e, id)
					switch want {
					case "":
						if !errors.Is(err, redisstore.ErrState) {
							t.Fatalf("step %d: %s of %s batch %s = %v, want ErrState", step, op.name, b.state, id, err)
						}
						e.same(op.name, before, e.snapshot())
						ops["refused"]++
						continue
					case "=":
						if err != nil {
							t.Fatalf("step %d: repeated %s of %s = %v", step, op.name, id, err)
						}
						e.same(op.name, before, e.snapshot())
						ops["repeat"]++
						continue
					}
					if err != nil {
						t.Fatalf("step %d: %s of %s batch %s: %v", step, op.name, b.state, id, err)
					}
					for _, o := range b.outputs {
						switch want {
						case "paid":
							m.pending[o.Account] -= o.Amount
							m.paid[o.Account] += o.Amount
						case "cancelled":
							m.pending[o.Account] -= o.Amount
							m.bal[o.Account] += o.Amount
						}
					}
					b.signed = b.signed || want == "signed"
					b.cleared = op.name == "ClearFailed"
					b.state = want
					ops[op.name]++
				}
				e.invariant()
			}
			got := e.balances()
			for _, a := range accounts {
				if got.Bal[a] != m.bal[a] || got.Pending[a] != m.pending[a] || got.Paid[a] != m.paid[a] {
					t.Errorf("%s: bal/pending/paid = %d/%d/%d, model %d/%d/%d", a, got.Bal[a], got.Pending[a],
						got.Paid[a], m.bal[a], m.pending[a], m.paid[a])
				}
			}
			t.Logf("ops: %v", ops)
		})
	}
}

// fakeNode is the chain as the reconcile test needs it: which transactions
// are in the mempool or mined, and which outpoints they spend.
type fakeNode struct {
	tip     int64
	mempool map[string]bool
	mined   map[string]bool
	spentBy map[string]string // outpoint "txid:vout" → txid
	// sent counts sendrawtransaction calls per txid.
	sent map[string]int
}

func newFakeNode() *fakeNode {
	return &fakeNode{tip: 800_000, mempool: map[string]bool{}, mined: map[string]bool{}, spentBy: map[string]string{},
		sent: map[string]int{}}
}

func field(o redisstore.Outpoint) string { return o.TxID + ":" + strconv.Itoa(int(o.Vout)) }

// send is sendrawtransaction of the batch's stored transaction.
func (n *fakeNode) send(b redisstore.Batch) {
	n.sent[b.TxID]++
	n.mempool[b.TxID] = true
	for _, in := range b.Inputs {
		n.spentBy[field(in)] = b.TxID
	}
}

// mine puts the mempool in a block.
func (n *fakeNode) mine() {
	n.tip++
	for tx := range n.mempool {
		n.mined[tx] = true
	}
	clear(n.mempool)
}

// reconcile is the table of docs/payout.md ("Every run starts by
// reconciling the unfinished batches"), through the Ledger's API.
func reconcile(e *ledgerEnv, n *fakeNode) {
	e.t.Helper()
	open, err := e.l.OpenBatches(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, b := range open {
		var err error
		switch b.State {
		case redisstore.BatchPlanned:
			err = e.l.CancelBatch(e.ctx, e.lease, b.ID)
		case redisstore.BatchPSBT, redisstore.BatchFailed:
			// psbt waits for `payout submit`; failed for `payout clear`.
		case redisstore.BatchSigned, redisstore.BatchBroadcast:
			conflict := false
			for _, in := range b.Inputs {
				if by, ok := n.spentBy[field(in)]; ok && by != b.TxID {
					conflict = true
				}
			}
			switch {
			case n.mined[b.TxID]:
				err = e.l.SettleBatch(e.ctx, e.lease, b.ID)
			case n.mempool[b.TxID]:
				err = e.l.MarkBroadcast(e.ctx, e.lease, b.ID, n.tip)
			case conflict:
				err = e.l.FailBatch(e.ctx, e.lease, b.ID, "an input was spent by another transaction")
			default:
				n.send(b)
				err = e.l.MarkBroadcast(e.ctx, e.lease, b.ID, n.tip)
			}
		}
		if err != nil {
			e.t.Fatalf("reconcile %s batch %s: %v", b.State, b.ID, err)
		}
	}
}

// TestLedgerCrashReconcile stops a run after each step of a batch's life
// (a crash between two calls), then runs the next run's reconcile from
// docs/payout.md through the API, and checks that every account is paid
// exactly once or not at all, and nothing is left open.
func TestLedgerCrashReconcile(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	type step struct {
		name string
		do   func(e *ledgerEnv, n *fakeNode, id string)
	}
	plan := step{"plan", nil} // reach plans
	sign := step{"sign", func(e *ledgerEnv, n *fakeNode, id string) {
		if err := opNamed("RecordSigned").do(e, id); err != nil {
			e.t.Fatal(err)
		}
	}}
	psbt := step{"psbt", func(e *ledgerEnv, n *fakeNode, id string) {
		if err := opNamed("SetPSBT").do(e, id); err != nil {
			e.t.Fatal(err)
		}
	}}
	send := step{"sendrawtransaction", func(e *ledgerEnv, n *fakeNode, id string) { n.send(e.batch(id)) }}
	broadcast := step{"broadcast", func(e *ledgerEnv, n *fakeNode, id string) {
		if err := e.l.MarkBroadcast(e.ctx, e.lease, id, n.tip); err != nil {
			e.t.Fatal(err)
		}
	}}
	mined := step{"mined", func(e *ledgerEnv, n *fakeNode, id string) { n.mine() }}
	settle := step{"settle", func(e *ledgerEnv, n *fakeNode, id string) {
		if err := e.l.SettleBatch(e.ctx, e.lease, id); err != nil {
			e.t.Fatal(err)
		}
	}}
	// Another transaction spends the input (and replaces the batch's in
	// the mempool).
	doubleSpent := step{"input spent elsewhere", func(e *ledgerEnv, n *fakeNode, id string) {
		b := e.batch(id)
		delete(n.mempool, b.TxID)
		for _, in := range b.Inputs {
			n.spentBy[field(in)] = hash64("thief")
		}
	}}
	hot := []step{plan, sign, send, broadcast, mined, settle}
	tests := []struct {
		name  string
		steps []step
		// paid: the accounts end paid; else their amounts are back in bal.
		paid bool
		// cold: a psbt batch waits; the test then submits it.
		cold bool
		// failed: the batch fails and the admin clears it.
		failed bool
	}{
		{name: "after plan", steps: hot[:1]},
		{name: "after sign", steps: hot[:2], paid: true},
		{name: "after sendrawtransaction", steps: hot[:3], paid: true},
		{name: "after broadcast", steps: hot[:4], paid: true},
		{name: "after mined", steps: hot[:5], paid: true},
		{name: "after settle", steps: hot, paid: true},
		{name: "cold: after psbt", steps: []step{plan, psbt}, paid: true, cold: true},
		{name: "input spent elsewhere after sign", steps: []step{plan, sign, doubleSpent}, failed: true},
		{name: "input spent elsewhere after broadcast", steps: []step{plan, sign, send, broadcast, doubleSpent},
			failed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newLedgerEnv(t, c)
			n := newFakeNode()
			in := reach(e, nil)
			for _, s := range tc.steps[1:] {
				s.do(e, n, "b")
			}
			// The run dies holding the lock; the next run waits for its
			// TTL, then reconciles.
			e.c.PExpire(e.ctx, e.key("pay:lock"), 20*time.Millisecond)
			time.Sleep(40 * time.Millisecond)
			lease, err := e.l.Lock(e.ctx, time.Minute)
			if err != nil {
				t.Fatalf("next run's Lock: %v", err)
			}
			e.lease = lease
			open, err := e.l.OpenBatches(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			last := tc.steps[len(tc.steps)-1].name
			if wantOpen := last != "settle"; (len(open) == 1) != wantOpen {
				t.Fatalf("OpenBatches after a crash after %s = %d batches, want open %v", last, len(open), wantOpen)
			}
			reconcile(e, n)
			if tc.cold {
				// payout submit: the signed PSBT comes back.
				for _, s := range []step{sign, send, broadcast} {
					s.do(e, n, "b")
				}
			}
			n.mine()
			reconcile(e, n)
			if tc.failed {
				fb, err := e.l.FailedBatches(e.ctx)
				if err != nil || len(fb) != 1 {
					t.Fatalf("FailedBatches = %v, %v; want the batch", fb, err)
				}
				if err := e.l.ClearFailed(e.ctx, e.lease, "b"); err != nil {
					t.Fatal(err)
				}
			}
			if open, err := e.l.OpenBatches(e.ctx); err != nil || len(open) != 0 {
				t.Fatalf("open after reconcile = %+v, %v", open, err)
			}
			e.invariant()
			bal := e.balances()
			for _, o := range testOutputs {
				wantBal, wantPaid := testCredits[o.Account], int64(0)
				if tc.paid {
					wantBal, wantPaid = testCredits[o.Account]-o.Amount, o.Amount
				}
				if bal.Bal[o.Account] != wantBal || bal.Paid[o.Account] != wantPaid || bal.Pending[o.Account] != 0 {
					t.Errorf("%s: bal/pending/paid = %d/%d/%d, want %d/0/%d", o.Account, bal.Bal[o.Account],
						bal.Pending[o.Account], bal.Paid[o.Account], wantBal, wantPaid)
				}
			}
			// Exactly once on chain: one transaction, however often sent.
			if tc.paid && (len(n.mined) != 1 || !n.mined[txidOf("b")]) {
				t.Errorf("mined %v, want the batch's one transaction", n.mined)
			}
			if !tc.paid && n.mined[txidOf("b")] {
				t.Errorf("the batch's transaction was mined, yet its amounts are back in bal")
			}
			// The input is back only when nothing spent it.
			inUTXO := len(e.utxos()) == 1
			if want := !tc.paid && !tc.failed; inUTXO != want {
				t.Errorf("input %s in utxo = %v, want %v", field(in), inUTXO, want)
			}
		})
	}
}

// TestLedgerRefusesNegative: a batch whose amounts are missing from
// pending (a ledger changed behind the scripts' back) is neither settled
// nor cancelled, and nothing changes.
func TestLedgerRefusesNegative(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	for _, op := range []string{"SettleBatch", "CancelBatch"} {
		t.Run(op, func(t *testing.T) {
			e := newLedgerEnv(t, c)
			path := []string{"RecordSigned"}
			if op == "CancelBatch" {
				path = nil
			}
			reach(e, path)
			e.c.HSet(e.ctx, e.key("pending"), "bob", 19_999)
			before := e.snapshot()
			err := opNamed(op).do(e, "b")
			if !errors.Is(err, redisstore.ErrInvariant) || !strings.Contains(err.Error(), "pending of bob is 19999") {
				t.Errorf("%s = %v, want ErrInvariant naming bob", op, err)
			}
			e.same("refused "+op, before, e.snapshot())
		})
	}
}
