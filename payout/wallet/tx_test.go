package wallet

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"testing"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// scriptOf is the output script of addr on regtest.
func scriptOf(t testing.TB, addr string) []byte {
	t.Helper()
	s, err := payScript(addr, regtest)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeUTXO is an output of value paying addr, in a made-up transaction
// numbered n.
func fakeUTXO(t testing.TB, n int, value int64, addr string) UTXO {
	t.Helper()
	return UTXO{TxID: fmt.Sprintf("%064x", 0xabc000+n), Vout: uint32(n % 3), Value: value, PkScript: scriptOf(t, addr)}
}

const coin = 100_000_000

func TestBuild(t *testing.T) {
	key := testKey(t, 1)
	inputs := []UTXO{
		fakeUTXO(t, 1, 50*coin, key.Address()),
		fakeUTXO(t, 2, 25*coin, addrOf(t, "p2pkh", 1, regtest)),
	}
	outputs := []Output{
		{Account: "alice", Address: addrOf(t, "p2wpkh", 2, regtest), Amount: 10 * coin},
		{Account: "bob", Address: addrOf(t, "p2tr", 3, regtest), Amount: 123_456_789},
		{Account: "carol", Address: addrOf(t, "p2pkh", 4, regtest), Amount: 546},
		{Account: "dave", Address: addrOf(t, "p2wsh", 5, regtest), Amount: 330},
		{Account: "erin", Address: addrOf(t, "p2sh", 6, regtest), Amount: 7_000},
	}
	tx, err := Build(inputs, outputs, key.Address(), 2.5, regtest)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Msg.Version != 2 || tx.Msg.LockTime != 0 {
		t.Errorf("version %d lock time %d, want 2 and 0", tx.Msg.Version, tx.Msg.LockTime)
	}
	if len(tx.Msg.TxIn) != 2 || len(tx.Msg.TxOut) != len(outputs)+1 {
		t.Fatalf("%d inputs, %d outputs", len(tx.Msg.TxIn), len(tx.Msg.TxOut))
	}
	for i, u := range inputs {
		if got := tx.Msg.TxIn[i].PreviousOutPoint.String(); got != u.String() {
			t.Errorf("input %d spends %s, want %s", i, got, u)
		}
		if len(tx.Msg.TxIn[i].SignatureScript) != 0 || len(tx.Msg.TxIn[i].Witness) != 0 {
			t.Errorf("input %d is signed", i)
		}
	}
	var out int64
	for i, o := range outputs {
		if got := tx.Msg.TxOut[i]; got.Value != o.Amount || !bytes.Equal(got.PkScript, scriptOf(t, o.Address)) {
			t.Errorf("output %d pays %d to %x, want %d to %s", i, got.Value, got.PkScript, o.Amount, o.Address)
		}
		out += o.Amount
	}
	change := tx.Msg.TxOut[len(outputs)]
	if change.Value != tx.Change || !bytes.Equal(change.PkScript, scriptOf(t, key.Address())) {
		t.Errorf("change output pays %d to %x, want %d to the key", change.Value, change.PkScript, tx.Change)
	}
	if want := int64(math.Ceil(float64(tx.VSize) * 2.5)); tx.Fee != want {
		t.Errorf("fee %d, want ceil(%d vB × 2.5) = %d", tx.Fee, tx.VSize, want)
	}
	if in := int64(75 * coin); in != out+tx.Change+tx.Fee {
		t.Errorf("inputs %d != outputs %d + change %d + fee %d", in, out, tx.Change, tx.Fee)
	}
	if err := tx.check(); err != nil {
		t.Error(err)
	}
	// The caller's slices are copied.
	inputs[0].PkScript[0] = 0xff
	outputs[0].Amount = 1
	if tx.Inputs[0].PkScript[0] == 0xff || tx.Outputs[0].Amount == 1 {
		t.Error("Build keeps the caller's slices")
	}
}

// TestBuildVSize checks the size formula twice: against hand-computed
// sizes, and against the serialization of the transaction with the largest
// signatures in place, which it must match exactly.
func TestBuildVSize(t *testing.T) {
	key := testKey(t, 1)
	wpkh, pkh := key.Address(), addrOf(t, "p2pkh", 1, regtest)
	kinds := []string{"p2wpkh", "p2pkh", "p2tr", "p2wsh", "p2sh"}
	cases := []struct {
		name    string
		inputs  []string
		outputs []string
		vsize   int64 // hand-computed, 0 when not given
	}{
		// 10 + 41 + 2×31 non-witness bytes, 2 + 109 witness bytes:
		// (113×4 + 111) / 4 = 140.75.
		{"1 P2WPKH in, P2WPKH out and change", []string{wpkh}, []string{"p2wpkh"}, 141},
		// 10 + 149 + 34 + 31 bytes, no witness.
		{"1 P2PKH in, P2PKH out and change", []string{pkh}, []string{"p2pkh"}, 224},
		{"mixed inputs", []string{wpkh, pkh, wpkh}, kinds, 0},
		{"P2PKH inputs only", []string{pkh, pkh}, kinds, 0},
		{"P2WPKH inputs only", []string{wpkh, wpkh, wpkh, wpkh}, kinds, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var inputs []UTXO
			for i, a := range tc.inputs {
				inputs = append(inputs, fakeUTXO(t, i, coin, a))
			}
			var outputs []Output
			for i, k := range tc.outputs {
				outputs = append(outputs, Output{Account: k, Address: addrOf(t, k, byte(10+i), regtest), Amount: 10_000})
			}
			tx, err := Build(inputs, outputs, key.Address(), 1, regtest)
			if err != nil {
				t.Fatal(err)
			}
			if tc.vsize != 0 && tx.VSize != tc.vsize {
				t.Errorf("VSize %d, want %d", tx.VSize, tc.vsize)
			}
			msg := tx.Msg.Copy()
			sig := bytes.Repeat([]byte{0x30}, maxSigSize)
			pub := bytes.Repeat([]byte{0x02}, pubKeySize)
			for i, u := range tx.Inputs {
				switch kind, _ := spendKind(u.PkScript); kind {
				case kindP2WPKH:
					msg.TxIn[i].Witness = wire.TxWitness{sig, pub}
				case kindP2PKH:
					msg.TxIn[i].SignatureScript = append(append(append([]byte{maxSigSize}, sig...), pubKeySize), pub...)
				}
			}
			if got := signedVSize(msg); got != tx.VSize {
				t.Errorf("VSize %d, the transaction with the largest signatures is %d vB", tx.VSize, got)
			}
		})
	}
}

