package redisstore_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// ledgerBench times op b.N times on a fresh ledger namespace made by setup,
// and reports redis-server's CPU and the Redis memory kept per op beside
// the wall time (the machine is shared: the CPU figure moves less).
func ledgerBench(b *testing.B, c *redis.Client, setup func(e *ledgerEnv, n int) func(i int) error) {
	e := newLedgerEnv(b, c)
	op := setup(e, b.N)
	cpu, mem := redisCPU(b, c), usedMemory(b, c)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := op(i); err != nil {
			b.Fatalf("op %d: %v", i, err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64((redisCPU(b, c)-cpu).Microseconds())/float64(b.N), "redis-cpu-µs/op")
	b.ReportMetric(float64(usedMemory(b, c)-mem)/float64(b.N), "redis-bytes/op")
}

func benchAccount(i int) string { return fmt.Sprintf("bc1qbenchaccount%05d", i) }

// planBench funds accounts accounts for n ops and returns an op that plans
// perOp batches of accounts/perOp outputs each (1,000 sat), every account
// once per op, each batch spending one coinbase output: through PlanBatch,
// or, with pipeline, the same writes as one plain pipeline of HINCRBY,
// HDEL, HSET, ZADD and SADD (no checks, not atomic, not fenced: the floor a
// script is measured against).
func planBench(accounts, perOp int, pipeline bool) func(e *ledgerEnv, n int) func(int) error {
	return func(e *ledgerEnv, n int) func(int) error {
		e.t.Helper()
		const amount = 1_000
		credits := make(map[string]int64, accounts)
		for a := range accounts {
			credits[benchAccount(a)] = int64(n) * amount
		}
		var sum int64
		for _, v := range credits {
			sum += v
		}
		h := e.block("bench", 900_000)
		outs := make([]redisstore.Outpoint, n*perOp)
		for i := range outs {
			outs[i] = coinbase(h, 900_000, int64(accounts/perOp)*amount+10_000)
			outs[i].Vout = uint32(i)
		}
		if _, err := e.l.CreditBlock(e.ctx, e.lease, redisstore.BlockCredit{Hash: h, Credits: credits, Reward: sum,
			Outputs: outs}); err != nil {
			e.t.Fatalf("fund: %v", err)
		}
		size := accounts / perOp
		return func(i int) error {
			for j := range perOp {
				k := i*perOp + j
				batch := redisstore.Batch{ID: "bench-" + strconv.Itoa(k), Created: time.Now(), Fee: 5_000,
					Inputs: outs[k : k+1], Outputs: make([]redisstore.BatchOutput, size)}
				for o := range batch.Outputs {
					a := benchAccount(j*size + o)
					batch.Outputs[o] = redisstore.BatchOutput{Account: a, Address: a, Amount: amount}
				}
				var err error
				if pipeline {
					err = planPipeline(e, batch)
				} else {
					err = e.l.PlanBatch(e.ctx, e.lease, batch)
				}
				if err != nil {
					return err
				}
			}
			return nil
		}
	}
}

// planPipeline writes what PlanBatch writes, as one plain pipeline.
func planPipeline(e *ledgerEnv, b redisstore.Batch) error {
	outJSON, err := json.Marshal(b.Outputs)
	if err != nil {
		return err
	}
	inJSON, err := json.Marshal(b.Inputs)
	if err != nil {
		return err
	}
	pipe := e.c.Pipeline()
	for _, o := range b.Outputs {
		pipe.HIncrBy(e.ctx, e.key("bal"), o.Account, -o.Amount)
		pipe.HIncrBy(e.ctx, e.key("pending"), o.Account, o.Amount)
	}
	for _, in := range b.Inputs {
		pipe.HDel(e.ctx, e.key("utxo"), field(in))
	}
	ms := b.Created.UnixMilli()
	pipe.HSet(e.ctx, e.key("batch:"+b.ID), "id", b.ID, "state", "planned", "created", ms, "outputs", outJSON,
		"inputs", inJSON, "fee", b.Fee)
	pipe.ZAdd(e.ctx, e.key("batches"), redis.Z{Score: float64(ms), Member: b.ID})
	pipe.SAdd(e.ctx, e.key("batches:open"), b.ID)
	_, err = pipe.Exec(e.ctx)
	return err
}

// BenchmarkPlanBatch plans one batch of 250 outputs per op.
func BenchmarkPlanBatch(b *testing.B) {
	c := client(b, startRedis(b))
	b.Run("ledger", func(b *testing.B) { ledgerBench(b, c, planBench(250, 1, false)) })
	b.Run("pipeline", func(b *testing.B) { ledgerBench(b, c, planBench(250, 1, true)) })
}

// BenchmarkPlan10kAccounts plans 10,000 accounts in 40 batches of 250 per
// op: a large payout run's planning.
func BenchmarkPlan10kAccounts(b *testing.B) {
	c := client(b, startRedis(b))
	b.Run("ledger", func(b *testing.B) { ledgerBench(b, c, planBench(10_000, 40, false)) })
	b.Run("pipeline", func(b *testing.B) { ledgerBench(b, c, planBench(10_000, 40, true)) })
}

// BenchmarkCreditBlock credits one block to 10,000 accounts per op, through
// CreditBlock or, as the floor, the same writes as one plain pipeline.
func BenchmarkCreditBlock(b *testing.B) {
	c := client(b, startRedis(b))
	const accounts = 10_000
	setup := func(pipeline bool) func(e *ledgerEnv, n int) func(int) error {
		return func(e *ledgerEnv, n int) func(int) error {
			credits := make(map[string]int64, accounts)
			var sum int64
			for a := range accounts {
				credits[benchAccount(a)] = int64(31_250 + a)
				sum += int64(31_250 + a)
			}
			hashes := make([]string, n)
			for i := range hashes {
				hashes[i] = e.block("credit"+strconv.Itoa(i), int64(i))
			}
			return func(i int) error {
				h := hashes[i]
				out := coinbase(h, int64(i), sum)
				if !pipeline {
					_, err := e.l.CreditBlock(e.ctx, e.lease, redisstore.BlockCredit{Hash: h, Credits: credits, Reward: sum,
						Outputs: []redisstore.Outpoint{out}})
					return err
				}
				pipe := e.c.Pipeline()
				for a, v := range credits {
					pipe.HIncrBy(e.ctx, e.key("bal"), a, v)
				}
				pipe.HIncrBy(e.ctx, e.key("totals"), "credited", sum)
				pipe.HIncrBy(e.ctx, e.key("totals"), "fee", 0)
				pipe.HIncrBy(e.ctx, e.key("totals"), "reserve_in", 0)
				pipe.HSet(e.ctx, e.key("utxo"), field(out), fmt.Sprintf("%d|%d|%s|%x", out.Value, out.Height, h, out.PkScript))
				pipe.HSet(e.ctx, e.key("block:"+h), "credited", time.Now().UnixMilli(), "status", "credited")
				_, err := pipe.Exec(e.ctx)
				return err
			}
		}
	}
	b.Run("ledger", func(b *testing.B) { ledgerBench(b, c, setup(false)) })
	b.Run("pipeline", func(b *testing.B) { ledgerBench(b, c, setup(true)) })
}
