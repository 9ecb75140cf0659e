package wallet

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// Errors that callers tell apart; the returned errors wrap them with the
// details (which account, how much).
var (
	// ErrInsufficientFunds: the inputs do not cover the outputs and the fee.
	ErrInsufficientFunds = errors.New("not enough funds")
	// ErrDust: an output is below the dust limit of its script, so no node
	// would relay the transaction.
	ErrDust = errors.New("output below the dust limit")
	// ErrWrongNetwork: an address belongs to another network than the pool's.
	ErrWrongNetwork = errors.New("address of another network")
)

// MaxFeeRate is the highest fee rate Build accepts, in sat/vB: Bitcoin
// Core's default -maxfeerate for sendrawtransaction (0.10 BTC/kvB), above
// which Core refuses the transaction anyway. A higher rate is a typo.
const MaxFeeRate = 10_000

// maxStandardWeight is the weight above which nodes do not relay a
// transaction (Bitcoin Core's MAX_STANDARD_TX_WEIGHT).
const maxStandardWeight = 400_000

// txVersion is the version of the transactions Build makes.
const txVersion = 2

// Sizes of what a signature adds, assuming the largest DER signature (72
// bytes) plus its sighash byte, so that the fee never falls short of the
// rate: a real signature is 70 to 72 bytes with the sighash byte.
const (
	maxSigSize = 72 + 1
	pubKeySize = 33 // compressed
	// p2wpkhWitness: item count, then the pushes of signature and key.
	p2wpkhWitness = 1 + 1 + maxSigSize + 1 + pubKeySize
	// p2pkhScriptSig: the pushes of signature and key.
	p2pkhScriptSig = 1 + maxSigSize + 1 + pubKeySize
	// outPoint and sequence of an input.
	inputFixed = 36 + 4
)

// UTXO is an output the payout key can spend: a matured coinbase output
// paying payout_address, or change of an earlier batch.
type UTXO struct {
	// TxID is the transaction's id in display hex, as the node's RPCs
	// print it.
	TxID string
	// Vout is the index of the output in that transaction.
	Vout uint32
	// Value is the output's amount in satoshis.
	Value int64
	// PkScript is the output's script: P2WPKH or P2PKH of the key.
	PkScript []byte
}

// String names the output as txid:vout.
func (u UTXO) String() string { return fmt.Sprintf("%s:%d", u.TxID, u.Vout) }

// outPoint decodes the output's reference.
func (u UTXO) outPoint() (wire.OutPoint, error) {
	if len(u.TxID) != 2*chainhash.HashSize {
		return wire.OutPoint{}, fmt.Errorf("txid %q: want %d hex digits", u.TxID, 2*chainhash.HashSize)
	}
	h, err := chainhash.NewHashFromStr(u.TxID)
	if err != nil {
		return wire.OutPoint{}, fmt.Errorf("txid %q: %w", u.TxID, err)
	}
	return wire.OutPoint{Hash: *h, Index: u.Vout}, nil
}

// Output is one payment of a batch.
type Output struct {
	// Account is the ledger account paid; it names the output in errors.
	Account string
	// Address receives Amount.
	Address string
	// Amount in satoshis.
	Amount int64
}

// Tx is a batch transaction, built by Build and completed by Sign (hot
// mode) or through NewPSBT and FinalizePSBT (cold mode).
type Tx struct {
	// Msg is the transaction: Inputs in order, then Outputs in order, then
	// the change output when Change > 0. Sign fills its signatures.
	Msg *wire.MsgTx
	// Fee is Σ inputs − Σ outputs − Change, in satoshis.
	Fee int64
	// Change is the amount paid back to the change address; 0 when the
	// change would have been dust and went to the fee instead.
	Change int64
	// VSize is the virtual size the fee was computed for: the size of the
	// signed transaction with the largest signatures, so the signed
	// transaction is at most this large.
	VSize int64
	// Inputs are the outputs spent, in the order of Msg's inputs.
	Inputs []UTXO
	// Outputs are the payments, in the order of Msg's outputs.
	Outputs []Output

	changeAddress string
	net           *chaincfg.Params
}