func TestBuildFee(t *testing.T) {
	key := testKey(t, 1)
	in := []UTXO{fakeUTXO(t, 1, coin, key.Address())}
	out := []Output{{Account: "a", Address: addrOf(t, "p2wpkh", 2, regtest), Amount: coin / 2}}
	cases := []struct {
		rate float64
		fee  int64 // for 141 vB
	}{
		{1, 141},
		{1.1, 156}, // 155.1 up; as a float64 1.1 is a little above 1.1, the decimal is what counts
		{2, 282},
		{0.5, 71},     // 70.5 up
		{12.34, 1740}, // 1739.94 up
		{1.0 / 3, 47}, // 47 exactly, though 1/3 prints as 0.3333333333333333
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.rate), func(t *testing.T) {
			tx, err := Build(in, out, key.Address(), tc.rate, regtest)
			if err != nil {
				t.Fatal(err)
			}
			if tx.VSize != 141 || tx.Fee != tc.fee {
				t.Errorf("%d vB, fee %d; want 141 vB, fee %d", tx.VSize, tx.Fee, tc.fee)
			}
		})
	}
	// 100 × 1.1 is 110.00000000000001 in float64; the fee is 110.
	if got := feeFor(100, mustRate(t, 1.1)); got != 110 {
		t.Errorf("fee for 100 vB at 1.1 sat/vB = %d, want 110", got)
	}
}

