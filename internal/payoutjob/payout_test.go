package payoutjob_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/devnet"
	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/localnet/localnettest"
	"github.com/tarbela-pool/tarbela/internal/payoutjob"
	"github.com/tarbela-pool/tarbela/payout"
	"github.com/tarbela-pool/tarbela/payout/wallet"
	"github.com/tarbela-pool/tarbela/pool"
	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// The pool's payout address (btcd mines to it) and three miners' accounts.
var (
	poolAddr = localnet.RegtestAddress(1)
	accounts = []string{localnet.RegtestAddress(2), localnet.RegtestAddress(3), localnet.RegtestAddress(4)}
)

// regtestNetDifficulty is regtest's network difficulty (nbits 207fffff).
const regtestNetDifficulty = 4.656542373906925e-10

// miningNode is what the tests need of a regtest node: blocks to the
// pool's address on demand, its height, a client of the pool's own kind.
type miningNode interface {
	Generate(ctx context.Context, n int) ([]string, error)
	BlockCount(ctx context.Context) (int64, error)
	Client() (*pool.RPCClient, error)
}

// btcdNode is btcd mining to the pool's address (its --miningaddr).
type btcdNode struct{ *localnet.Btcd }

func (b btcdNode) Client() (*pool.RPCClient, error) {
	return pool.NewRPCClient("btcd", b.URL(), b.User, b.Pass, time.Minute)
}

// coreNode is Bitcoin Core with its cookie; it mines with
// generatetoaddress to the pool's address.
type coreNode struct{ *localnet.Bitcoind }

func (c coreNode) Generate(ctx context.Context, n int) ([]string, error) {
	raw, err := c.Call(ctx, "generatetoaddress", n, poolAddr)
	if err != nil {
		return nil, err
	}
	var hashes []string
	return hashes, json.Unmarshal(raw, &hashes)
}

func (c coreNode) BlockCount(ctx context.Context) (int64, error) {
	raw, err := c.Call(ctx, "getblockcount")
	if err != nil {
		return 0, err
	}
	var h int64
	return h, json.Unmarshal(raw, &h)
}

func (c coreNode) Client() (*pool.RPCClient, error) {
	return pool.NewCookieRPCClient("core", c.URL(), c.CookieFile, time.Minute)
}

// chainEnv is a btcd regtest node mining to the pool's address, a
// redis-server, and the pool's config for both, written to a file.
type chainEnv struct {
	node    miningNode
	btcd    *localnet.Btcd // nil on Bitcoin Core
	rds     *localnet.Redis
	cfg     *config.Config
	cfgPath string
	start   int64 // the node's height before the test's blocks
}

func setup(t testing.TB) *chainEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("runs btcd and redis-server")
	}
	node := btcdNode{localnettest.StartBtcd(t, localnet.BtcdOptions{MiningAddr: poolAddr})}
	return newChainEnv(t, node, func(cfg *config.Config) {})
}

// setupCore is setup on Bitcoin Core (skipped where there is none), with
// the pool's node client on its cookie.
func setupCore(t testing.TB) *chainEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("runs bitcoind and redis-server")
	}
	node := coreNode{localnettest.StartBitcoind(t, localnet.BitcoindOptions{})}
	return newChainEnv(t, node, func(cfg *config.Config) {
		n := config.DefaultNode()
		n.Name, n.RPCURL, n.RPCCookieFile, n.Longpoll = "core", node.URL(), node.CookieFile, false
		cfg.Nodes = []config.Node{n}
	})
}

