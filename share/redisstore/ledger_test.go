package redisstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// ledgerEnv is one ledger namespace (its own prefix) on a shared
// redis-server, with a lease held for the test.
type ledgerEnv struct {
	t      testing.TB
	ctx    context.Context
	c      *redis.Client
	l      *redisstore.Ledger
	lease  redisstore.Lease
	prefix string
}

var ledgerPrefixes atomic.Int64

// newLedgerEnv gives t a fresh ledger namespace on c and takes its lock.
func newLedgerEnv(t testing.TB, c *redis.Client) *ledgerEnv {
	t.Helper()
	e := &ledgerEnv{t: t, ctx: context.Background(), c: c,
		prefix: "ledger" + strconv.FormatInt(ledgerPrefixes.Add(1), 10)}
	e.l = redisstore.NewLedger(c, e.prefix)
	lease, err := e.l.Lock(e.ctx, time.Minute)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	e.lease = lease
	return e
}

func (e *ledgerEnv) key(name string) string { return e.prefix + ":{acct}:" + name }

// hash64 is a 64-hex-digit name derived from s, for txids and block hashes.
func hash64(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// block writes a block record as the share store's batch script would
// (status accepted) and returns its hash.
func (e *ledgerEnv) block(name string, height int64) string {
	e.t.Helper()
	h := hash64("block " + name)
	if err := e.c.HSet(e.ctx, e.key("block:"+h), "hash", h, "height", height, "status", "accepted").Err(); err != nil {
		e.t.Fatalf("HSET block: %v", err)
	}
	if err := e.c.ZAdd(e.ctx, e.key("blocks"), redis.Z{Score: float64(height), Member: h}).Err(); err != nil {
		e.t.Fatalf("ZADD blocks: %v", err)
	}
	return h
}

// coinbase is the payout output of block hash at height, worth value.
func coinbase(hash string, height, value int64) redisstore.Outpoint {
	return redisstore.Outpoint{TxID: hash64("coinbase " + hash), Vout: 0, Value: value, Height: height, Block: hash,
		PkScript: []byte{0x00, 0x14, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}}
}

// fund records a matured block named name that credits credits (no fee)
// and pays one coinbase output of their sum, which it returns.
func (e *ledgerEnv) fund(name string, height int64, credits map[string]int64) redisstore.Outpoint {
	e.t.Helper()
	h := e.block(name, height)
	var sum int64
	for _, v := range credits {
		sum += v
	}
	out := coinbase(h, height, sum)
	applied, err := e.l.CreditBlock(e.ctx, e.lease, redisstore.BlockCredit{Hash: h, Credits: credits, Reward: sum,
		Outputs: []redisstore.Outpoint{out}})
	if err != nil || !applied {
		e.t.Fatalf("CreditBlock %s: applied %v, %v", name, applied, err)
	}
	return out
}

// snapshot is every key of the namespace with its type and content, for
// "nothing changed" checks.
func (e *ledgerEnv) snapshot() map[string]string {
	e.t.Helper()
	out := map[string]string{}
	keys, err := e.c.Keys(e.ctx, e.prefix+":*").Result()
	if err != nil {
		e.t.Fatalf("KEYS: %v", err)
	}
	for _, k := range keys {
		typ := e.c.Type(e.ctx, k).Val()
		var v string
		switch typ {
		case "string":
			v = e.c.Get(e.ctx, k).Val()
		case "hash":
			m := e.c.HGetAll(e.ctx, k).Val()
			for _, f := range slices.Sorted(maps.Keys(m)) {
				v += f + "=" + m[f] + "\n"
			}
		case "set":
			v = strings.Join(slices.Sorted(slices.Values(e.c.SMembers(e.ctx, k).Val())), ",")
		case "zset":
			for _, z := range e.c.ZRangeWithScores(e.ctx, k, 0, -1).Val() {
				v += fmt.Sprintf("%v=%v\n", z.Member, z.Score)
			}
		default:
			v = "?"
		}
		out[k] = typ + ":" + v
	}
	return out
}

// same fails t when two snapshots differ, naming the keys.
func (e *ledgerEnv) same(what string, before, after map[string]string) {
	e.t.Helper()
	for _, k := range slices.Sorted(maps.Keys(before)) {
		if before[k] != after[k] {
			e.t.Errorf("%s changed %s:\nbefore %q\nafter  %q", what, k, before[k], after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			e.t.Errorf("%s created %s = %q", what, k, after[k])
		}
	}
}

func (e *ledgerEnv) invariant() {
	e.t.Helper()
	if err := e.l.CheckInvariant(e.ctx); err != nil {
		e.t.Fatalf("CheckInvariant: %v", err)
	}
}

func (e *ledgerEnv) balances() redisstore.Balances {
	e.t.Helper()
	b, err := e.l.Balances(e.ctx)
	if err != nil {
		e.t.Fatalf("Balances: %v", err)
	}
	return b
}

func (e *ledgerEnv) totals() redisstore.LedgerTotals {
	e.t.Helper()
	v, err := e.l.Totals(e.ctx)
	if err != nil {
		e.t.Fatalf("Totals: %v", err)
	}
	return v
}

func (e *ledgerEnv) batch(id string) redisstore.Batch {
	e.t.Helper()
	b, err := e.l.Batch(e.ctx, id)
	if err != nil {
		e.t.Fatalf("Batch %s: %v", id, err)
	}
	return b
}

func (e *ledgerEnv) utxos() []redisstore.Outpoint {
	e.t.Helper()
	u, err := e.l.UTXOs(e.ctx)
	if err != nil {
		e.t.Fatalf("UTXOs: %v", err)
	}
	return u
}

func TestLedgerLock(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	ctx := context.Background()
	l := redisstore.NewLedger(c, "locktest")

	a, err := l.Lock(ctx, time.Minute)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if a.Token() != 1 {
		t.Errorf("first token = %d, want 1", a.Token())
	}
	_, err = l.Lock(ctx, time.Minute)
	var locked *redisstore.LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("second Lock = %v, want *LockedError", err)
	}
	if locked.Token != a.Token() || locked.ExpiresIn <= 55*time.Second || locked.ExpiresIn > time.Minute {
		t.Errorf("LockedError = %+v, want token %d, about a minute left", locked, a.Token())
	}
	if want := "payout: another run holds the lock (token 1, expires in 1m0s)"; err.Error() != want {
		t.Errorf("message = %q, want %q", err, want)
	}
	if err := a.Renew(ctx); err != nil {
		t.Errorf("Renew: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Errorf("Release: %v", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Errorf("second Release: %v", err)
	}
	b, err := l.Lock(ctx, time.Minute)
	if err != nil {
		t.Fatalf("Lock after Release: %v", err)
	}
	if b.Token() <= a.Token() {
		t.Errorf("token after release = %d, want above %d", b.Token(), a.Token())
	}
	if err := a.Renew(ctx); !errors.Is(err, redisstore.ErrFenced) {
		t.Errorf("Renew of a released lease = %v, want ErrFenced", err)
	}
	if err := a.Release(ctx); !errors.Is(err, redisstore.ErrFenced) {
		t.Errorf("Release of a lease another run replaced = %v, want ErrFenced", err)
	}
	if held := c.Get(ctx, "locktest:{acct}:pay:lock").Val(); held != strconv.FormatInt(b.Token(), 10) {
		t.Errorf("pay:lock = %q after the old lease's Release, want %d", held, b.Token())
	}
}

// TestLedgerFencing: lease A expires, lease B is taken; every write of A
// fails with ErrFenced and changes nothing, and B's writes go through.
func TestLedgerFencing(t *testing.T) {
	e := newLedgerEnv(t, client(t, startRedis(t)))
	ctx := e.ctx
	// Batches in every state a write starts from, made under the test's
	// own lease, which is then released.
	in := e.fund("b1", 100, map[string]int64{"alice": 50_000, "bob": 30_000})
	in2 := e.fund("b2", 101, map[string]int64{"alice": 50_000})
	e.fund("b3", 102, map[string]int64{"bob": 1})
	plan := func(id string, in redisstore.Outpoint, amount int64) {
		b := redisstore.Batch{ID: id, Outputs: []redisstore.BatchOutput{{Account: "alice", Address: "addr-alice", Amount: amount}},
			Inputs: []redisstore.Outpoint{in}}
		if err := e.l.PlanBatch(ctx, e.lease, b); err != nil {
			t.Fatalf("PlanBatch %s: %v", id, err)
		}
	}
	plan("planned", in, 10_000)
	plan("signed", in2, 10_000)
	if err := e.l.RecordSigned(ctx, e.lease, "signed", hash64("tx signed"), "0200"); err != nil {
		t.Fatal(err)
	}
	if err := e.c.HSet(ctx, e.key("pps:owed"), "carol", "12.5").Err(); err != nil {
		t.Fatal(err)
	}
	orphan := e.block("to orphan", 102)
	fresh := e.block("fresh", 103)
	if err := e.lease.Release(ctx); err != nil {
		t.Fatal(err)
	}

	a, err := e.l.Lock(ctx, 30*time.Millisecond)
	if err != nil {
		t.Fatalf("Lock A: %v", err)
	}
	time.Sleep(60 * time.Millisecond)
	// Once A expired and before anyone took the lock, A is fenced too.
	writes := []struct {
		name string
		do   func(redisstore.Lease) error
	}{
		{"CreditBlock", func(s redisstore.Lease) error {
			_, err := e.l.CreditBlock(ctx, s, redisstore.BlockCredit{Hash: fresh, Credits: map[string]int64{"dave": 5}, Reward: 5})
			return err
		}},
		{"OrphanBlock", func(s redisstore.Lease) error { _, err := e.l.OrphanBlock(ctx, s, orphan, true); return err }},
		{"CreditPPS", func(s redisstore.Lease) error { _, err := e.l.CreditPPS(ctx, s); return err }},
		{"PlanBatch", func(s redisstore.Lease) error {
			return e.l.PlanBatch(ctx, s, redisstore.Batch{ID: "new",
				Outputs: []redisstore.BatchOutput{{Account: "bob", Address: "addr-bob", Amount: 1}}, Inputs: e.utxos()[:1]})
		}},
		{"SetPSBT", func(s redisstore.Lease) error { return e.l.SetPSBT(ctx, s, "planned", "cHNidP8=") }},
		{"RecordSigned", func(s redisstore.Lease) error {
			return e.l.RecordSigned(ctx, s, "planned", hash64("tx planned"), "0200")
		}},
		{"MarkBroadcast", func(s redisstore.Lease) error { return e.l.MarkBroadcast(ctx, s, "signed", 120) }},
		{"SettleBatch", func(s redisstore.Lease) error { return e.l.SettleBatch(ctx, s, "signed") }},
		{"CancelBatch", func(s redisstore.Lease) error { return e.l.CancelBatch(ctx, s, "planned") }},
		{"FailBatch", func(s redisstore.Lease) error { return e.l.FailBatch(ctx, s, "signed", "spent") }},
		{"ClearFailed", func(s redisstore.Lease) error { return e.l.ClearFailed(ctx, s, "signed") }},
		{"zero lease", func(redisstore.Lease) error { return e.l.CancelBatch(ctx, redisstore.Lease{}, "planned") }},
	}
	check := func(phase string) {
		for _, w := range writes {
			before := e.snapshot()
			if err := w.do(a); !errors.Is(err, redisstore.ErrFenced) {
				t.Errorf("%s: %s with lease A = %v, want ErrFenced", phase, w.name, err)
			}
			e.same(phase+": "+w.name, before, e.snapshot())
		}
	}
	check("lock expired")
	b, err := e.l.Lock(ctx, time.Minute)
	if err != nil {
		t.Fatalf("Lock B: %v", err)
	}
	check("lock taken by B")
	if err := a.Renew(ctx); !errors.Is(err, redisstore.ErrFenced) {
		t.Errorf("Renew A = %v, want ErrFenced", err)
	}
	// B writes.
	for _, w := range writes {
		switch w.name {
		case "CreditBlock", "OrphanBlock", "CreditPPS", "PlanBatch", "CancelBatch", "FailBatch", "ClearFailed":
			if err := w.do(b); err != nil {
				t.Errorf("%s with lease B: %v", w.name, err)
			}
		}
	}
	e.invariant()
}

func TestLedgerCreditBlock(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	tests := []struct {
		name string
		// prepare makes the block record (or not) and returns its hash.
		prepare func(e *ledgerEnv) string
		credit  func(hash string) redisstore.BlockCredit
		wantErr error
	}{
		{"pplns with fee", func(e *ledgerEnv) string { return e.block("x", 500) },
			func(h string) redisstore.BlockCredit {
				return redisstore.BlockCredit{Hash: h, Credits: map[string]int64{"alice": 200_000_001, "bob": 99_999_999, "carol": 0},
					Fee: 12_500_000, Reward: 312_500_000, Outputs: []redisstore.Outpoint{coinbase(h, 500, 312_500_000)}}
			}, nil},
		{"pps to the reserve", func(e *ledgerEnv) string { return e.block("x", 500) },
			func(h string) redisstore.BlockCredit {
				return redisstore.BlockCredit{Hash: h, ReserveIn: 312_500_000, Reward: 312_500_000,
					Outputs: []redisstore.Outpoint{coinbase(h, 500, 312_500_000)}}
			}, nil},
		{"no block record", func(e *ledgerEnv) string { return hash64("unknown") },
			func(h string) redisstore.BlockCredit {
				return redisstore.BlockCredit{Hash: h, Credits: map[string]int64{"alice": 1}, Reward: 1}
			}, redisstore.ErrNoBlock},
		{"sums do not make the reward", func(e *ledgerEnv) string { return e.block("x", 500) },
			func(h string) redisstore.BlockCredit {
				return redisstore.BlockCredit{Hash: h, Credits: map[string]int64{"alice": 10}, Fee: 1, Reward: 12}
			}, redisstore.ErrInvalid},
		{"negative credit", func(e *ledgerEnv) string { return e.block("x", 500) },
			func(h string) redisstore.BlockCredit {
				return redisstore.BlockCredit{Hash: h, Credits: map[string]int64{"alice": 11, "bob": -1}, Reward: 10}
			}, redisstore.ErrInvalid},
		{"bad output txid", func(e *ledgerEnv) string { return e.block("x", 500) },
			func(h string) redisstore.BlockCredit {
				o := coinbase(h, 500, 1)
				o.TxID = "abc"
				return redisstore.BlockCredit{Hash: h, Credits: map[string]int64{"alice": 1}, Reward: 1,
					Outputs: []redisstore.Outpoint{o}}
			}, redisstore.ErrInvalid},
		{"rejected block", func(e *ledgerEnv) string {
			h := e.block("x", 500)
			e.c.HSet(e.ctx, e.key("block:"+h), "status", "rejected")
			return h
		}, func(h string) redisstore.BlockCredit {
			return redisstore.BlockCredit{Hash: h, Credits: map[string]int64{"alice": 1}, Reward: 1}
		}, redisstore.ErrState},
		{"orphaned block", func(e *ledgerEnv) string {
			h := e.block("x", 500)
			if _, err := e.l.OrphanBlock(e.ctx, e.lease, h, false); err != nil {
				e.t.Fatal(err)
			}
			return h
		}, func(h string) redisstore.BlockCredit {
			return redisstore.BlockCredit{Hash: h, Credits: map[string]int64{"alice": 1}, Reward: 1}
		}, redisstore.ErrState},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newLedgerEnv(t, c)
			h := tc.prepare(e)
			e.c.HSet(e.ctx, e.key("round:"+h+":pplns"), "alice", 1.5)
			e.c.HSet(e.ctx, e.key("round:"+h+":w"), "alice.rig1", 1.5)
			e.c.HSet(e.ctx, e.key("round:"+h+":a"), "alice", 1.5)
			e.c.HSet(e.ctx, e.key("round:"+h+":meta"), "shares", 1)
			cr := tc.credit(h)
			before := e.snapshot()
			applied, err := e.l.CreditBlock(e.ctx, e.lease, cr)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || applied {
					t.Fatalf("CreditBlock = %v, %v; want %v", applied, err, tc.wantErr)
				}
				e.same("refused credit", before, e.snapshot())
				return
			}
			if err != nil || !applied {
				t.Fatalf("CreditBlock = %v, %v", applied, err)
			}
			b := e.balances()
			var sum int64
			for a, v := range cr.Credits {
				if b.Bal[a] != v {
					t.Errorf("bal[%s] = %d, want %d", a, b.Bal[a], v)
				}
				sum += v
			}
			tot := e.totals()
			if tot.Credited != sum || tot.Fee != cr.Fee || tot.ReserveIn != cr.ReserveIn {
				t.Errorf("totals = %+v, want credited %d fee %d reserve_in %d", tot, sum, cr.Fee, cr.ReserveIn)
			}
			if u := e.utxos(); !slices.EqualFunc(u, cr.Outputs, outpointEqual) {
				t.Errorf("utxo = %+v, want %+v", u, cr.Outputs)
			}
			if st := e.c.HGet(e.ctx, e.key("block:"+h), "status").Val(); st != "credited" {
				t.Errorf("block status = %q, want credited", st)
			}
			if e.c.Exists(e.ctx, e.key("round:"+h+":pplns")).Val() != 0 {
				t.Errorf("the frozen PPLNS window outlived the credit")
			}
			// The round's work per worker goes with the credit; per account
			// and its meta stay CreditedRoundKeep, then expire.
			if e.c.Exists(e.ctx, e.key("round:"+h+":w")).Val() != 0 || e.c.Exists(e.ctx, e.key("round:"+h+":a")).Val() != 1 {
				t.Errorf("after the credit: round:%s:w exists %d (want 0), :a exists %d (want 1)", h,
					e.c.Exists(e.ctx, e.key("round:"+h+":w")).Val(), e.c.Exists(e.ctx, e.key("round:"+h+":a")).Val())
			}
			for _, name := range []string{":a", ":meta"} {
				ttl := e.c.PTTL(e.ctx, e.key("round:"+h+name)).Val()
				if ttl <= redisstore.CreditedRoundKeep-time.Minute || ttl > redisstore.CreditedRoundKeep {
					t.Errorf("after the credit: round:%s%s lives %v more, want %v", h, name, ttl, redisstore.CreditedRoundKeep)
				}
			}
			e.invariant()
			// Once only: a second call changes nothing.
			before = e.snapshot()
			applied, err = e.l.CreditBlock(e.ctx, e.lease, cr)
			if err != nil || applied {
				t.Errorf("second CreditBlock = %v, %v; want false, nil", applied, err)
			}
			e.same("second credit", before, e.snapshot())
		})
	}
}

