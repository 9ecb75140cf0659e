package hasher

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

// path is one combination of kernels; paths lists those this machine runs.
type path struct{ single, multi int }

var kernelNames = map[int]string{kGeneric: "generic", kSHANI: "shani", kSHANI2: "shani2", kAVX2: "avx2"}

func (p path) String() string { return kernelNames[p.single] + "/" + kernelNames[p.multi] }

func paths() []path {
	singles := []int{kGeneric}
	multis := []int{kGeneric}
	if hasSHANI {
		singles = append(singles, kSHANI)
		multis = append(multis, kSHANI, kSHANI2)
	}
	if hasAVX2 {
		multis = append(multis, kAVX2)
	}
	var ps []path
	for _, s := range singles {
		for _, m := range multis {
			ps = append(ps, path{s, m})
		}
	}
	return ps
}

// use switches the package to p until restore is called.
func use(p path) (restore func()) {
	s, m := single, multi
	single, multi = p.single, p.multi
	return func() { single, multi = s, m }
}

// forEachPath runs f as a subtest under every kernel combination.
func forEachPath(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	for _, p := range paths() {
		t.Run(p.String(), func(t *testing.T) {
			defer use(p)()
			f(t)
		})
	}
}

func TestPathsCoverMachine(t *testing.T) {
	t.Logf("SHA-NI %v, AVX2 %v; default single=%s multi=%s; %d paths",
		hasSHANI, hasAVX2, kernelNames[single], kernelNames[multi], len(paths()))
}

func ref(b []byte) [32]byte {
	h := sha256.Sum256(b)
	return sha256.Sum256(h[:])
}

func refMerkle(leaf [32]byte, branch [][32]byte) [32]byte {
	acc := leaf
	for _, n := range branch {
		acc = ref(append(acc[:], n[:]...))
	}
	return acc
}

func unhex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func reversed(b []byte) []byte {
	r := make([]byte, len(b))
	for i := range b {
		r[len(b)-1-i] = b[i]
	}
	return r
}

type vectors struct {
	Merkle []struct {
		Name, Source                             string
		Coinb1, Extranonce1, Extranonce2, Coinb2 string
		MerkleBranch                             []string `json:"merkle_branch"`
		RootInternal                             string   `json:"merkle_root_internal"`
		RootDisplay                              string   `json:"merkle_root_display"`
	}
	Headers []struct {
		Name, Source, Header string
		HashDisplay          string `json:"hash_display"`
	}
}

func loadVectors(t testing.TB) vectors {
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Merkle) != 3 || len(v.Headers) != 3 {
		t.Fatalf("testdata/vectors.json: %d merkle, %d header vectors", len(v.Merkle), len(v.Headers))
	}
	return v
}

func TestHeaderVectors(t *testing.T) {
	v := loadVectors(t)
	forEachPath(t, func(t *testing.T) {
		var headers [][80]byte
		var want [][32]byte
		for _, c := range v.Headers {
			var h [80]byte
			copy(h[:], unhex(t, c.Header))
			var w [32]byte
			copy(w[:], reversed(unhex(t, c.HashDisplay)))
			if got := HeaderHash(&h); got != w {
				t.Errorf("%s: HeaderHash = %x, want %x", c.Name, got, w)
			}
			if got := DoubleSHA256(h[:]); got != w {
				t.Errorf("%s: DoubleSHA256 = %x, want %x", c.Name, got, w)
			}
			headers = append(headers, h)
			want = append(want, w)
		}
		// 21 headers: two full groups of 8 lanes and a tail.
		for len(headers) < 21 {
			headers = append(headers, headers[len(headers)%3])
			want = append(want, want[len(want)%3])
		}
		out := make([][32]byte, len(headers))
		HeaderHashBatch(headers, out)
		for i := range out {
			if out[i] != want[i] {
				t.Errorf("HeaderHashBatch[%d] = %x, want %x", i, out[i], want[i])
			}
		}
	})
}

func TestMerkleVectors(t *testing.T) {
	v := loadVectors(t)
	forEachPath(t, func(t *testing.T) {
		for _, c := range v.Merkle {
			cb := unhex(t, c.Coinb1+c.Extranonce1+c.Extranonce2+c.Coinb2)
			leaf := DoubleSHA256(cb)
			var branch [][32]byte
			for _, n := range c.MerkleBranch {
				var b [32]byte
				copy(b[:], unhex(t, n))
				branch = append(branch, b)
			}
			got := MerkleRoot(leaf, branch)
			var want []byte
			if c.RootInternal != "" {
				want = unhex(t, c.RootInternal)
			} else {
				want = reversed(unhex(t, c.RootDisplay))
			}
			if !bytes.Equal(got[:], want) {
				t.Errorf("%s: MerkleRoot = %x, want %x", c.Name, got, want)
			}
		}
	})
}

func TestDoubleSHA256Lengths(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 1100)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	forEachPath(t, func(t *testing.T) {
		for n := 0; n <= len(buf); n++ {
			if n > 300 && n%61 != 0 {
				continue
			}
			if got, want := DoubleSHA256(buf[:n]), ref(buf[:n]); got != want {
				t.Fatalf("len %d: got %x, want %x", n, got, want)
			}
		}
	})
}

func TestMerkleRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	forEachPath(t, func(t *testing.T) {
		for n := 0; n <= 20; n++ {
			var leaf [32]byte
			branch := make([][32]byte, n)
			fill(r, leaf[:])
			for i := range branch {
				fill(r, branch[i][:])
			}
			if got, want := MerkleRoot(leaf, branch), refMerkle(leaf, branch); got != want {
				t.Fatalf("branch %d: got %x, want %x", n, got, want)
			}
		}
	})
}

func fill(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

func TestHeaderHashBatchRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	forEachPath(t, func(t *testing.T) {
		for _, n := range []int{0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 33} {
			headers := make([][80]byte, n)
			for i := range headers {
				fill(r, headers[i][:])
			}
			out := make([][32]byte, n+2) // longer than needed is allowed
			HeaderHashBatch(headers, out)
			for i := range headers {
				if want := ref(headers[i][:]); out[i] != want {
					t.Fatalf("n=%d: out[%d] = %x, want %x", n, i, out[i], want)
				}
				if got := HeaderHash(&headers[i]); got != out[i] {
					t.Fatalf("n=%d: HeaderHash[%d] = %x, batch %x", n, i, got, out[i])
				}
			}
			if out[n] != ([32]byte{}) || out[n+1] != ([32]byte{}) {
				t.Fatalf("n=%d: wrote past len(headers)", n)
			}
		}
	})
}

// plainScan is the straightforward loop the kernels must agree with.
func plainScan(header [80]byte, start, count uint32, target *[32]byte) []uint32 {
	var found []uint32
	for i := uint32(0); i < count; i++ {
		binary.LittleEndian.PutUint32(header[76:], start+i)
		h := ref(header[:])
		if hashLE(&h, target) {
			found = append(found, start+i)
		}
	}
	return found
}

// leadingZeroTarget returns 2^(256-bits) - 1 in hash byte order.
func leadingZeroTarget(bits int) *[32]byte {
	var t [32]byte
	for i := range t {
		t[i] = 0xff
	}
	for b := 0; b < bits; b++ {
		t[31-b/8] &^= 0x80 >> (b % 8)
	}
	return &t
}

func TestScanMatchesPlainLoop(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var header [80]byte
	fill(r, header[:])

	// A target whose top 32 bits equal some hash's top 32 bits while its
	// lower bits are zero: that hash passes the kernels' filter but not
	// the full comparison.
	var edge [32]byte
	{
		h := header
		binary.LittleEndian.PutUint32(h[76:], 1234)
		hash := ref(h[:])
		copy(edge[28:], hash[28:])
		edge[31] |= 0x01 // keep plenty of hits below it too
	}
	cases := []struct {
		name         string
		start, count uint32
		target       *[32]byte
	}{
		{"8 zero bits", 0, 3000, leadingZeroTarget(8)},
		{"odd count", 100, 1001, leadingZeroTarget(6)},
		{"tiny counts", 5, 1, leadingZeroTarget(0)},
		{"seven", 5, 7, leadingZeroTarget(1)},
		{"wraps", 0xfffffff0, 40, leadingZeroTarget(3)},
		{"every nonce (fills candidate buffers)", 77, 500, leadingZeroTarget(0)},
		{"filter edge", 1000, 600, &edge},
		{"none", 0, 200, leadingZeroTarget(40)},
	}
	forEachPath(t, func(t *testing.T) {
		s := NewScanner(&header)
		for _, c := range cases {
			want := plainScan(header, c.start, c.count, c.target)
			got := s.Scan(c.start, c.count, c.target, nil)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: Scan = %v (%d), want %v (%d)", c.name, got, len(got), want, len(want))
			}
		}
	})
}

func TestScanGenesis(t *testing.T) {
	v := loadVectors(t)
	var genesis [80]byte
	copy(genesis[:], unhex(t, v.Headers[1].Header))
	nonce := binary.LittleEndian.Uint32(genesis[76:])
	// Target of nbits 0x1d00ffff: 0xffff << (8*(0x1d-3)).
	var target [32]byte
	target[26], target[27] = 0xff, 0xff
	forEachPath(t, func(t *testing.T) {
		s := NewScanner(&[80]byte{}) // Reset must replace everything
		s.Reset(&genesis)
		got := s.Scan(nonce-5000, 10000, &target, nil)
		if len(got) != 1 || got[0] != nonce {
			t.Errorf("Scan found %x, want [%x]", got, nonce)
		}
	})
}

func TestNoAllocs(t *testing.T) {
	var h [80]byte
	branch := make([][32]byte, 12)
	headers := make([][80]byte, 16)
	out := make([][32]byte, 16)
	s := NewScanner(&h)
	found := make([]uint32, 0, 1024)
	forEachPath(t, func(t *testing.T) {
		allocs := testing.AllocsPerRun(20, func() {
			HeaderHash(&h)
			DoubleSHA256(h[:])
			MerkleRoot([32]byte{}, branch)
			HeaderHashBatch(headers, out)
			s.Reset(&h)
			found = s.Scan(0, 100, leadingZeroTarget(4), found[:0])
		})
		if allocs != 0 {
			t.Errorf("%v allocs per run, want 0", allocs)
		}
	})
}
