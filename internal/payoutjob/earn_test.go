package payoutjob_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/localnet/localnettest"
	"github.com/tarbela-pool/tarbela/payout"
	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// foundSiteBlocks is foundBlocks with energy sites: before each block,
// account 0 mines at site north (difficulty 1e-10), account 1 at south
// (2e-10), account 2 at both (1.5e-10 each); the blocks are found at
// north and south in turn. It returns the blocks' hashes and finders'
// sites.
func (e *chainEnv) foundSiteBlocks(t *testing.T, n int) (hashes, finders []string) {
	t.Helper()
	ctx := context.Background()
	st, err := redisstore.New(redisstore.Options{Addr: e.rds.Addr, Node: 1, PPLNSWindow: 2, Scheme: e.cfg.Payout.Scheme,
		SubsidyHalvingInterval: int64(chaincfg.RegressionNetParams.SubsidyReductionInterval)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer st.Stop(ctx)
	seq := uint64(time.Now().UnixNano())
	type part struct {
		account, rig, site string
		d                  float64
	}
	parts := []part{{accounts[0], "n1", "north", 1e-10}, {accounts[1], "s1", "south", 2e-10},
		{accounts[2], "n2", "north", 1.5e-10}, {accounts[2], "s2", "south", 1.5e-10}}
	for i := range n {
		hs, err := e.node.Generate(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		h, err := e.node.BlockCount(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			seq++
			r := share.Record{Node: 1, Seq: seq, Worker: p.account + "." + p.rig, Account: p.account, Difficulty: p.d,
				ShareDifficulty: p.d, Time: time.Now(), Height: h, JobID: "1", NetDifficulty: regtestNetDifficulty,
				CoinbaseValue: payout.Subsidy(h, 150), Site: p.site}
			if err := st.AddShareWait(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		finder := []string{"north", "south"}[i%2]
		b := &share.BlockRecord{Height: h, Hash: hs[0], Worker: accounts[i%2] + ".x", Account: accounts[i%2],
			Reward: payout.Subsidy(h, 150), Status: share.BlockAccepted, Time: time.Now(), Node: 1,
			NetDifficulty: regtestNetDifficulty, Site: finder}
		if err := st.AddBlockWait(ctx, b); err != nil {
			t.Fatal(err)
		}
		hashes, finders = append(hashes, hs[0]), append(finders, finder)
	}
	if _, err := e.node.Generate(ctx, config.CoinbaseMaturity); err != nil {
		t.Fatal(err)
	}
	return hashes, finders
}

// TestPayoutSiteEarnings runs the payout job on real regtest blocks under
// PPLNS, PROP and SOLO: each credited block's earnings per site (the
// energy report's btc_earned) sum exactly to what its accounts were
// credited (the block's credited_sum), follow the sites' work (north 2.5,
// south 3.5 parts of every round and window; SOLO: the finder's site),
// and a second run changes none of them.
func TestPayoutSiteEarnings(t *testing.T) {
	for _, scheme := range []string{payout.SchemePPLNS, payout.SchemeProp, payout.SchemeSolo} {
		t.Run(scheme, func(t *testing.T) {
			if testing.Short() {
				t.Skip("runs btcd and redis-server")
			}
			node := btcdNode{localnettest.StartBtcd(t, localnet.BtcdOptions{MiningAddr: poolAddr})}
			e := newChainEnv(t, node, func(cfg *config.Config) { cfg.Payout.Scheme = scheme })
			hashes, finders := e.foundSiteBlocks(t, 2)
			j := e.job(t)
			ctx := context.Background()
			rep, err := j.Run(ctx, false, testWriter{t}, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Credited) != 2 {
				t.Fatalf("credited %d blocks, want 2", len(rep.Credited))
			}
			c := redis.NewClient(&redis.Options{Addr: e.rds.Addr, Password: e.rds.Password})
			defer c.Close()
			el := redisstore.NewEnergyLedger(c, e.cfg.Redis.Prefix)
			earned, err := el.BlockEarnings(ctx, hashes)
			if err != nil {
				t.Fatal(err)
			}
			for i, h := range hashes {
				s, err := c.HGet(ctx, e.cfg.Redis.Prefix+":{acct}:block:"+h, "credited_sum").Result()
				if err != nil {
					t.Fatal(err)
				}
				credited, _ := strconv.ParseInt(s, 10, 64)
				var sum int64
				for _, v := range earned[h] {
					sum += v
				}
				if sum != credited || credited == 0 {
					t.Errorf("block %d: sites earned %v (sum %d), the accounts were credited %d", i, earned[h], sum, credited)
				}
				want := map[string]float64{"north": float64(credited) * 2.5 / 6, "south": float64(credited) * 3.5 / 6}
				if scheme == payout.SchemeSolo {
					want = map[string]float64{finders[i]: float64(credited)}
				}
				if len(earned[h]) != len(want) {
					t.Errorf("block %d: earnings %v, want sites %v", i, earned[h], want)
				}
				for site, w := range want {
					if d := float64(earned[h][site]) - w; d > 1 || d < -1 {
						t.Errorf("block %d: site %s earned %d, its share of the work is %.1f", i, site, earned[h][site], w)
					}
				}
			}
			if _, err := j.Run(ctx, false, testWriter{t}, zap.NewNop()); err != nil {
				t.Fatal(err)
			}
			again, err := el.BlockEarnings(ctx, hashes)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hashes {
				for site, v := range earned[h] {
					if again[h][site] != v || len(again[h]) != len(earned[h]) {
						t.Errorf("block %s: earnings changed by a second run: %v, then %v", h, earned[h], again[h])
					}
				}
			}
		})
	}
}
