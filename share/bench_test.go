package share

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/internal/vectors"
)

// BenchmarkCheck measures one full share validation: coinbase hash, a
// 12-level merkle branch, header hash and target comparisons.
func BenchmarkCheck(b *testing.B) {
	v := vectors.Load(b)[vectors.RecordedSession]
	job, err := JobFromNotify(v.Inputs["notify_params"], 4)
	if err != nil {
		b.Fatal(err)
	}
	for len(job.Branch) < 12 {
		job.Branch = append(job.Branch, job.Branch[len(job.Branch)-1])
	}
	p := vectors.SubmitParams(b, vectors.Str(b, v.Inputs, "submit_request"))
	var sub Submission
	if rej := ParseSubmit(&sub, vectors.Unhex(b, "57a6f098"), p[2], p[3], p[4], p[5], 4); rej != nil {
		b.Fatal(rej)
	}
	target, _ := TargetFromDifficulty(1e-12) // every hash meets it
	now := time.Unix(int64(sub.NTime), 0)
	var res Result
	res.Coinbase = make([]byte, 0, 512)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		sub.Nonce++
		if rej := job.Check(&sub, 0x1fffe000, &target, now, &res); rej != nil {
			b.Fatal(rej)
		}
	}
}

// BenchmarkParseSubmit measures decoding a submit's hex fields.
func BenchmarkParseSubmit(b *testing.B) {
	var sub Submission
	sub.Extranonce2 = make([]byte, 0, 8)
	en1 := []byte{1, 2, 3, 4}
	b.ReportAllocs()
	for b.Loop() {
		if rej := ParseSubmit(&sub, en1, "c708000011223344", "64b3f3ec", "ed460d91", "00002000", 8); rej != nil {
			b.Fatal(rej)
		}
	}
}

// BenchmarkCheckStdlib is the baseline for BenchmarkCheck: the same hashing
// (coinbase, 12 merkle levels, header) done with crypto/sha256.
func BenchmarkCheckStdlib(b *testing.B) {
	v := vectors.Load(b)[vectors.RecordedSession]
	job, err := JobFromNotify(v.Inputs["notify_params"], 4)
	if err != nil {
		b.Fatal(err)
	}
	for len(job.Branch) < 12 {
		job.Branch = append(job.Branch, job.Branch[len(job.Branch)-1])
	}
	en1, en2 := vectors.Unhex(b, "57a6f098"), vectors.Unhex(b, "c7080000")
	cb := make([]byte, 0, 512)
	var hdr [80]byte
	var buf [64]byte
	var nonce uint32
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cb = job.CoinbaseInto(cb[:0], en1, en2)
		first := sha256.Sum256(cb)
		acc := sha256.Sum256(first[:])
		for _, n := range job.Branch {
			copy(buf[:32], acc[:])
			copy(buf[32:], n[:])
			first = sha256.Sum256(buf[:])
			acc = sha256.Sum256(first[:])
		}
		nonce++
		BuildHeader(&hdr, job.Version, &job.PrevHash, &acc, job.CurTime, job.Bits, nonce)
		first = sha256.Sum256(hdr[:])
		acc = sha256.Sum256(first[:])
		if job.NetTarget.Meets(&acc) {
			b.Fatal("unexpected block")
		}
	}
}
