package pool

import (
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/v2"
)

func TestAuthorize(t *testing.T) {
	a := NewAuthorizer(&chaincfg.RegressionNetParams)
	for _, c := range []struct {
		name, user, account, rig, err string
	}{
		{"address only", regtestAddr, regtestAddr, "", ""},
		{"address and worker", regtestAddr + ".rig-7", regtestAddr, "rig-7", ""},
		{"worker with dots", regtestAddr + ".site1.rack2", regtestAddr, "site1.rack2", ""},
		{"empty", "", "", "", "invalid username"},
		{"mainnet address on regtest", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "", "", "regtest"},
		{"testnet address on regtest", testnetAddr, "", "", "regtest"},
		{"garbage", "hello", "", "", "invalid username"},
		{"bad worker characters", regtestAddr + ".rig 7", "", "", "invalid worker name"},
		{"too long", regtestAddr + "." + strings.Repeat("a", 200), "", "", "at most"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, err := a.Authorize(c.user)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.Account != c.account || w.Rig != c.rig || w.Name != c.user {
				t.Errorf("worker %+v", w)
			}
		})
	}
}

func TestNewJobBuilderValidation(t *testing.T) {
	ok := BuilderOptions{Network: &chaincfg.RegressionNetParams, Mode: ModePool, PoolAddress: regtestAddr, Tag: "/tarbela/", Extranonce2Size: 8}
	for _, c := range []struct {
		name string
		mod  func(o *BuilderOptions)
		err  string
	}{
		{"valid", func(o *BuilderOptions) {}, ""},
		{"solo without address", func(o *BuilderOptions) { o.Mode, o.PoolAddress = ModeSolo, "" }, ""},
		{"unknown mode", func(o *BuilderOptions) { o.Mode = "pps" }, "mode"},
		{"pool mode needs address", func(o *BuilderOptions) { o.PoolAddress = "" }, "payout address is required"},
		{"fee needs address", func(o *BuilderOptions) { o.Mode, o.PoolAddress, o.FeePercent = ModeSolo, "", 2 }, "payout address is required"},
		{"wrong network address", func(o *BuilderOptions) { o.PoolAddress = testnetAddr }, "regtest"},
		{"scriptSig too long", func(o *BuilderOptions) { o.Tag = strings.Repeat("x", 90) }, "scriptSig"},
		{"fee over 100", func(o *BuilderOptions) { o.FeePercent = 101 }, "fee percent"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := ok
			c.mod(&o)
			_, err := NewJobBuilder(o)
			if c.err == "" && err != nil {
				t.Fatal(err)
			}
			if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("err %v, want one containing %q", err, c.err)
			}
		})
	}
}

// TestSoloJobs checks that solo jobs pay the miner, with the fee to the
// pool, and that jobs are shared per account.
func TestSoloJobs(t *testing.T) {
	tmpl := coreTemplate(t)
	b, err := NewJobBuilder(BuilderOptions{Network: &chaincfg.TestNet3Params, Mode: ModeSolo, PoolAddress: testnetAddr,
		FeePercent: 2, Tag: "/t/", Extranonce2Size: 8})
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.NewWork(tmpl, false)
	if err != nil {
		t.Fatal(err)
	}
	const miner = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
	j1, err := w.JobFor(miner)
	if err != nil {
		t.Fatal(err)
	}
	j2, _ := w.JobFor(miner)
	if j1 != j2 {
		t.Error("second JobFor built a new job")
	}
	jp, _ := w.JobFor(testnetAddr)
	if string(jp.Coinb2) == string(j1.Coinb2) {
		t.Error("two accounts got the same coinbase")
	}
	if _, err := w.JobFor("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"); err == nil {
		t.Error("a regtest account got a testnet job")
	}
	if j1.Payout != miner || j1.Clean {
		t.Errorf("job payout %q clean %v", j1.Payout, j1.Clean)
	}
}
