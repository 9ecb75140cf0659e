package hasher

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestGenesis(t *testing.T) {
	h, _ := hex.DecodeString("0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c")
	var hdr [80]byte
	copy(hdr[:], h)
	got := HeaderHash(&hdr)
	want := sha256.Sum256(h)
	want = sha256.Sum256(want[:])
	if got != want {
		t.Fatal("mismatch")
	}
}
