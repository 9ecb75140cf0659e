package pool

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/blockchain"
	"github.com/btcsuite/btcd/btcutil/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/wire/v2"

	"github.com/tarbela-pool/tarbela/internal/vectors"
	"github.com/tarbela-pool/tarbela/share"
)

// Addresses from the recorded testnet session and a regtest example.
const (
	testnetAddr = "tb1qumezefzdeqqwn5zfvgdrhxjzc5ylr39uhuxcz4"
	regtestAddr = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"
)

func coreTemplate(t testing.TB) *Template {
	t.Helper()
	tmpl, err := ParseTemplate(vectors.CoreTemplate(t))
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func hexes(t testing.TB, raw json.RawMessage) []string {
	var s []string
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCoreTemplateRebuildsRecordedNotify builds a job from the real Bitcoin
// Core template and checks every template-derived notify field against the
// notify the recorded pool sent for it; the coinbase halves are our own
// layout, so they are checked by decoding instead.
func TestCoreTemplateRebuildsRecordedNotify(t *testing.T) {
	tmpl := coreTemplate(t)
	v := vectors.Load(t)[vectors.RecordedSession]
	b, err := NewJobBuilder(BuilderOptions{Network: &chaincfg.TestNet3Params, Mode: ModeSolo, PoolAddress: testnetAddr,
		FeePercent: 1.5, Tag: "/tarbela/", Extranonce2Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.NewWork(tmpl, true)
	if err != nil {
		t.Fatal(err)
	}
	job, err := w.JobFor(testnetAddr)
	if err != nil {
		t.Fatal(err)
	}
	line := share.AppendNotify(nil, "1", job, false)
	var msg struct {
		Params []json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(line, &msg); err != nil {
		t.Fatal(err)
	}
	var want []json.RawMessage
	json.Unmarshal(v.Inputs["notify_params"], &want)
	// ntime (param 7) is not compared: the recorded pool sent its own clock
	// (one second before Core's curtime); we send curtime.
	for _, i := range []int{0, 1, 4, 5, 6} { // id, prevhash, branch, version, nbits
		if !bytes.Equal(compact(t, msg.Params[i]), compact(t, want[i])) {
			t.Errorf("notify param %d: got %s, want %s", i, msg.Params[i], want[i])
		}
	}
	if got, want := hexes(t, msg.Params[4]), hexes(t, v.Expected["merkle_branch_from_txids"]); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("branch %v, want %v", got, want)
	}
	// Our own witness commitment computation agrees with Core's.
	var wantCommit string
	json.Unmarshal(v.Expected["witness_commitment_script"], &wantCommit)
	if got := hex.EncodeToString(WitnessCommitmentScript(tmpl.Txs)); got != wantCommit {
		t.Errorf("computed witness commitment %s, want Core's %s", got, wantCommit)
	}

	// The coinbase decodes, starts with the BIP34 height, pays the
	// template's value and carries Core's commitment.
	cb := job.CoinbaseInto(nil, []byte{0x57, 0xa6, 0xf0, 0x98}, []byte{0xc7, 8, 0, 0})
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(cb)); err != nil {
		t.Fatalf("coinbase does not decode: %v", err)
	}
	if ss := tx.TxIn[0].SignatureScript; !bytes.HasPrefix(ss, []byte{0x03, 0xc9, 0x43, 0x25}) || len(ss) > 100 {
		t.Errorf("scriptSig %x: want BIP34 height 03c94325 first, at most 100 bytes", ss)
	}
	var sum int64
	for _, o := range tx.TxOut {
		sum += o.Value
	}
	if sum != tmpl.CoinbaseValue || len(tx.TxOut) != 3 {
		t.Errorf("outputs %d summing to %d, want 3 summing to %d", len(tx.TxOut), sum, tmpl.CoinbaseValue)
	}
	if got := hex.EncodeToString(tx.TxOut[2].PkScript); got != wantCommit {
		t.Errorf("commitment output %s, want %s", got, wantCommit)
	}

	// A solved share assembles into a block btcd accepts as well-formed:
	// merkle root, witness commitment, transaction count.
	var sub share.Submission
	sub.Extranonce1 = []byte{0x57, 0xa6, 0xf0, 0x98}
	sub.Extranonce2 = []byte{0xc7, 8, 0, 0}
	sub.NTime = tmpl.CurTime
	var res share.Result
	max, _ := share.TargetFromDifficulty(1e-12)
	if rej := job.Check(&sub, 0, &max, time.Unix(int64(tmpl.CurTime), 0), &res); rej != nil {
		t.Fatal(rej)
	}
	raw, err := AssembleBlock(&share.Solved{Job: job, Header: res.Header, Hash: res.Hash, Coinbase: res.Coinbase})
	if err != nil {
		t.Fatal(err)
	}
	blk, err := btcutil.NewBlockFromBytes(raw)
	if err != nil {
		t.Fatalf("block does not decode: %v", err)
	}
	if n := len(blk.Transactions()); n != 1+len(tmpl.Txs) {
		t.Errorf("block has %d transactions, want %d", n, 1+len(tmpl.Txs))
	}
	if root := blockchain.CalcMerkleRoot(blk.Transactions(), false); root != blk.MsgBlock().Header.MerkleRoot {
		t.Errorf("merkle root %v, header says %v", root, blk.MsgBlock().Header.MerkleRoot)
	}
	if err := blockchain.ValidateWitnessCommitment(blk); err != nil {
		t.Errorf("witness commitment: %v", err)
	}
	if got := blk.Hash().String(); got != share.DisplayHex(&res.Hash) {
		t.Errorf("block hash %s, share hash %s", got, share.DisplayHex(&res.Hash))
	}
}

func compact(t testing.TB, raw json.RawMessage) []byte {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return b
}

// TestBlock100000Branch derives the Stratum branch of mainnet block 100000
// from its txids.
func TestBlock100000Branch(t *testing.T) {
	v := vectors.Load(t)[vectors.Block100000]
	var txids [][32]byte
	for _, s := range hexes(t, v.Inputs["txids_display"])[1:] { // skip the coinbase
		h, err := parseDisplayHash(s)
		if err != nil {
			t.Fatal(err)
		}
		txids = append(txids, h)
	}
	var got []string
	for _, h := range MerkleBranch(txids) {
		got = append(got, hex.EncodeToString(h[:]))
	}
	if want := hexes(t, v.Inputs["merkle_branch"]); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("branch %v, want %v", got, want)
	}
}

func TestHeightScript(t *testing.T) {
	heights := map[string]string{}
	for k, raw := range vectors.Load(t)[vectors.HeightPushes].Expected {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		heights[k] = s
	}
	if len(heights) == 0 {
		t.Fatal("no height vectors")
	}
	for hs, want := range heights {
		var h int64
		json.Unmarshal([]byte(hs), &h)
		if got := hex.EncodeToString(HeightScript(h)); got != want {
			t.Errorf("height %s: %s, want %s", hs, got, want)
		}
	}
}