func outpointEqual(a, b redisstore.Outpoint) bool {
	return a.TxID == b.TxID && a.Vout == b.Vout && a.Value == b.Value && a.Height == b.Height && a.Block == b.Block &&
		string(a.PkScript) == string(b.PkScript)
}

// TestLedgerOrphanBlock freezes a real round through the share store, then
// orphans its block with and without giving the round back.
func TestLedgerOrphanBlock(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	for _, give := range []bool{true, false} {
		t.Run(fmt.Sprintf("returnRound=%v", give), func(t *testing.T) {
			e := newLedgerEnv(t, c)
			s := newStore(t, r, redisstore.Options{Prefix: e.prefix})
			ctx := e.ctx
			for i, d := range []float64{3, 5, 7} {
				if err := s.AddShareWait(ctx, rec(uint64(i+1), "alice", "r1", d)); err != nil {
					t.Fatal(err)
				}
			}
			h := hash64("orphan")
			if err := s.AddBlockWait(ctx, &share.BlockRecord{Height: 300, Hash: h, Worker: "alice.r1", Account: "alice",
				Status: share.BlockAccepted}); err != nil {
				t.Fatal(err)
			}
			// Shares of the next round, which the orphan's work joins.
			if err := s.AddShareWait(ctx, rec(4, "bob", "r1", 11)); err != nil {
				t.Fatal(err)
			}
			e.c.HSet(ctx, e.key("round:"+h+":pplns"), "alice", 15)
			rd := redisstore.NewReader(c, e.prefix, 0)

			applied, err := e.l.OrphanBlock(ctx, e.lease, h, give)
			if err != nil || !applied {
				t.Fatalf("OrphanBlock = %v, %v", applied, err)
			}
			_, accounts, err := rd.RoundWork(ctx, redisstore.CurrentRound)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]float64{"bob": 11}
			wantShares, wantWork := int64(1), 11.0
			if give {
				want["alice"] = 15
				wantShares, wantWork = 4, 26
			}
			if !maps.Equal(accounts, want) {
				t.Errorf("open round accounts = %v, want %v", accounts, want)
			}
			st, err := rd.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.RoundShares != wantShares || st.RoundWork != wantWork {
				t.Errorf("open round = %d shares, %v work; want %d, %v", st.RoundShares, st.RoundWork, wantShares, wantWork)
			}
			for _, k := range []string{":w", ":a", ":meta", ":pplns"} {
				if n := e.c.Exists(ctx, e.key("round:"+h+k)).Val(); n != 0 {
					t.Errorf("frozen round key %s still exists", k)
				}
			}
			if st := e.c.HGet(ctx, e.key("block:"+h), "status").Val(); st != "orphaned" {
				t.Errorf("status = %q, want orphaned", st)
			}
			before := e.snapshot()
			applied, err = e.l.OrphanBlock(ctx, e.lease, h, give)
			if err != nil || applied {
				t.Errorf("second OrphanBlock = %v, %v; want false, nil", applied, err)
			}
			e.same("second orphan", before, e.snapshot())
		})
	}
	t.Run("credited block", func(t *testing.T) {
		e := newLedgerEnv(t, c)
		e.fund("credited", 10, map[string]int64{"alice": 5})
		before := e.snapshot()
		if _, err := e.l.OrphanBlock(e.ctx, e.lease, hash64("block credited"), true); !errors.Is(err, redisstore.ErrState) {
			t.Errorf("OrphanBlock of a credited block = %v, want ErrState", err)
		}
		e.same("refused orphan", before, e.snapshot())
	})
}