// Build makes the unsigned transaction that spends inputs (in the given
// order: the caller chooses them) to outputs (in the given order), with the
// change to changeAddress as the last output. The fee is ceil(vsize ×
// feeRate) with feeRate in sat/vB, where vsize is the virtual size of the
// signed transaction assuming the largest signatures (inputs P2WPKH or
// P2PKH of a compressed key). Change below the dust limit of its script is
// left out and goes to the fee. Amounts are satoshis.
//
// The fee rate is taken as the decimal it prints as (2.1 is 21/10, not the
// float64 slightly above it), so a rate from a config file gives the fee a
// person would compute.
func Build(inputs []UTXO, outputs []Output, changeAddress string, feeRate float64, net *chaincfg.Params) (*Tx, error) {
	if net == nil {
		return nil, errors.New("payout/wallet: build: no network given")
	}
	rate, err := parseFeeRate(feeRate)
	if err != nil {
		return nil, err
	}
	if len(inputs) == 0 {
		return nil, errors.New("payout/wallet: build: no inputs to spend")
	}
	if len(outputs) == 0 {
		return nil, errors.New("payout/wallet: build: no outputs to pay")
	}

	msg := wire.NewMsgTx(txVersion)
	ins := make([]UTXO, len(inputs))
	kinds := make([]scriptKind, len(inputs))
	seen := make(map[wire.OutPoint]int, len(inputs))
	var totalIn int64
	for i, u := range inputs {
		op, err := u.outPoint()
		if err != nil {
			return nil, fmt.Errorf("payout/wallet: build: input %d: %w", i, err)
		}
		if j, dup := seen[op]; dup {
			return nil, fmt.Errorf("payout/wallet: build: inputs %d and %d both spend %s", j, i, u)
		}
		seen[op] = i
		if u.Value <= 0 || u.Value > btcutil.MaxSatoshi {
			return nil, fmt.Errorf("payout/wallet: build: input %d (%s): value %d sat is not a valid amount", i, u, u.Value)
		}
		kind, _ := spendKind(u.PkScript)
		if kind == kindOther {
			return nil, fmt.Errorf("payout/wallet: build: input %d (%s) pays %s: the wallet spends P2WPKH and P2PKH outputs only",
				i, u, scriptName(u.PkScript, net))
		}
		if totalIn += u.Value; totalIn > btcutil.MaxSatoshi {
			return nil, fmt.Errorf("payout/wallet: build: the inputs add up to more than %d sat", int64(btcutil.MaxSatoshi))
		}
		kinds[i] = kind
		ins[i] = u
		ins[i].PkScript = append([]byte(nil), u.PkScript...)
		msg.AddTxIn(wire.NewTxIn(&op, nil, nil))
	}

	outs := make([]Output, len(outputs))
	scripts := make([][]byte, 0, len(outputs)+1)
	var totalOut int64
	for i, o := range outputs {
		who := func() string { return fmt.Sprintf("output %d (account %q)", i, o.Account) }
		script, err := payScript(o.Address, net)
		if err != nil {
			return nil, fmt.Errorf("payout/wallet: build: %s: %w", who(), err)
		}
		if o.Amount <= 0 || o.Amount > btcutil.MaxSatoshi {
			return nil, fmt.Errorf("payout/wallet: build: %s: amount %d sat is not a valid amount", who(), o.Amount)
		}
		if dust := DustLimit(script); o.Amount < dust {
			return nil, fmt.Errorf("payout/wallet: build: %w: %s: %d sat to %s is below the %d sat dust limit of its script (raise payout.min_payout)",
				ErrDust, who(), o.Amount, o.Address, dust)
		}
		if totalOut += o.Amount; totalOut > btcutil.MaxSatoshi {
			return nil, fmt.Errorf("payout/wallet: build: the outputs add up to more than %d sat", int64(btcutil.MaxSatoshi))
		}
		outs[i] = o
		scripts = append(scripts, script)
		msg.AddTxOut(wire.NewTxOut(o.Amount, script))
	}
	changeScript, err := payScript(changeAddress, net)
	if err != nil {
		return nil, fmt.Errorf("payout/wallet: build: the change address: %w", err)
	}

	weight := txWeight(kinds, scripts)
	vsize := vsizeOf(weight)
	fee := feeFor(vsize, rate)
	avail := totalIn - totalOut
	if avail < fee {
		return nil, fmt.Errorf("payout/wallet: build: %w: the inputs hold %d sat, the outputs take %d sat and the fee %d sat (%d vB at %s sat/vB): %d sat missing",
			ErrInsufficientFunds, totalIn, totalOut, fee, vsize, formatRate(feeRate), fee-avail)
	}
	tx := &Tx{Msg: msg, Fee: avail, VSize: vsize, Inputs: ins, Outputs: outs, changeAddress: changeAddress, net: net}

	// With change: one more output, a larger fee.
	wc := txWeight(kinds, append(scripts, changeScript))
	vc := vsizeOf(wc)
	fc := feeFor(vc, rate)
	if change := avail - fc; change > 0 && change >= DustLimit(changeScript) {
		msg.AddTxOut(wire.NewTxOut(change, changeScript))
		tx.Fee, tx.Change, tx.VSize = fc, change, vc
		weight = wc
	}
	if weight > maxStandardWeight {
		return nil, fmt.Errorf("payout/wallet: build: the transaction would weigh %d WU, above the %d WU nodes relay: pay fewer outputs per batch (payout.max_outputs)",
			weight, maxStandardWeight)
	}
	return tx, nil
}