func mustRate(t *testing.T, f float64) *big.Rat {
	t.Helper()
	r, err := parseFeeRate(f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestBuildChange: change at the dust limit is paid, one satoshi less goes
// to the fee.
func TestBuildChange(t *testing.T) {
	key := testKey(t, 1)
	out := []Output{{Account: "a", Address: addrOf(t, "p2wpkh", 2, regtest), Amount: coin}}
	// 1 P2WPKH in, 1 P2WPKH out: 110 vB without change, 141 with, at 1 sat/vB.
	dust := DustLimit(scriptOf(t, key.Address()))
	cases := []struct {
		name   string
		input  int64
		change int64
		fee    int64
	}{
		{"change at the dust limit", coin + 141 + dust, dust, 141},
		{"change one below the dust limit", coin + 141 + dust - 1, 0, 141 + dust - 1},
		{"nothing left for change", coin + 141, 0, 141},
		{"exactly the fee without change", coin + 110, 0, 110},
		{"large change", 3 * coin, 2*coin - 141, 141},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := Build([]UTXO{fakeUTXO(t, 1, tc.input, key.Address())}, out, key.Address(), 1, regtest)
			if err != nil {
				t.Fatal(err)
			}
			if tx.Change != tc.change || tx.Fee != tc.fee {
				t.Errorf("change %d fee %d, want %d and %d", tx.Change, tx.Fee, tc.change, tc.fee)
			}
			wantOuts := 1
			if tc.change > 0 {
				wantOuts = 2
			}
			if len(tx.Msg.TxOut) != wantOuts {
				t.Errorf("%d outputs, want %d", len(tx.Msg.TxOut), wantOuts)
			}
			if tc.change == 0 && tx.VSize != 110 {
				t.Errorf("VSize %d without change, want 110", tx.VSize)
			}
			if err := tx.check(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	key := testKey(t, 1)
	in := []UTXO{fakeUTXO(t, 1, coin, key.Address())}
	pay := func(amount int64) []Output {
		return []Output{{Account: "alice", Address: addrOf(t, "p2wpkh", 2, regtest), Amount: amount}}
	}
	mainnetAddr := addrOf(t, "p2wpkh", 2, &chaincfg.MainNetParams)
	legacyMainnet := addrOf(t, "p2pkh", 2, &chaincfg.MainNetParams)
	testnetAddr := addrOf(t, "p2wpkh", 2, &chaincfg.TestNet3Params)
	bad := in[0]
	bad.TxID = "abcd"
	foreign := fakeUTXO(t, 9, coin, addrOf(t, "p2sh", 9, regtest))
	// 3300 P2WPKH outputs of 31 bytes weigh 409200 WU.
	many := make([]Output, 3300)
	for i, a := 0, addrOf(t, "p2wpkh", 2, regtest); i < len(many); i++ {
		many[i] = Output{Account: fmt.Sprint(i), Address: a, Amount: 1000}
	}
	cases := []struct {
		name    string
		inputs  []UTXO
		outputs []Output
		change  string
		rate    float64
		is      error
		want    []string
	}{
		{"no inputs", nil, pay(1000), "", 1, nil, []string{"no inputs"}},
		{"no outputs", in, nil, "", 1, nil, []string{"no outputs"}},
		// 1 BTC in, 1 BTC out, 110 vB at 1 sat/vB without change.
		{"not enough funds", in, pay(coin), "", 1, ErrInsufficientFunds,
			[]string{"the inputs hold 100000000 sat, the outputs take 100000000 sat and the fee 110 sat (110 vB at 1 sat/vB): 110 sat missing"}},
		{"short by one", in, pay(coin - 109), "", 1, ErrInsufficientFunds, []string{": 1 sat missing"}},
		{"dust output", in, pay(293), "", 1, ErrDust, []string{`account "alice"`, "293 sat", "294 sat dust limit"}},
		{"zero amount", in, pay(0), "", 1, nil, []string{`account "alice"`, "0 sat is not a valid amount"}},
		{"negative amount", in, pay(-5), "", 1, nil, []string{"-5 sat is not a valid amount"}},
		{"mainnet address", in, []Output{{Account: "bob", Address: mainnetAddr, Amount: 1000}}, "", 1, ErrWrongNetwork,
			[]string{`account "bob"`, mainnetAddr, "is a mainnet address, the pool runs on regtest"}},
		{"mainnet legacy address", in, []Output{{Account: "bob", Address: legacyMainnet, Amount: 1000}}, "", 1, ErrWrongNetwork,
			[]string{`account "bob"`, "is a mainnet address"}},
		{"testnet address", in, []Output{{Account: "bob", Address: testnetAddr, Amount: 1000}}, "", 1, ErrWrongNetwork,
			[]string{"is a testnet3/testnet4/signet address"}},
		{"not an address", in, []Output{{Account: "carol", Address: "carol", Amount: 1000}}, "", 1, nil,
			[]string{`account "carol"`, "is not a valid regtest address"}},
		{"a public key", in, []Output{{Account: "dan", Address: fmt.Sprintf("%x", key.pub), Amount: 1000}}, "", 1, nil,
			[]string{`account "dan"`, "not an address to pay"}},
		{"change on mainnet", in, pay(1000), mainnetAddr, 1, ErrWrongNetwork, []string{"the change address", "mainnet"}},
		{"bad txid", []UTXO{bad}, pay(1000), "", 1, nil, []string{"input 0", `txid "abcd"`}},
		{"same input twice", []UTXO{in[0], in[0]}, pay(1000), "", 1, nil, []string{"inputs 0 and 1 both spend " + in[0].String()}},
		{"input of another script", []UTXO{foreign}, pay(1000), "", 1, nil, []string{"input 0 (" + foreign.String() + ")", "P2WPKH and P2PKH outputs only"}},
		{"zero fee rate", in, pay(1000), "", 0, nil, []string{"want a positive number"}},
		{"NaN fee rate", in, pay(1000), "", math.NaN(), nil, []string{"want a positive number"}},
		{"fee rate in sat/kvB", in, pay(1000), "", 20_000, nil, []string{"above 10000 sat/vB", "sat/kvB"}},
		{"too many outputs", []UTXO{fakeUTXO(t, 1, 50*coin, key.Address())}, many, "", 1, nil, []string{"above the 400000 WU", "payout.max_outputs"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			change := tc.change
			if change == "" {
				change = key.Address()
			}
			_, err := Build(tc.inputs, tc.outputs, change, tc.rate, regtest)
			wantErr(t, err, tc.is, tc.want...)
		})
	}
}

func TestDustLimit(t *testing.T) {
	for kind, want := range map[string]int64{"p2pkh": 546, "p2sh": 540, "p2wpkh": 294, "p2wsh": 330, "p2tr": 330} {
		if got := DustLimit(scriptOf(t, addrOf(t, kind, 1, regtest))); got != want {
			t.Errorf("%s: DustLimit = %d, want %d", kind, got, want)
		}
	}
}