func TestLedgerCreditPPS(t *testing.T) {
	e := newLedgerEnv(t, client(t, startRedis(t)))
	c := e.c
	ctx := e.ctx
	owed := func(acct string, v float64) {
		if err := c.HIncrByFloat(ctx, e.key("pps:owed"), acct, v).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// 2,500 accounts cross the 1,000-account chunks.
	added := map[string]float64{}
	for i := range 2500 {
		a := "acct" + strconv.Itoa(i)
		v := float64(i)*1.37 + 0.001*float64(i%7)
		owed(a, v)
		added[a] = v
	}
	got, err := e.l.CreditPPS(ctx, e.lease)
	if err != nil {
		t.Fatalf("CreditPPS: %v", err)
	}
	var total int64
	for a, v := range added {
		whole := int64(v)
		if got[a] != whole {
			t.Fatalf("credited %s %d, want %d", a, got[a], whole)
		}
		total += whole
		rest, _ := c.HGet(ctx, e.key("pps:owed"), a).Float64()
		if float64(whole)+rest != v || rest < 0 || rest >= 1 {
			t.Fatalf("%s: credited %d + kept %v ≠ owed %v", a, whole, rest, v)
		}
	}
	tot := e.totals()
	if tot.Credited != total || tot.ReserveOut != total || tot.Reserve() != -total {
		t.Errorf("totals = %+v, want credited = reserve_out = %d", tot, total)
	}
	e.invariant()

	// A second call credits only what was added since: acct1 had 0.371
	// left, +0.629 makes whole satoshis only together.
	owed("acct1", 0.629)
	owed("acct2", 5.25)
	got, err = e.l.CreditPPS(ctx, e.lease)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{"acct1": 1, "acct2": 5}; !maps.Equal(got, want) {
		t.Errorf("second CreditPPS = %v, want %v", got, want)
	}
	before := e.snapshot()
	if got, err := e.l.CreditPPS(ctx, e.lease); err != nil || len(got) != 0 {
		t.Errorf("third CreditPPS = %v, %v; want nothing", got, err)
	}
	e.same("CreditPPS with nothing whole owed", before, e.snapshot())
	if b := e.balances(); b.Bal["acct2"] != 2*1+5 { // int(2*1.37+0.002) = 2
		t.Errorf("bal[acct2] = %d, want 7", b.Bal["acct2"])
	}
	e.invariant()
}

func TestLedgerReads(t *testing.T) {
	e := newLedgerEnv(t, client(t, startRedis(t)))
	ctx := e.ctx
	in3 := e.fund("c", 30, map[string]int64{"alice": 100})
	in1 := e.fund("a", 10, map[string]int64{"alice": 100})
	in2 := e.fund("b", 20, map[string]int64{"bob": 100})
	if u := e.utxos(); !slices.EqualFunc(u, []redisstore.Outpoint{in1, in2, in3}, outpointEqual) {
		t.Errorf("UTXOs not by height: %+v", u)
	}
	t0 := time.UnixMilli(1_700_000_000_000)
	mk := func(id string, at time.Time, in redisstore.Outpoint, acct string) redisstore.Batch {
		b := redisstore.Batch{ID: id, Created: at, Fee: 141,
			Outputs: []redisstore.BatchOutput{{Account: acct, Address: "addr-" + acct, Amount: 60}},
			Inputs:  []redisstore.Outpoint{in}}
		if err := e.l.PlanBatch(ctx, e.lease, b); err != nil {
			t.Fatalf("PlanBatch %s: %v", id, err)
		}
		b.State = redisstore.BatchPlanned
		return b
	}
	mk("b2", t0.Add(2*time.Hour), in2, "bob")
	b1 := mk("b1", t0.Add(time.Hour), in1, "alice")
	b0 := mk("b0", t0, in3, "alice")
	if got := e.batch("b1"); !batchEqual(got, b1) {
		t.Errorf("Batch b1 = %+v\nwant %+v", got, b1)
	}
	if _, err := e.l.Batch(ctx, "nope"); !errors.Is(err, redisstore.ErrNoBatch) {
		t.Errorf("Batch of an unknown id = %v, want ErrNoBatch", err)
	}
	ids := func(bs []redisstore.Batch, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, b := range bs {
			s = append(s, b.ID)
		}
		return strings.Join(s, ",")
	}
	if got := ids(e.l.OpenBatches(ctx)); got != "b0,b1,b2" {
		t.Errorf("OpenBatches = %s, want b0,b1,b2 (oldest first)", got)
	}
	if got := ids(e.l.BatchesBetween(ctx, t0.Add(time.Hour), t0.Add(2*time.Hour))); got != "b1" {
		t.Errorf("BatchesBetween [1h, 2h) = %s, want b1", got)
	}
	if err := e.l.FailBatch(ctx, e.lease, "b2", "input spent by 00ff"); err != nil {
		t.Fatal(err)
	}
	if err := e.l.CancelBatch(ctx, e.lease, b0.ID); err != nil {
		t.Fatal(err)
	}
	if got := ids(e.l.FailedBatches(ctx)); got != "b2" {
		t.Errorf("FailedBatches = %s, want b2", got)
	}
	if got := ids(e.l.OpenBatches(ctx)); got != "b1,b2" {
		t.Errorf("OpenBatches = %s, want b1,b2", got)
	}
	if got := ids(e.l.BatchesBetween(ctx, t0, t0.Add(24*time.Hour))); got != "b0,b1,b2" {
		t.Errorf("BatchesBetween the day = %s, want every batch", got)
	}
	if got := e.batch("b2"); got.State != redisstore.BatchFailed || got.Error != "input spent by 00ff" {
		t.Errorf("failed batch = %s %q", got.State, got.Error)
	}
	e.invariant()
}

func batchEqual(a, b redisstore.Batch) bool {
	return a.ID == b.ID && a.State == b.State && a.Created.Equal(b.Created) && slices.Equal(a.Outputs, b.Outputs) &&
		slices.EqualFunc(a.Inputs, b.Inputs, outpointEqual) && a.Fee == b.Fee && a.TxID == b.TxID &&
		a.TxHex == b.TxHex && a.PSBT == b.PSBT && a.Height == b.Height && a.Error == b.Error
}

// TestLedgerInvariantReports: CheckInvariant names what does not add up.
func TestLedgerInvariantReports(t *testing.T) {
	r := startRedis(t)
	c := client(t, r)
	tests := []struct {
		name    string
		corrupt func(e *ledgerEnv)
		want    string
	}{
		{"balance raised behind the ledger's back", func(e *ledgerEnv) { e.c.HIncrBy(e.ctx, e.key("bal"), "alice", 7) },
			"credited 100 ≠ Σ bal 107 + Σ pending 0 + Σ paid 0 = 107 (-7 sat)"},
		{"pending without a batch", func(e *ledgerEnv) {
			e.c.HIncrBy(e.ctx, e.key("bal"), "alice", -5)
			e.c.HIncrBy(e.ctx, e.key("pending"), "alice", 5)
		}, "pending of alice is 5, its open batches hold 0"},
		{"malformed amount", func(e *ledgerEnv) { e.c.HSet(e.ctx, e.key("paid"), "bob", "1.5") },
			`paid bob holds "1.5"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newLedgerEnv(t, c)
			e.fund("x", 1, map[string]int64{"alice": 100})
			e.invariant()
			tc.corrupt(e)
			err := e.l.CheckInvariant(e.ctx)
			if !errors.Is(err, redisstore.ErrInvariant) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckInvariant = %v, want ErrInvariant naming %q", err, tc.want)
			}
		})
	}
}
