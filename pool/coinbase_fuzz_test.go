package pool

import (
	"bytes"
	"testing"

	"github.com/btcsuite/btcd/wire/v2"
)

// FuzzCoinbase builds coinbases from arbitrary heights, tags, extranonce
// sizes and outputs, and checks that every one that is accepted decodes with
// btcd's wire package into exactly what was asked for: the BIP34 height push
// first, the extranonce space where the miner's bytes go, the tag, the
// outputs, and a scriptSig of 2..100 bytes.
func FuzzCoinbase(f *testing.F) {
	f.Add(int64(1), []byte("/tarbela/"), 12, int64(5000000000), []byte{0x00, 0x14, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, uint8(1))
	f.Add(int64(2442185), []byte{}, 8, int64(2465717), []byte{0x6a}, uint8(3))
	f.Add(int64(16), []byte("x"), 1, int64(0), []byte{}, uint8(0))
	f.Add(int64(1<<31-1), bytes.Repeat([]byte("t"), 75), 20, int64(1), []byte{0x51}, uint8(2))
	f.Fuzz(func(t *testing.T, height int64, tag []byte, enSize int, value int64, script []byte, nOuts uint8) {
		if height < 0 || height >= 1<<31 || enSize < 0 || enSize > 100 || value < 0 || len(script) > 10000 {
			return
		}
		outs := make([]TxOut, int(nOuts%4))
		for i := range outs {
			outs[i] = TxOut{Value: value, Script: script}
		}
		cb1, cb2, err := coinbaseParts(height, tag, enSize, outs)
		if err != nil {
			return // refused: too long a scriptSig or push
		}
		en := bytes.Repeat([]byte{0xa5}, enSize)
		raw := append(append(append([]byte(nil), cb1...), en...), cb2...)
		var tx wire.MsgTx
		if err := tx.Deserialize(bytes.NewReader(raw)); err != nil {
			t.Fatalf("coinbase does not decode: %v\n%x", err, raw)
		}
		var reser bytes.Buffer
		if err := tx.SerializeNoWitness(&reser); err != nil || !bytes.Equal(reser.Bytes(), raw) {
			t.Fatalf("coinbase does not re-encode to itself")
		}
		if len(tx.TxIn) != 1 || tx.TxIn[0].PreviousOutPoint.Index != 0xffffffff || tx.TxIn[0].PreviousOutPoint.Hash != [32]byte{} {
			t.Fatalf("not a coinbase input: %+v", tx.TxIn)
		}
		ss := tx.TxIn[0].SignatureScript
		if len(ss) < minScriptSig || len(ss) > maxScriptSig {
			t.Fatalf("scriptSig of %d bytes", len(ss))
		}
		hs := HeightScript(height)
		if !bytes.HasPrefix(ss, hs) {
			t.Fatalf("scriptSig %x does not start with height push %x", ss, hs)
		}
		if rest := ss[len(hs):]; rest[0] != byte(enSize) || !bytes.Equal(rest[1:1+enSize], en) {
			t.Fatalf("extranonce space not where expected in %x", ss)
		}
		if len(tag) > 0 && !bytes.HasSuffix(ss, tag) {
			t.Fatalf("tag missing from %x", ss)
		}
		if len(tx.TxOut) != len(outs) {
			t.Fatalf("%d outputs, want %d", len(tx.TxOut), len(outs))
		}
		for _, o := range tx.TxOut {
			if o.Value != value || !bytes.Equal(o.PkScript, script) {
				t.Fatalf("output %+v, want value %d script %x", o, value, script)
			}
		}
	})
}

// FuzzParseTemplate feeds arbitrary getblocktemplate results to the parser:
// it must return a template or an error, never panic, and a template it
// returns must build work.
func FuzzParseTemplate(f *testing.F) {
	f.Add([]byte(`{"height":1,"version":536870912,"bits":"207fffff","curtime":1700000000,"previousblockhash":"0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206","coinbasevalue":5000000000,"transactions":[]}`))
	f.Add([]byte(`{"height":2,"version":1,"bits":"1d00ffff","curtime":1,"previousblockhash":"00","coinbasevalue":1,"transactions":[{"data":"00","txid":"zz"}]}`))
	f.Add([]byte(`{"default_witness_commitment":"aa21a9ed"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		tmpl, err := ParseTemplate(raw)
		if err != nil {
			return
		}
		b, err := NewJobBuilder(BuilderOptions{Network: Networks["regtest"], Mode: ModePool, PoolAddress: regtestAddr, Tag: "/t/", Extranonce2Size: 8})
		if err != nil {
			t.Fatal(err)
		}
		w, err := b.NewWork(tmpl, true)
		if err != nil {
			return // e.g. nbits that overflow
		}
		if _, err := w.JobFor(""); err != nil {
			t.Fatalf("pool job: %v", err)
		}
	})
}