// parseFeeRate checks a fee rate in sat/vB and returns it as the exact
// decimal it prints as.
func parseFeeRate(f float64) (*big.Rat, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return nil, fmt.Errorf("payout/wallet: build: fee rate %v sat/vB: want a positive number", f)
	}
	if f > MaxFeeRate {
		return nil, fmt.Errorf("payout/wallet: build: fee rate %s sat/vB is above %d sat/vB, which nodes refuse by default: check the unit (sat/vB, not sat/kvB)",
			formatRate(f), MaxFeeRate)
	}
	r, ok := new(big.Rat).SetString(formatRate(f))
	if !ok {
		return nil, fmt.Errorf("payout/wallet: build: fee rate %v sat/vB cannot be read", f)
	}
	return r, nil
}

func formatRate(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// feeFor returns ceil(vsize × rate).
func feeFor(vsize int64, rate *big.Rat) int64 {
	n := new(big.Int).Mul(big.NewInt(vsize), rate.Num())
	q, m := new(big.Int).QuoRem(n, rate.Denom(), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}

// scriptKind is how an input is spent.
type scriptKind uint8

const (
	kindOther scriptKind = iota
	kindP2WPKH
	kindP2PKH
)

func (k scriptKind) String() string {
	switch k {
	case kindP2WPKH:
		return "P2WPKH"
	case kindP2PKH:
		return "P2PKH"
	}
	return "other"
}

// spendKind classifies an output script the wallet can spend and returns
// the key hash it pays.
func spendKind(script []byte) (scriptKind, []byte) {
	switch {
	case len(script) == 22 && script[0] == txscript.OP_0 && script[1] == txscript.OP_DATA_20:
		return kindP2WPKH, script[2:22]
	case len(script) == 25 && script[0] == txscript.OP_DUP && script[1] == txscript.OP_HASH160 &&
		script[2] == txscript.OP_DATA_20 && script[23] == txscript.OP_EQUALVERIFY && script[24] == txscript.OP_CHECKSIG:
		return kindP2PKH, script[3:23]
	}
	return kindOther, nil
}

// txWeight is the weight of the signed transaction spending inputs of the
// given kinds to outputs with the given scripts, with the largest
// signatures. A P2PKH input of a transaction that has witnesses carries an
// empty witness (one byte).
func txWeight(kinds []scriptKind, scripts [][]byte) int64 {
	base := 4 + varIntSize(len(kinds)) + varIntSize(len(scripts)) + 4
	witness, segwit := 0, false
	for _, k := range kinds {
		switch k {
		case kindP2WPKH:
			base += inputFixed + 1
			witness += p2wpkhWitness
			segwit = true
		default:
			base += inputFixed + varIntSize(p2pkhScriptSig) + p2pkhScriptSig
			witness++
		}
	}
	for _, s := range scripts {
		base += 8 + varIntSize(len(s)) + len(s)
	}
	if !segwit {
		return int64(base) * 4
	}
	// Marker and flag count as witness data.
	return int64(base)*4 + 2 + int64(witness)
}

// signedVSize is the virtual size of a signed transaction.
func signedVSize(msg *wire.MsgTx) int64 {
	stripped, total := int64(msg.SerializeSizeStripped()), int64(msg.SerializeSize())
	return vsizeOf(stripped*3 + total)
}

// vsizeOf is the virtual size of a weight, rounded up.
func vsizeOf(weight int64) int64 { return (weight + 3) / 4 }

func varIntSize(n int) int { return wire.VarIntSerializeSize(uint64(n)) }

// DustLimit returns the smallest amount an output with pkScript may carry
// and still be relayed: Bitcoin Core's dust threshold at its default dust
// relay fee of 3 sat/vB, the cost of the output plus the input that would
// spend it (546 sat for P2PKH, 540 for P2SH, 294 for P2WPKH, 330 for P2WSH
// and P2TR).
func DustLimit(pkScript []byte) int64 {
	size := 8 + varIntSize(len(pkScript)) + len(pkScript)
	if txscript.IsWitnessProgram(pkScript) {
		// Outpoint, script length, sequence, and a witness at a quarter.
		size += 32 + 4 + 1 + 107/4 + 4
	} else {
		size += 32 + 4 + 1 + 107 + 4
	}
	const dustRelayFee = 3 // sat/vB
	return int64(size) * dustRelayFee
}

// payScript returns the output script of addr on net. It accepts the standard payable types: P2WPKH,
// P2WSH, P2TR, P2PKH and P2SH.
func payScript(addr string, net *chaincfg.Params) ([]byte, error) {
	a, err := address.DecodeAddress(addr, net)
	if err != nil {
		if other := networksOf(addr); other != "" {
			return nil, fmt.Errorf("%w: %q is a %s address, the pool runs on %s",
				ErrWrongNetwork, addr, other, net.Name)
		}
		return nil, fmt.Errorf("%q is not a valid %s address: %w", addr, net.Name, err)
	}
	if !a.IsForNet(net) {
		if other := networksOf(addr); other != "" {
			return nil, fmt.Errorf("%w: %q is a %s address, the pool runs on %s",
				ErrWrongNetwork, addr, other, net.Name)
		}
		return nil, fmt.Errorf("%w: %q is not a %s address", ErrWrongNetwork, addr, net.Name)
	}
	switch a.(type) {
	case *address.AddressWitnessPubKeyHash, *address.AddressWitnessScriptHash, *address.AddressTaproot,
		*address.AddressPubKeyHash, *address.AddressScriptHash:
	default:
		return nil, fmt.Errorf("%q is not an address to pay (want P2WPKH, P2WSH, P2TR, P2PKH or P2SH)", addr)
	}
	s, err := txscript.PayToAddrScript(a)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", addr, err)
	}
	return s, nil
}

// knownNets are the networks an address is checked against to say which
// one it belongs to.
var knownNets = []*chaincfg.Params{
	&chaincfg.MainNetParams, &chaincfg.TestNet3Params, &chaincfg.TestNet4Params,
	&chaincfg.SigNetParams, &chaincfg.RegressionNetParams,
}

// networksOf names the networks addr is valid on ("testnet3/testnet4/
// signet" for a tb1 address), or "" for none.
func networksOf(addr string) string {
	var names []string
	for _, n := range knownNets {
		if a, err := address.DecodeAddress(addr, n); err == nil && a.IsForNet(n) {
			names = append(names, n.Name)
		}
	}
	return strings.Join(names, "/")
}

// scriptName names an output script for messages: its address on net when
// it has one, else its class and hex.
func scriptName(script []byte, net *chaincfg.Params) string {
	class, addrs, _, err := txscript.ExtractPkScriptAddrs(script, net)
	if err == nil && len(addrs) == 1 {
		switch addrs[0].(type) {
		case *address.AddressPubKey:
		default:
			return addrs[0].EncodeAddress()
		}
	}
	return fmt.Sprintf("a %s script %s", class, hex.EncodeToString(script))
}

// check verifies that t is a transaction Build made and nothing changed
// its inputs, outputs or amounts since.
func (t *Tx) check() error {
	if t == nil || t.Msg == nil {
		return errors.New("no transaction")
	}
	if t.net == nil {
		return errors.New("the transaction was not made by Build")
	}
	if len(t.Msg.TxIn) != len(t.Inputs) {
		return fmt.Errorf("the transaction has %d inputs, its record %d", len(t.Msg.TxIn), len(t.Inputs))
	}
	var in, out int64
	for i, u := range t.Inputs {
		op, err := u.outPoint()
		if err != nil {
			return fmt.Errorf("input %d: %w", i, err)
		}
		if t.Msg.TxIn[i].PreviousOutPoint != op {
			return fmt.Errorf("input %d spends %s, its record %s", i, t.Msg.TxIn[i].PreviousOutPoint, u)
		}
		in += u.Value
	}
	n := len(t.Outputs)
	if t.Change > 0 {
		n++
	}
	if len(t.Msg.TxOut) != n {
		return fmt.Errorf("the transaction has %d outputs, its record %d", len(t.Msg.TxOut), n)
	}
	for i, o := range t.Outputs {
		if t.Msg.TxOut[i].Value != o.Amount {
			return fmt.Errorf("output %d pays %d sat, its record %d", i, t.Msg.TxOut[i].Value, o.Amount)
		}
		out += o.Amount
	}
	if t.Change > 0 && t.Msg.TxOut[n-1].Value != t.Change {
		return fmt.Errorf("the change output pays %d sat, its record %d", t.Msg.TxOut[n-1].Value, t.Change)
	}
	if in-out-t.Change != t.Fee {
		return fmt.Errorf("the inputs minus the outputs are %d sat, the recorded fee %d", in-out-t.Change, t.Fee)
	}
	return nil
}
