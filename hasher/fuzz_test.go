package hasher

import "testing"

// The fuzz targets compare every kernel path the machine supports with
// crypto/sha256. CI runs each one on its own:
//
//	go test -run='^$' -fuzz=FuzzDoubleSHA256 -fuzztime=10s ./hasher
//	go test -run='^$' -fuzz=FuzzHeaderHash -fuzztime=10s ./hasher
//	go test -run='^$' -fuzz=FuzzMerkleRoot -fuzztime=10s ./hasher

func FuzzDoubleSHA256(f *testing.F) {
	for _, n := range []int{0, 1, 55, 56, 63, 64, 65, 80, 119, 120, 128, 200} {
		f.Add(make([]byte, n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want := ref(b)
		for _, p := range paths() {
			restore := use(p)
			got := DoubleSHA256(b)
			restore()
			if got != want {
				t.Fatalf("%v: DoubleSHA256(%x) = %x, want %x", p, b, got, want)
			}
		}
	})
}

func FuzzHeaderHash(f *testing.F) {
	f.Add(make([]byte, 80), uint32(0))
	f.Add([]byte("\x01\x00\x00\x00 any header; short input is zero-padded to 80 bytes"), uint32(0x7c2bac1d))
	f.Fuzz(func(t *testing.T, b []byte, nonce uint32) {
		var h [80]byte
		copy(h[:], b)
		want := ref(h[:])
		target := leadingZeroTarget(int(nonce % 5))
		for _, p := range paths() {
			restore := use(p)
			got := HeaderHash(&h)
			var batch [3][32]byte
			HeaderHashBatch([][80]byte{h, h, h}, batch[:])
			found := NewScanner(&h).Scan(nonce, 3, target, nil)
			restore()
			if got != want || batch[0] != want || batch[2] != want {
				t.Fatalf("%v: HeaderHash(%x) = %x, batch %x, want %x", p, h, got, batch, want)
			}
			if plain := plainScan(h, nonce, 3, target); len(found) != len(plain) {
				t.Fatalf("%v: Scan found %v, plain loop %v", p, found, plain)
			}
		}
	})
}

func FuzzMerkleRoot(f *testing.F) {
	f.Add(make([]byte, 32), make([]byte, 12*32))
	f.Add([]byte("leaf"), []byte("one short node"))
	f.Fuzz(func(t *testing.T, leafBytes, nodes []byte) {
		var leaf [32]byte
		copy(leaf[:], leafBytes)
		branch := make([][32]byte, (len(nodes)+31)/32)
		for i := range branch {
			copy(branch[i][:], nodes[32*i:])
		}
		want := refMerkle(leaf, branch)
		for _, p := range paths() {
			restore := use(p)
			got := MerkleRoot(leaf, branch)
			restore()
			if got != want {
				t.Fatalf("%v: MerkleRoot = %x, want %x", p, got, want)
			}
		}
	})
}
