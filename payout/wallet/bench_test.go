package wallet

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// benchBatch is a batch of 250 P2WPKH payments from two coinbase outputs of
// the key.
func benchBatch(b *testing.B) ([]UTXO, []Output, *Key) {
	key := testKey(b, 1)
	inputs := []UTXO{fakeUTXO(b, 1, 50*coin, key.Address()), fakeUTXO(b, 2, 50*coin, key.Address())}
	outputs := make([]Output, 250)
	for i := range outputs {
		var seed [4]byte
		binary.BigEndian.PutUint32(seed[:], uint32(i))
		a, err := address.NewAddressWitnessPubKeyHash(address.Hash160(seed[:]), regtest)
		if err != nil {
			b.Fatal(err)
		}
		outputs[i] = Output{Account: a.EncodeAddress(), Address: a.EncodeAddress(), Amount: 100_000 + int64(i)}
	}
	return inputs, outputs, key
}

// ecdsaSignNs measures one ECDSA signature with btcec, the baseline the
// batch's cost is given against: the fastest of a few windows, taken in the
// same run so that the machine's load affects both alike.
func ecdsaSignNs(key *Key) float64 {
	hash := sha256.Sum256([]byte("tarbela"))
	best := time.Duration(1<<63 - 1)
	const n = 200
	for range 5 {
		start := time.Now()
		for range n {
			ecdsa.Sign(key.priv, hash[:])
		}
		best = min(best, time.Since(start))
	}
	return float64(best.Nanoseconds()) / n
}

// BenchmarkBuildSign250 builds and signs a batch of 250 outputs and reports
// its cost in ECDSA signatures (x-ecdsa-sign), measured in the same run.
func BenchmarkBuildSign250(b *testing.B) {
	inputs, outputs, key := benchBatch(b)
	tx, err := Build(inputs, outputs, key.Address(), 2, regtest)
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		op   func()
	}{
		{"Build", func() {
			if _, err := Build(inputs, outputs, key.Address(), 2, regtest); err != nil {
				b.Fatal(err)
			}
		}},
		{"Sign", func() {
			if err := Sign(tx, key); err != nil {
				b.Fatal(err)
			}
		}},
		{"Build+Sign", func() {
			tx, err := Build(inputs, outputs, key.Address(), 2, regtest)
			if err == nil {
				err = Sign(tx, key)
			}
			if err != nil {
				b.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			base := ecdsaSignNs(key)
			for b.Loop() {
				c.op()
			}
			base = min(base, ecdsaSignNs(key))
			perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(base, "ecdsa-ns")
			b.ReportMetric(perOp/base, "x-ecdsa-sign")
		})
	}
}
