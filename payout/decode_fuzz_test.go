package payout

import (
	"math"
	"strings"
	"testing"
)

// FuzzDecoders feeds arbitrary bytes to every decoder of node answers: none
// may panic, and what they accept must hold up (a hash is 64 lower-case hex
// digits, a fee estimate is a positive finite rate, a block is the one
// asked for).
func FuzzDecoders(f *testing.F) {
	hash := strings.Repeat("a1", 32)
	for _, seed := range []string{
		`null`, `""`, `{}`, `[]`, `0`, `-1`, `true`, `"` + hash + `"`, `["` + hash + `"]`,
		`{"blocks":7,"bestblockhash":"` + hash + `"}`,
		`{"hash":"` + hash + `","confirmations":-1,"height":3}`,
		`{"hash":"` + hash + `","height":3,"confirmations":1,"tx":["` + hash + `"]}`,
		`{"feerate":0.00001,"blocks":2}`, `{"errors":["Insufficient data"],"blocks":0}`, `0.0002`, `1e400`, `1e-400`,
		`{"value":50,"confirmations":1}`, `"0000002012a5"`, `{"feerate":"1"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if h, err := decodeHash(raw); err == nil {
			wantHash(t, h)
		}
		if list, err := decodeHashList(raw); err == nil {
			for _, h := range list {
				wantHash(t, h)
			}
		}
		_ = decodeObject(raw)
		if height, h, err := decodeTip(raw); err == nil {
			wantHash(t, h)
			if height < 0 {
				t.Fatalf("decodeTip height %d", height)
			}
		}
		if info, err := decodeHeaderInfo(raw, hash); err == nil {
			if info.Height < 0 || info.InMainChain != (info.Confirmations >= 1) || !info.InMainChain && info.Confirmations != -1 {
				t.Fatalf("decodeHeaderInfo = %+v", info)
			}
		}
		if p, err := decodeRawHeaderParent(raw); err == nil {
			wantHash(t, p)
		}
		if b, err := decodeRawBlock(raw, hash); err == nil {
			t.Fatalf("decodeRawBlock took block %s for %s", b.BlockHash(), hash)
		}
		if b, err := decodeBlockTxids(raw, hash); err == nil {
			for _, h := range b.txids {
				wantHash(t, h)
			}
		}
		for name, decode := range map[string]func([]byte) (float64, bool, error){
			"decodeSmartFee": decodeSmartFee, "decodeEstimateFee": decodeEstimateFee,
		} {
			rate, ok, err := decode(raw)
			if err == nil && ok && (!(rate > 0) || math.IsInf(rate, 0)) {
				t.Fatalf("%s = %v, ok", name, rate)
			}
			if !ok && rate != 0 {
				t.Fatalf("%s = %v without an estimate", name, rate)
			}
		}
		_, _ = decodeTxOut(raw)
	})
}

func wantHash(t *testing.T, h string) {
	t.Helper()
	if _, err := checkHash(h); err != nil || h != strings.ToLower(h) {
		t.Fatalf("decoded hash %q", h)
	}
}