// newChainEnv is the rest of setup for node; edit adjusts the config.
func newChainEnv(t testing.TB, node miningNode, edit func(*config.Config)) *chainEnv {
	t.Helper()
	ctx := context.Background()
	rds, err := localnet.StartRedis(ctx, localnet.RedisOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rds.Stop)
	dir := t.TempDir()
	wif, err := btcutil.NewWIF(localnet.RegtestKey(1), &chaincfg.RegressionNetParams, true)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "payout.key")
	if err := os.WriteFile(keyFile, []byte(wif.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var btcd *localnet.Btcd
	base := &localnet.Btcd{RPCAddr: "127.0.0.1:1"} // replaced by edit
	if b, ok := node.(btcdNode); ok {
		btcd, base = b.Btcd, b.Btcd
	}
	cfg := devnet.Config(devnet.Options{Mode: config.ModePool, Difficulty: 1e-12, Stratum: "127.0.0.1:0"}, base, rds.Addr, poolAddr)
	edit(cfg)
	cfg.Pool.PoolFeePercent = 1
	cfg.Payout.KeyFile = keyFile
	cfg.Payout.MinPayout = 10000
	cfg.Payout.LockTTL = 10 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "tarbela.toml")
	if err := os.WriteFile(cfgPath, []byte(devnet.ConfigFile(cfg)), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := node.BlockCount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &chainEnv{node: node, btcd: btcd, rds: rds, cfg: cfg, cfgPath: cfgPath, start: h}
}

// foundBlocks makes n real regtest blocks (their coinbases pay the pool's
// address) and records each in the ledger as the pool's store does when it
// finds one: the three accounts' shares first (account i with difficulty
// (i+1)·1e-10, so the PPLNS window holds all three), then the block. Then
// it mines the maturity on top.
func (e *chainEnv) foundBlocks(t *testing.T, n int) {
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
	for range n {
		hashes, err := e.node.Generate(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		h, err := e.node.BlockCount(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range accounts {
			seq++
			d := float64(i+1) * 1e-10
			r := share.Record{Node: 1, Seq: seq, Worker: a + ".rig", Account: a, Difficulty: d, ShareDifficulty: d,
				Time: time.Now(), Height: h, JobID: "1", NetDifficulty: regtestNetDifficulty,
				CoinbaseValue: payout.Subsidy(h, 150) + 1000}
			if err := st.AddShareWait(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		b := &share.BlockRecord{Height: h, Hash: hashes[0], Worker: accounts[0] + ".rig", Account: accounts[0],
			Reward: payout.Subsidy(h, 150), Status: share.BlockAccepted, Time: time.Now(), Node: 1,
			NetDifficulty: regtestNetDifficulty}
		if err := st.AddBlockWait(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.node.Generate(ctx, config.CoinbaseMaturity); err != nil {
		t.Fatal(err)
	}
}

// job opens the payout job of the env's config.
func (e *chainEnv) job(t testing.TB) *payoutjob.Job {
	t.Helper()
	j, err := payoutjob.Open(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.Close)
	return j
}

// received sums, from the chain itself, what each account's address was
// paid by non-coinbase transactions since the env started.
func (e *chainEnv) received(t *testing.T) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	rpc, err := e.node.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer rpc.Close()
	chain := payout.NewChain(rpc)
	scripts := map[string]string{}
	for _, a := range accounts {
		s, err := pool.PayoutScript(a, &chaincfg.RegressionNetParams)
		if err != nil {
			t.Fatal(err)
		}
		scripts[string(s)] = a
	}
	tip, _, err := chain.Tip(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for h := e.start + 1; h <= tip; h++ {
		hash, err := chain.BlockHash(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		blk, err := chain.RawBlock(ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range blk.Transactions[1:] {
			for _, out := range tx.TxOut {
				if a, ok := scripts[string(out.PkScript)]; ok {
					got[a] += out.Value
				}
			}
		}
	}
	return got
}

// checkPaidOnce checks, against the chain, that every account received
// exactly what the ledger says it paid, once, that nothing is left pending
// or unpaid above the minimum, and that the ledger adds up.
func (e *chainEnv) checkPaidOnce(t *testing.T, j *payoutjob.Job) {
	t.Helper()
	e.checkPaid(t, j, true)
}

// checkPaid is checkPaidOnce; all says every account must have been paid
// down below the minimum (false when the pool is short of funds).
func (e *chainEnv) checkPaid(t *testing.T, j *payoutjob.Job, all bool) {
	t.Helper()
	ctx := context.Background()
	got := e.received(t)
	bal, err := j.Ledger.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tot, err := j.Ledger.Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var credited int64
	for _, a := range accounts {
		credit := bal.Bal[a] + bal.Pending[a] + bal.Paid[a]
		credited += credit
		switch {
		case bal.Pending[a] != 0:
			t.Errorf("%s: %d sat still pending", a, bal.Pending[a])
		case got[a] != bal.Paid[a]:
			t.Errorf("%s: the chain paid it %d sat, the ledger says %d", a, got[a], bal.Paid[a])
		case all && bal.Bal[a] >= e.cfg.Payout.MinPayout:
			t.Errorf("%s: %d sat left unpaid above the minimum", a, bal.Bal[a])
		case all && got[a] == 0:
			t.Errorf("%s: paid nothing", a)
		}
	}
	if credited != tot.Credited {
		t.Errorf("accounts hold %d sat, the ledger credited %d", credited, tot.Credited)
	}
	if err := j.Ledger.CheckInvariant(ctx); err != nil {
		t.Error(err)
	}
	t.Logf("paid on chain %v; credited %d, fee %d", got, tot.Credited, tot.Fee)
}

// TestPayoutRun: blocks found by the pool are unlocked once mature,
// credited per PPLNS (the three accounts' shares of reward − 1 % fee, to
// the satoshi), paid in one transaction, settled once it confirms; the
// chain shows each account paid exactly its credit once, and a second run
// changes nothing.
func TestPayoutRun(t *testing.T) {
	e := setup(t)
	e.foundBlocks(t, 3)
	j := e.job(t)
	ctx := context.Background()

	var plan strings.Builder
	rep, err := j.Run(ctx, true, &plan, zap.NewNop())
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if len(rep.Credited) != 3 || len(rep.Batches) != 0 {
		t.Fatalf("dry run credited %d blocks and planned %d batches; want 3 and none (it prints them)", len(rep.Credited), len(rep.Batches))
	}
	if tot, _ := j.Ledger.Totals(ctx); tot.Credited != 0 || !strings.Contains(plan.String(), "batch ") {
		t.Fatalf("dry run changed the ledger (credited %d) or printed no batch:\n%s", tot.Credited, plan.String())
	}

	rep, err = j.Run(ctx, false, testWriter{t}, zap.NewNop())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(rep.Credited) != 3 || len(rep.Batches) != 1 {
		t.Fatalf("credited %d blocks, %d batches; want 3 and 1", len(rep.Credited), len(rep.Batches))
	}
	tot, err := j.Ledger.Totals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var reward int64
	for h := e.start + 1; h <= e.start+3; h++ {
		reward += payout.Subsidy(h, 150)
	}
	if tot.Credited+tot.Fee != reward {
		t.Fatalf("credited %d + fee %d != the blocks' reward %d", tot.Credited, tot.Fee, reward)
	}
	if _, err := e.node.Generate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if rep, err = j.Run(ctx, false, testWriter{t}, zap.NewNop()); err != nil || len(rep.Settled) != 1 {
		t.Fatalf("settling run: %v, settled %v", err, rep)
	}
	e.checkPaidOnce(t, j)
	sum, err := j.Ledger.Summary(ctx)
	if err != nil || sum.Batches["paid"] != 1 || sum.Pending != 0 || sum.Paid != tot.Credited-sum.Balances {
		t.Fatalf("ledger summary %+v, %v; want one paid batch, nothing pending, paid = credited - balances", sum, err)
	}

	// A repeated run credits and pays nothing more.
	if rep, err = j.Run(ctx, false, testWriter{t}, zap.NewNop()); err != nil || len(rep.Credited)+len(rep.Batches) != 0 {
		t.Fatalf("repeated run: %v, %+v", err, rep)
	}
	e.checkPaidOnce(t, j)
}

// TestPayoutLock: a second run while one holds the lock is refused with
// exit code 3 in the CLI (a *LockedError here).
func TestPayoutLock(t *testing.T) {
	e := setup(t)
	j := e.job(t)
	lease, err := j.Ledger.Lock(context.Background(), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(context.Background())
	_, err = j.Run(context.Background(), false, testWriter{t}, zap.NewNop())
	var locked *redisstore.LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("run under another's lock: %v; want a LockedError", err)
	}
}

// TestPayoutSIGKILL kills a real `tarbela payout run` process with SIGKILL
// at each step of paying (after the plan, after signing, after storing the
// signed transaction, after broadcasting it, before recording it paid),
// then runs the job again until the batch is paid, and checks from the
// chain that each account received exactly its credit once.
func TestPayoutSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tarbela, runs btcd and redis-server")
	}
	bin := buildTarbela(t)
	for _, step := range []string{payout.StepAfterPlan, payout.StepAfterSign, payout.StepAfterRecord,
		payout.StepAfterBroadcast, payout.StepBeforeSettle} {
		t.Run(step, func(t *testing.T) {
			e := setup(t)
			e.cfg.Payout.LockTTL = time.Second
			if err := os.WriteFile(e.cfgPath, []byte(devnet.ConfigFile(e.cfg)), 0o600); err != nil {
				t.Fatal(err)
			}
			e.foundBlocks(t, 2)
			ctx := context.Background()
			if step == payout.StepBeforeSettle {
				e.runBin(t, bin, "")
				if _, err := e.node.Generate(ctx, 1); err != nil {
					t.Fatal(err)
				}
			}
			e.runBin(t, bin, step) // killed at step
			e.waitUnlocked(t)
			e.runBin(t, bin, "")
			if _, err := e.node.Generate(ctx, 1); err != nil {
				t.Fatal(err)
			}
			e.runBin(t, bin, "")
			e.checkPaidOnce(t, e.job(t))
		})
	}
}

// waitUnlocked waits until the lock of a killed run has expired (the
// config's lock_ttl is 1 s in the crash test).
func (e *chainEnv) waitUnlocked(t *testing.T) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: e.rds.Addr})
	defer rdb.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := rdb.Exists(context.Background(), e.cfg.Redis.Prefix+":{acct}:pay:lock").Result()
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed run's lock is still held: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runBin runs `tarbela payout run`; with crash set, the process must die of
// SIGKILL at that step, otherwise exit 0.
func (e *chainEnv) runBin(t *testing.T, bin, crash string) {
	t.Helper()
	cmd := exec.Command(bin, "payout", "run", "-config", e.cfgPath)
	cmd.Env = append(os.Environ(), "TARBELA_NODE_RPC_PASSWORD="+e.btcd.Pass, payoutjob.EnvCrash+"="+crash)
	out, err := cmd.CombinedOutput()
	if crash == "" {
		if err != nil {
			t.Fatalf("payout run: %v\n%s", err, out)
		}
		return
	}
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("payout run with %s=%s ended with %v, want SIGKILL at the step\n%s", payoutjob.EnvCrash, crash, err, out)
	}
}

func buildTarbela(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tarbela")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goBin, "build", "-o", bin, "./cmd/tarbela")
	cmd.Dir = filepath.Join("..", "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// testWriter passes the run's lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestPayoutCold: in cold mode a run writes the batch as an unsigned PSBT
// and signs nothing; the offline signer signs it; submit checks that it
// pays exactly the batch, broadcasts it, and a later run settles it: the
// chain pays each account its credit once. A PSBT for other outputs is
// refused. The CSV export then lists each payment.
func TestPayoutCold(t *testing.T) {
	e := setup(t)
	e.cfg.Payout.Mode = config.PayoutCold
	e.cfg.Payout.PSBTDir = t.TempDir()
	e.foundBlocks(t, 2)
	j := e.job(t)
	ctx := context.Background()
	rep, err := j.Run(ctx, false, testWriter{t}, zap.NewNop())
	if err != nil || len(rep.Batches) != 1 {
		t.Fatalf("cold run: %v, %+v", err, rep)
	}
	files, _ := filepath.Glob(filepath.Join(e.cfg.Payout.PSBTDir, "*.psbt"))
	if len(files) != 1 {
		t.Fatalf("PSBT files %v, want one", files)
	}
	unsigned, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	key, err := payoutjob.Key(e.cfg, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	o, err := j.Options(false, testWriter{t}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	// A PSBT signed for another batch (another key's outputs) is refused.
	if _, err := payout.Submit(ctx, o, []byte("cHNidP8BAAoCAAAAAAAAAAAAAAAA")); err == nil {
		t.Fatal("submit took a PSBT of no batch")
	}
	signed, err := wallet.SignPSBT(unsigned, key)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := payout.Submit(ctx, o, signed); err != nil || id != rep.Batches[0] {
		t.Fatalf("submit: %q, %v", id, err)
	}
	if _, err := e.node.Generate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if rep, err = j.Run(ctx, false, testWriter{t}, zap.NewNop()); err != nil || len(rep.Settled) != 1 {
		t.Fatalf("settling run: %v, %+v", err, rep)
	}
	e.checkPaidOnce(t, j)

	var csv strings.Builder
	if err := payout.ExportCSV(ctx, j.Ledger, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), &csv); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(csv.String()), "\n")
	if len(lines) != 1+len(accounts) || !strings.HasPrefix(lines[0], "created,settled,batch,txid,account,address,amount_sat") {
		t.Fatalf("export:\n%s", csv.String())
	}
}

// errCrash stops a run in-process at a step, as the crash test's SIGKILL
// does to a process.
type errCrash struct{ step string }

// TestPayoutFailedBatch: a batch whose transaction was stored but never
// broadcast, and whose input another transaction then spent, is marked
// failed by the next run, which halts the payouts (ErrPaymentsHalted: exit
// code 4 in the CLI) with the amounts still pending. `payout clear` returns
// them to the balances; the next run pays them from another output, and
// the chain shows each account paid once.
func TestPayoutFailedBatch(t *testing.T) {
	e := setup(t)
	e.foundBlocks(t, 2)
	j := e.job(t)
	ctx := context.Background()
	o, err := j.Options(false, testWriter{t}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	o.Crash = func(step string) {
		if step == payout.StepAfterRecord {
			panic(errCrash{step})
		}
	}
	func() {
		defer func() {
			if r := recover(); r == nil {
				t.Fatal("the run did not reach the recorded step")
			}
		}()
		_, _ = payout.Run(ctx, o)
	}()
	// The lock of the stopped run is released by its deferred release:
	// the panic unwound it.
	open, err := j.Ledger.OpenBatches(ctx)
	if err != nil || len(open) != 1 || open[0].State != "signed" {
		t.Fatalf("open batches %+v, %v; want one signed", open, err)
	}
	// Another transaction spends the batch's first input.
	b := open[0]
	key, err := payoutjob.Key(e.cfg, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	in := b.Inputs[0]
	other, err := wallet.Build([]wallet.UTXO{{TxID: in.TxID, Vout: in.Vout, Value: in.Value, PkScript: in.PkScript}},
		[]wallet.Output{{Account: "elsewhere", Address: localnet.RegtestAddress(9), Amount: 100000}}, poolAddr, 1, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	if err := wallet.Sign(other, key); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Chain.SendRawTransaction(ctx, other.Msg); err != nil {
		t.Fatal(err)
	}
	if _, err := e.node.Generate(ctx, 1); err != nil {
		t.Fatal(err)
	}

	rep, err := j.Run(ctx, false, testWriter{t}, zap.NewNop())
	if !errors.Is(err, payout.ErrPaymentsHalted) || len(rep.Failed) != 1 || len(rep.Batches) != 0 {
		t.Fatalf("run after the double spend: %v, %+v; want payments halted by the failed batch", err, rep)
	}
	bal, _ := j.Ledger.Balances(ctx)
	if bal.Pending[accounts[0]] == 0 {
		t.Fatal("the failed batch's amounts are not pending")
	}
	if err := payout.Clear(ctx, j.Ledger, j.Chain, time.Minute, b.ID); err != nil {
		t.Fatal(err)
	}
	// The other spend took one of the two coinbases: the second comes back
	// spendable and pays whom it can cover, in order.
	if utxos, _ := j.Ledger.UTXOs(ctx); len(utxos) != 1 || utxos[0].TxID == in.TxID {
		t.Fatalf("spendable after clear %+v; want the batch's other input alone", utxos)
	}
	if rep, err = j.Run(ctx, false, testWriter{t}, zap.NewNop()); err != nil || len(rep.Batches) != 1 {
		t.Fatalf("run after clear: %v, %+v", err, rep)
	}
	if _, err := e.node.Generate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if _, err = j.Run(ctx, false, testWriter{t}, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	e.checkPaid(t, j, false)
	got := e.received(t)
	if got[accounts[0]] == 0 || got[accounts[1]] == 0 {
		t.Fatalf("paid on chain %v; want the first accounts paid from the output left", got)
	}
}

// TestPayoutSchemes: each scheme credits the blocks (or the shares) as
// docs/payout.md says, to the satoshi, and the ledger adds up. Two blocks,
// each after one share per account of difficulty 1, 2 and 3 × 1e-10.
func TestPayoutSchemes(t *testing.T) {
	const reward int64 = 50_00000000
	net := reward - reward/100 // 1 % fee
	// Shares of one block split net 1:2:3 (PPLNS: the window holds them
	// all; PROP: the block's round is exactly them).
	third := func(k int64) int64 { return net * k / 6 }
	ppsOf := func(k float64, value int64) int64 {
		// Σ over the two blocks of d/D × value, floored once.
		return int64(2 * k * 1e-10 / regtestNetDifficulty * float64(value))
	}
	for _, tc := range []struct {
		scheme string
		want   []int64 // per account, for the two blocks
		fee    int64
	}{
		{config.SchemePPLNS, []int64{2 * third(1), 2 * third(2), 2 * third(3)}, 2 * (reward / 100)},
		{config.SchemePROP, []int64{2 * third(1), 2 * third(2), 2 * third(3)}, 2 * (reward / 100)},
		{config.SchemeSOLO, []int64{2 * net, 0, 0}, 2 * (reward / 100)},
		{config.SchemePPS, []int64{ppsOf(1, reward), ppsOf(2, reward), ppsOf(3, reward)}, 0},
		{config.SchemeFPPS, []int64{ppsOf(1, reward+1000), ppsOf(2, reward+1000), ppsOf(3, reward+1000)}, 0},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			e := setup(t)
			e.cfg.Payout.Scheme = tc.scheme
			e.cfg.Payout.MinPayout = 1 << 62 // credit only
			e.foundBlocks(t, 2)
			j := e.job(t)
			ctx := context.Background()
			if _, err := j.Run(ctx, false, testWriter{t}, zap.NewNop()); err != nil {
				t.Fatal(err)
			}
			bal, err := j.Ledger.Balances(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i, a := range accounts {
				// The split hands leftover satoshis to the largest
				// remainders, and PPS floors per account: allow 1 sat
				// per block.
				if d := bal.Bal[a] - tc.want[i]; d < -2 || d > 2 {
					t.Errorf("account %d credited %d, want %d", i, bal.Bal[a], tc.want[i])
				}
			}
			tot, _ := j.Ledger.Totals(ctx)
			if tot.Fee != tc.fee {
				t.Errorf("pool fee %d, want %d", tot.Fee, tc.fee)
			}
			if tc.scheme == config.SchemePPS || tc.scheme == config.SchemeFPPS {
				if tot.ReserveIn != 2*reward || tot.ReserveOut != tot.Credited {
					t.Errorf("reserve in %d out %d (credited %d); want the blocks in, the PPS credits out", tot.ReserveIn, tot.ReserveOut, tot.Credited)
				}
			} else if tot.Credited+tot.Fee != 2*reward {
				t.Errorf("credited %d + fee %d != the rewards %d", tot.Credited, tot.Fee, 2*reward)
			}
			if err := j.Ledger.CheckInvariant(ctx); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestPayoutRunCore is TestPayoutRun's pass on Bitcoin Core, the node
// production runs, through its cookie: mature blocks credited, one batch
// paid, settled once it confirms, checked on Core's chain.
func TestPayoutRunCore(t *testing.T) {
	e := setupCore(t)
	e.foundBlocks(t, 2)
	j := e.job(t)
	ctx := context.Background()
	rep, err := j.Run(ctx, false, testWriter{t}, zap.NewNop())
	if err != nil || len(rep.Credited) != 2 || len(rep.Batches) != 1 {
		t.Fatalf("run on Core: %v, %+v", err, rep)
	}
	if _, err := e.node.Generate(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if rep, err = j.Run(ctx, false, testWriter{t}, zap.NewNop()); err != nil || len(rep.Settled) != 1 {
		t.Fatalf("settling run on Core: %v, %+v", err, rep)
	}
	e.checkPaidOnce(t, j)
}
