package wallet

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/chainhash/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
)

// bip174 holds the test vectors of BIP 174 (testdata/bip174.json).
type bip174 struct {
	Creator string
	Invalid []struct{ Name, PSBT string }
	Valid   []struct{ Name, PSBT string }
}

func loadBIP174(t testing.TB) *bip174 {
	t.Helper()
	b, err := os.ReadFile("testdata/bip174.json")
	if err != nil {
		t.Fatal(err)
	}
	var v bip174
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Invalid) == 0 || len(v.Valid) == 0 || v.Creator == "" {
		t.Fatal("testdata/bip174.json lacks vectors")
	}
	return &v
}

func unbase64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBIP174Invalid: every invalid PSBT of BIP 174 is refused, in binary
// and in base64.
func TestBIP174Invalid(t *testing.T) {
	for _, v := range loadBIP174(t).Invalid {
		t.Run(v.Name, func(t *testing.T) {
			for _, in := range [][]byte{unbase64(t, v.PSBT), []byte(v.PSBT)} {
				p, err := decodePSBT(in)
				if err == nil {
					t.Fatalf("accepted, with %d inputs", len(p.inputs))
				}
				wantErr(t, err, ErrNotPSBT)
			}
		})
	}
}

// TestBIP174Valid: every valid PSBT of BIP 174 is read, and written back to
// the same bytes.
func TestBIP174Valid(t *testing.T) {
	for _, v := range loadBIP174(t).Valid {
		t.Run(v.Name, func(t *testing.T) {
			raw := unbase64(t, v.PSBT)
			for _, in := range [][]byte{raw, []byte(v.PSBT), []byte("\n " + v.PSBT + "\r\n")} {
				p, err := decodePSBT(in)
				if err != nil {
					t.Fatal(err)
				}
				if got := p.encode(); !bytes.Equal(got, raw) {
					t.Errorf("written back as %x", got)
				}
			}
		})
	}
}

// TestBIP174Creator writes the Creator vector's transaction with empty input
// and output maps and gets the vector.
func TestBIP174Creator(t *testing.T) {
	msg := wire.NewMsgTx(2)
	for _, in := range []struct {
		txid string
		vout uint32
	}{
		{"75ddabb27b8845f5247975c8a5ba7c6f336c4570708ebe230caf6db5217ae858", 0},
		{"1dea7cd05979072a3578cab271c02244ea8a090bbb46aa680a65ecd027048d83", 1},
	} {
		h, err := chainhash.NewHashFromStr(in.txid)
		if err != nil {
			t.Fatal(err)
		}
		msg.AddTxIn(wire.NewTxIn(wire.NewOutPoint(h, in.vout), nil, nil))
	}
	for _, out := range []struct {
		value  int64
		script string
	}{
		{149990000, "0014d85c2b71d0060b09c9886aeb815e50991dda124d"},
		{100000000, "001400aea9a2e5f0f876a588df5546e8742d1d87008f"},
	} {
		s, _ := hex.DecodeString(out.script)
		msg.AddTxOut(wire.NewTxOut(out.value, s))
	}
	var txBuf bytes.Buffer
	if err := msg.SerializeNoWitness(&txBuf); err != nil {
		t.Fatal(err)
	}
	p := &packet{
		global:  []pair{{key: []byte{globalUnsignedTx}, value: txBuf.Bytes()}},
		inputs:  make([][]pair, 2),
		outputs: make([][]pair, 2),
	}
	want := loadBIP174(t).Creator
	if got := base64.StdEncoding.EncodeToString(p.encode()); got != want {
		t.Errorf("creator PSBT\n got %s\nwant %s", got, want)
	}
	q, err := decodePSBT([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if q.tx.TxHash() != msg.TxHash() {
		t.Errorf("read back as transaction %s, want %s", q.tx.TxHash(), msg.TxHash())
	}
}

// TestParsePSBTRefuses covers rules the BIP's vectors do not.
func TestParsePSBTRefuses(t *testing.T) {
	// The "0 inputs and 0 outputs" vector: a global unsigned transaction
	// of 10 bytes, then the global map's separator.
	minimal, _ := hex.DecodeString("70736274ff01000a0000000000000000000000")
	if _, err := parsePSBT(minimal); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		hex  string
		want string
	}{
		{"empty", "", "no PSBT magic"},
		{"magic only", "70736274ff", "unexpected end"},
		{"trailing byte", "70736274ff01000a000000000000000000000000", "1 bytes after the last output map"},
		{"version 1", "70736274ff01000a0000000000000000000001fb040100000000", "PSBT version 1"},
		{"version of 2 bytes", "70736274ff01000a0000000000000000000001fb02000000", "global version"},
		{"non-minimal key length", "70736274fffd010000", "not minimally encoded"},
		{"value longer than the data", "70736274ff0100ff", "value"},
		{"input count larger than the data", "70736274ff01000a0000000010000000000000", "cannot fit"},
		{"huge compact size", "70736274ff0100ffffffffffffffffff", "unexpected end"},
		{"two unsigned transactions", "70736274ff01000a0000000000000000000001000a0000000000000000000000", "duplicate key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := hex.DecodeString(tc.hex)
			if err != nil {
				t.Fatal(err)
			}
			_, err = parsePSBT(b)
			wantErr(t, err, nil, tc.want)
		})
	}
	_, err := decodePSBT([]byte("not a psbt at all"))
	wantErr(t, err, ErrNotPSBT, "cHNidP8")
	_, err = decodePSBT(bytes.Repeat([]byte{'A'}, maxPSBTSize*2))
	wantErr(t, err, ErrNotPSBT, "more than a batch can need")
}

// FuzzParsePSBT: the reader never panics, and what it accepts it writes
// back to the same bytes; FinalizePSBT never panics either.
func FuzzParsePSBT(f *testing.F) {
	v := loadBIP174(f)
	for _, c := range append(v.Invalid, v.Valid...) {
		f.Add(unbase64(f, c.PSBT))
	}
	f.Add(unbase64(f, v.Creator))
	want := coldBatch(f, nil)
	unsigned, err := NewPSBT(want)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(unsigned)
	f.Add(offlineSign(f, unsigned, testKey(f, 1), partialSigs, txscript.SigHashAll))
	f.Add(offlineSign(f, unsigned, testKey(f, 1), finalized, txscript.SigHashAll))
	f.Fuzz(func(t *testing.T, b []byte) {
		// FinalizePSBT reads what it is given without panicking, and
		// whatever it returns spends the batch with valid signatures.
		if msg, err := FinalizePSBT(b, want); err == nil {
			if err := verify(want, msg, prevOutFetcher(want), nil); err != nil {
				t.Fatalf("FinalizePSBT returned a transaction that does not verify: %v", err)
			}
		}
		p, err := decodePSBT(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), ErrNotPSBT.Error()) {
				t.Fatalf("error %q does not start with %q", err, ErrNotPSBT)
			}
			return
		}
		raw := b
		if !bytes.HasPrefix(b, psbtMagic) {
			raw, _ = base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		}
		if got := p.encode(); !bytes.Equal(got, raw) {
			t.Fatalf("read %x, wrote %x", raw, got)
		}
	})
}
