package payoutjob_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/payout"
	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// BenchmarkPayoutRun10k measures one payout run of a pool with 10,000
// accounts on a real btcd regtest chain and a real Redis: 40 matured
// blocks to unlock and credit across the 10,000 accounts (PPLNS), then
// 40 batches of 250 outputs to plan, sign, record and broadcast. The ledger
// is synthetic (each account has one share in the window, the blocks are
// real), set up outside the timer. Run with -benchtime 1x: each iteration
// needs its own chain.
func BenchmarkPayoutRun10k(b *testing.B) {
	const accountsN, blocksN = 10000, 40
	for range b.N {
		b.StopTimer()
		e := setup(b)
		e.cfg.Payout.MinPayout = 100000
		ctx := context.Background()
		st, err := redisstore.New(redisstore.Options{Addr: e.rds.Addr, Node: 1, PPLNSWindow: 2})
		if err != nil {
			b.Fatal(err)
		}
		if err := st.Start(ctx); err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		for i := range accountsN {
			a := scaleAccount(b, i)
			r := share.Record{Node: 1, Seq: uint64(i + 1), Worker: a + ".rig", Account: a, Difficulty: 1e-15,
				ShareDifficulty: 1e-15, Time: now, Height: 1, JobID: "1", NetDifficulty: regtestNetDifficulty}
			if err := st.AddShare(r); err != nil {
				b.Fatal(err)
			}
		}
		if err := st.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		hashes, err := e.node.Generate(ctx, blocksN)
		if err != nil {
			b.Fatal(err)
		}
		for i, h := range hashes {
			height := e.start + 1 + int64(i)
			blk := &share.BlockRecord{Height: height, Hash: h, Worker: scaleAccount(b, 0) + ".rig", Account: scaleAccount(b, 0),
				Reward: payout.Subsidy(height, 150), Status: share.BlockAccepted, Time: now, Node: 1, NetDifficulty: regtestNetDifficulty}
			if err := st.AddBlockWait(ctx, blk); err != nil {
				b.Fatal(err)
			}
		}
		_ = st.Stop(ctx)
		if _, err := e.node.Generate(ctx, config.CoinbaseMaturity); err != nil {
			b.Fatal(err)
		}
		j := e.job(b)
		b.StartTimer()
		start := time.Now()
		rep, err := j.Run(ctx, false, io.Discard, zap.NewNop())
		elapsed := time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if len(rep.Credited) != blocksN || len(rep.Batches) != accountsN/250 {
			b.Fatalf("credited %d blocks, %d batches; want %d and %d", len(rep.Credited), len(rep.Batches), blocksN, accountsN/250)
		}
		if err := j.Ledger.CheckInvariant(ctx); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(elapsed.Milliseconds()), "ms/run")
		b.ReportMetric(float64(accountsN), "accounts")
		b.ReportMetric(float64(len(rep.Batches)), "batches")
		b.StartTimer()
	}
}

// scaleAccount is the i-th synthetic account: a regtest P2WPKH address.
func scaleAccount(tb testing.TB, i int) string {
	var seed [8]byte
	binary.BigEndian.PutUint64(seed[:], uint64(i))
	h := sha256.Sum256(seed[:])
	a, err := address.NewAddressWitnessPubKeyHash(h[:20], &chaincfg.RegressionNetParams)
	if err != nil {
		tb.Fatal(err)
	}
	return a.EncodeAddress()
}
