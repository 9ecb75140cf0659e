package redisstore_test

import (
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// TestLedgerAccount: an account's balance is read alone, and its payments
// come from the index the plan writes, newest first, with the account's
// own amount, the batch's state and, once paid, its txid and settle time;
// an account the ledger never saw is not Known.
func TestLedgerAccount(t *testing.T) {
	e := newLedgerEnv(t, client(t, startRedis(t)))
	ctx := e.ctx
	in1 := e.fund("a", 10, map[string]int64{"alice": 50_000, "bob": 10_000})
	in2 := e.fund("b", 20, map[string]int64{"alice": 40_000})
	t0 := time.UnixMilli(1_700_000_000_000)
	plan := func(id string, at time.Time, in redisstore.Outpoint, outs ...redisstore.BatchOutput) {
		t.Helper()
		if err := e.l.PlanBatch(ctx, e.lease, redisstore.Batch{ID: id, Created: at, Fee: 200, Outputs: outs,
			Inputs: []redisstore.Outpoint{in}}); err != nil {
			t.Fatalf("PlanBatch %s: %v", id, err)
		}
	}
	plan("p1", t0, in1, redisstore.BatchOutput{Account: "alice", Address: "addr-alice", Amount: 30_000},
		redisstore.BatchOutput{Account: "bob", Address: "addr-bob", Amount: 9_000})
	if err := e.l.RecordSigned(ctx, e.lease, "p1", txidOf("p1"), "02000000"); err != nil {
		t.Fatal(err)
	}
	if err := e.l.MarkBroadcast(ctx, e.lease, "p1", 30); err != nil {
		t.Fatal(err)
	}
	if err := e.l.SettleBatch(ctx, e.lease, "p1"); err != nil {
		t.Fatal(err)
	}
	plan("p2", t0.Add(time.Hour), in2, redisstore.BatchOutput{Account: "alice", Address: "addr-alice", Amount: 35_000})

	pays, err := e.l.AccountPayments(ctx, "alice", 10)
	if err != nil {
		t.Fatalf("AccountPayments: %v", err)
	}
	if len(pays) != 2 {
		t.Fatalf("AccountPayments = %+v, want 2", pays)
	}
	if p := pays[0]; p.Batch != "p2" || p.State != redisstore.BatchPlanned || p.Amount != 35_000 || p.TxID != "" ||
		!p.Created.Equal(t0.Add(time.Hour)) || !p.Settled.IsZero() {
		t.Errorf("newest payment = %+v", p)
	}
	if p := pays[1]; p.Batch != "p1" || p.State != redisstore.BatchPaid || p.Amount != 30_000 || p.TxID != txidOf("p1") ||
		p.Settled.IsZero() {
		t.Errorf("oldest payment = %+v", p)
	}
	if pays, err := e.l.AccountPayments(ctx, "alice", 1); err != nil || len(pays) != 1 || pays[0].Batch != "p2" {
		t.Errorf("AccountPayments(1) = %+v, %v", pays, err)
	}
	if pays, err := e.l.AccountPayments(ctx, "bob", 10); err != nil || len(pays) != 1 || pays[0].Amount != 9_000 {
		t.Errorf("bob's payments = %+v, %v", pays, err)
	}
	if pays, err := e.l.AccountPayments(ctx, "carol", 10); err != nil || len(pays) != 0 {
		t.Errorf("payments of an unknown account = %+v, %v", pays, err)
	}

	for _, tc := range []struct {
		account string
		want    redisstore.AccountBalance
	}{
		{"alice", redisstore.AccountBalance{Bal: 90_000 - 30_000 - 35_000, Pending: 35_000, Paid: 30_000, Known: true}},
		{"bob", redisstore.AccountBalance{Bal: 1_000, Paid: 9_000, Known: true}},
		{"carol", redisstore.AccountBalance{}},
	} {
		got, err := e.l.AccountBalance(ctx, tc.account)
		if err != nil || got != tc.want {
			t.Errorf("AccountBalance(%s) = %+v, %v; want %+v", tc.account, got, err, tc.want)
		}
	}
	e.invariant()
}
