package share

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/internal/vectors"
)

// TestRecordedSession replays the recorded public-pool session (entry 0):
// the notify it sent, the extranonce1 it gave, and the submit the Bitaxe
// made, which the pool accepted at difficulty 512.
func TestRecordedSession(t *testing.T) {
	v := vectors.Load(t)[vectors.RecordedSession]
	in, exp := v.Inputs, v.Expected
	var en2Size int
	json.Unmarshal(in["extranonce2_size"], &en2Size)
	job, err := JobFromNotify(in["notify_params"], en2Size)
	if err != nil {
		t.Fatal(err)
	}
	p := vectors.SubmitParams(t, vectors.Str(t, in, "submit_request"))
	var sub Submission
	en1 := vectors.Unhex(t, vectors.Str(t, in, "extranonce1"))
	if rej := ParseSubmit(&sub, en1, p[2], p[3], p[4], p[5], en2Size); rej != nil {
		t.Fatal(rej)
	}
	mask := uint32(0x1fffe000)
	target, _ := TargetFromDifficulty(512)
	var res Result
	now := time.Unix(int64(sub.NTime), 0)
	if rej := job.Check(&sub, mask, &target, now, &res); rej != nil {
		t.Fatalf("recorded accepted share rejected: %v", rej)
	}
	if got, want := hex.EncodeToString(res.Coinbase), vectors.Str(t, exp, "coinbase_nonwitness"); got != want {
		t.Errorf("coinbase\n got %s\nwant %s", got, want)
	}
	if got, want := hex.EncodeToString(res.MerkleRoot[:]), vectors.Str(t, exp, "merkle_root_internal_hex"); got != want {
		t.Errorf("merkle root %s, want %s", got, want)
	}
	if got, want := hex.EncodeToString(res.Header[:]), vectors.Str(t, exp, "header"); got != want {
		t.Errorf("header\n got %s\nwant %s", got, want)
	}
	if got, want := DisplayHex(&res.Hash), vectors.Str(t, exp, "hash"); got != want {
		t.Errorf("hash %s, want %s", got, want)
	}
	var wantDiff float64
	json.Unmarshal(exp["share_difficulty"], &wantDiff)
	if math.Abs(res.Difficulty-wantDiff) > 1e-5 {
		t.Errorf("share difficulty %v, want %v", res.Difficulty, wantDiff)
	}
	if res.Block {
		t.Error("a difficulty-669 share reported as a testnet block")
	}
	// The same share at a difficulty above what it achieved is low.
	hard, _ := TargetFromDifficulty(670)
	if rej := job.Check(&sub, mask, &hard, now, &res); rej != ErrLowDifficulty {
		t.Errorf("at difficulty 670: got %v, want low difficulty", rej)
	}
	// Without version rolling negotiated the rolled bits are outside the mask.
	if rej := job.Check(&sub, 0, &target, now, &res); rej != ErrVersionMask {
		t.Errorf("mask 0: got %v, want version mask reject", rej)
	}
	// The notify re-encodes to the same params.
	line := AppendNotify(nil, job.ID, job, false)
	var msg struct {
		Params json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(line, &msg); err != nil {
		t.Fatalf("notify line %q: %v", line, err)
	}
	var got, want []any
	json.Unmarshal(msg.Params, &got)
	json.Unmarshal(in["notify_params"], &want)
	if gb, _ := json.Marshal(got); string(gb) != string(mustJSON(want)) {
		t.Errorf("notify params\n got %s\nwant %s", gb, mustJSON(want))
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// TestMerkleVectors folds the ESP-Miner merkle vectors (entries 1 and 2).
func TestMerkleVectors(t *testing.T) {
	for _, v := range vectors.Load(t)[vectors.Merkle1 : vectors.Merkle2+1] {
		t.Run(v.Name, func(t *testing.T) {
			var branch []string
			json.Unmarshal(v.Inputs["merkle_branch"], &branch)
			job := &Job{Coinb1: vectors.Unhex(t, vectors.Str(t, v.Inputs, "coinb1")), Coinb2: vectors.Unhex(t, vectors.Str(t, v.Inputs, "coinb2"))}
			for _, b := range branch {
				job.Branch = append(job.Branch, [32]byte(vectors.Unhex(t, b)))
			}
			en2 := vectors.Unhex(t, vectors.Str(t, v.Inputs, "extranonce2"))
			job.Extranonce2Size = len(en2)
			sub := Submission{Extranonce1: vectors.Unhex(t, vectors.Str(t, v.Inputs, "extranonce1")), Extranonce2: en2, NTime: 1}
			var res Result
			max := Target{}
			for i := range max {
				max[i] = 0xff
			}
			job.NetTarget = Target{}
			if rej := job.Check(&sub, 0, &max, time.Unix(1, 0), &res); rej != nil {
				t.Fatal(rej)
			}
			if got, want := hex.EncodeToString(res.MerkleRoot[:]), vectors.Str(t, v.Expected, "merkle_root_internal_hex"); got != want {
				t.Errorf("merkle root %s, want %s", got, want)
			}
		})
	}
}

// TestBlock100000 checks mainnet block 100000 expressed as a Stratum job
// (entry 3): its header, hash and that it is a block at its own nbits.
func TestBlock100000(t *testing.T) {
	v := vectors.Load(t)[vectors.Block100000]
	in, exp := v.Inputs, v.Expected
	var branch []string
	json.Unmarshal(in["merkle_branch"], &branch)
	prev, err := prevHashFromStratum(vectors.Str(t, in, "prevhash_stratum"))
	if err != nil {
		t.Fatal(err)
	}
	job := &Job{PrevHash: prev, Coinb1: vectors.Unhex(t, vectors.Str(t, in, "coinb1")), Coinb2: vectors.Unhex(t, vectors.Str(t, in, "coinb2"))}
	for _, b := range branch {
		job.Branch = append(job.Branch, [32]byte(vectors.Unhex(t, b)))
	}
	job.Version, _ = parseHex32(vectors.Str(t, in, "version"))
	job.Bits, _ = parseHex32(vectors.Str(t, in, "nbits"))
	if job.NetTarget, err = TargetFromBits(job.Bits); err != nil {
		t.Fatal(err)
	}
	en2 := vectors.Str(t, in, "extranonce2")
	job.Extranonce2Size = len(en2) / 2
	var sub Submission
	if rej := ParseSubmit(&sub, vectors.Unhex(t, vectors.Str(t, in, "extranonce1")), en2, vectors.Str(t, in, "ntime"), vectors.Str(t, in, "nonce"), "", job.Extranonce2Size); rej != nil {
		t.Fatal(rej)
	}
	var res Result
	target, _ := TargetFromDifficulty(17583) // just below what the hash achieves
	if rej := job.Check(&sub, 0, &target, time.Unix(int64(sub.NTime), 0), &res); rej != nil {
		t.Fatal(rej)
	}
	if got, want := hex.EncodeToString(res.Header[:]), vectors.Str(t, exp, "header"); got != want {
		t.Errorf("header\n got %s\nwant %s", got, want)
	}
	if got, want := DisplayHex(&res.Hash), vectors.Str(t, exp, "hash"); got != want {
		t.Errorf("hash %s, want %s", got, want)
	}
	if !res.Block {
		t.Error("block 100000 does not meet its own nbits")
	}
	var wantDiff float64
	json.Unmarshal(exp["share_difficulty"], &wantDiff)
	if math.Abs(res.Difficulty/wantDiff-1) > 1e-12 {
		t.Errorf("difficulty %v, want %v", res.Difficulty, wantDiff)
	}
}

// TestHeaderDifficulty checks HashDifficulty on the genesis and 125552
// headers (entries 4 and 5).
func TestHeaderDifficulty(t *testing.T) {
	for _, v := range vectors.Load(t)[vectors.Genesis : vectors.Block125552+1] {
		t.Run(v.Name, func(t *testing.T) {
			disp := vectors.Unhex(t, vectors.Str(t, v.Expected, "hash"))
			var h [32]byte
			for i := range 32 {
				h[i] = disp[31-i]
			}
			var want float64
			json.Unmarshal(v.Expected["hash_difficulty"], &want)
			if got := HashDifficulty(&h); math.Abs(got/want-1) > 1e-12 {
				t.Errorf("difficulty %v, want %v", got, want)
			}
		})
	}
}

// TestRollVersionVectors checks BIP310 against entry 7's cases.
func TestRollVersionVectors(t *testing.T) {
	v := vectors.Load(t)[vectors.VersionRolling]
	var exp struct {
		Results []struct {
			JobVersion  string `json:"job_version"`
			VersionBits string `json:"version_bits"`
			Mask        string `json:"mask"`
			Valid       bool   `json:"valid_bits"`
			NVersion    string `json:"bip310_nVersion"`
		} `json:"results"`
	}
	if err := json.Unmarshal(mustJSON(v.Expected), &exp); err != nil {
		t.Fatal(err)
	}
	if len(exp.Results) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range exp.Results {
		jv, _ := parseHex32(c.JobVersion)
		bits, _ := parseHex32(c.VersionBits)
		mask, _ := parseHex32(c.Mask)
		got, ok := RollVersion(jv, bits, mask)
		want, _ := parseHex32(c.NVersion)
		if ok != c.Valid || (ok && got != want) {
			t.Errorf("job %s bits %s mask %s: got %08x ok=%v, want %s ok=%v", c.JobVersion, c.VersionBits, c.Mask, got, ok, c.NVersion, c.Valid)
		}
	}
}
