package energy

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Record is one closed site-hour as sealed into the chain. Its canonical
// form is encoding/json's output of this struct (fields in this order, no
// spaces, numbers in Go's shortest round-trip form), one per line.
type Record struct {
	Seq  uint64 `json:"seq"`
	Prev string `json:"prev"`
	// Kind is "hour" for an hour's figures at close, "late" for shares of
	// a closed hour that arrived after it closed (added, never merged).
	Kind string `json:"kind"`
	Hour string `json:"hour"` // start, RFC 3339 UTC
	Site string `json:"site"`
	// Work is the sum of the accepted shares' credited difficulty, WorkSq
	// the sum of its squares.
	Work     float64 `json:"work"`
	WorkSq   float64 `json:"work_sq"`
	Accepted int64   `json:"accepted"`
	Rejected int64   `json:"rejected"`
	// Workers is the distinct workers with an accepted share (-1 for late
	// records: not kept).
	Workers int64  `json:"workers"`
	First   string `json:"first,omitempty"`
	Last    string `json:"last,omitempty"`
	// Units are the site's fleets (one unit for a uniform fleet), with the
	// efficiency the estimate used at close.
	Units []UnitRecord `json:"units"`
	// KWh, KWhLow and KWhHigh are the energy estimate and its 95 %
	// interval at close (0 when the site has no configured efficiency).
	KWh     float64 `json:"kwh"`
	KWhLow  float64 `json:"kwh_low"`
	KWhHigh float64 `json:"kwh_high"`
	// PoolWork is the pool's recorded work in the hour (the sites' work
	// sums to it).
	PoolWork float64 `json:"pool_work"`
	// PPSWorth is what the site's accepted shares earned under PPS/FPPS,
	// in satoshis (Σ d/D × v, as added to pps:owed; fractions kept):
	// fixed by the shares, so it is sealed with them. Left out under the
	// block schemes (their earnings are known only when a block matures:
	// Row.BTCEarned, not signed).
	PPSWorth float64 `json:"pps_sat,omitempty"`
	Hash     string  `json:"hash,omitempty"`
	Sig      string  `json:"sig,omitempty"`
}

// UnitRecord is one unit's part of a site-hour.
type UnitRecord struct {
	Unit     string  `json:"unit"`
	Work     float64 `json:"work"`
	WorkSq   float64 `json:"work_sq"`
	Accepted int64   `json:"accepted"`
	JPerTH   float64 `json:"j_per_th"`
	Overhead float64 `json:"overhead"`
}

// GenesisPrev is the Prev of the chain's first record.
var GenesisPrev = hex.EncodeToString(make([]byte, sha256.Size))

// digest is the SHA-256 of r's canonical form without Hash and Sig.
func (r Record) digest() ([]byte, error) {
	r.Hash, r.Sig = "", ""
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("energy: encode record %d: %w", r.Seq, err)
	}
	d := sha256.Sum256(b)
	return d[:], nil
}

// Seal sets r's Seq and Prev after prev (nil for the first record), its
// Hash and its Sig by key, and returns its canonical line.
func (r *Record) Seal(prevSeq uint64, prevHash string, key ed25519.PrivateKey) ([]byte, error) {
	r.Seq, r.Prev = prevSeq+1, prevHash
	if r.Prev == "" {
		r.Prev = GenesisPrev
	}
	d, err := r.digest()
	if err != nil {
		return nil, err
	}
	r.Hash = hex.EncodeToString(d)
	r.Sig = hex.EncodeToString(ed25519.Sign(key, d))
	return json.Marshal(r)
}

// VerifyError names the first record of an export that fails.
type VerifyError struct {
	// File names the file when several are checked as one chain
	// (VerifyFiles).
	File string
	Line int // 1-based
	Seq  uint64
	// Problem is "altered", "removed" (a gap before it), "reordered" or
	// "unreadable", with Detail.
	Problem string
	Detail  string
}

func (e *VerifyError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("energy: %s line %d (record %d): %s: %s", e.File, e.Line, e.Seq, e.Problem, e.Detail)
	}
	return fmt.Sprintf("energy: line %d (record %d): %s: %s", e.Line, e.Seq, e.Problem, e.Detail)
}

// VerifyResult summarises a verified export.
type VerifyResult struct {
	Records             int
	FirstSeq, LastSeq   uint64
	FirstHour, LastHour string
}

// Verify checks an export (one record per line, or report rows that carry
// the record in a "record" field) against pub: each line is a record's
// canonical form, its hash is the SHA-256 of its content, its signature is
// pub's, and it follows the line before it (seq one more, prev its hash).
// The first failure is returned as a *VerifyError naming the record.
func Verify(r io.Reader, pub ed25519.PublicKey) (VerifyResult, error) {
	return verify([]io.Reader{r}, nil, pub, false)
}

// VerifyFiles checks several files as one chain, in the order given: an
// archive (`tarbela energy archive`) followed by later exports. Each file
// is checked as Verify checks one; where a file starts with records the
// files before it already held (an export that overlaps the archive),
// those records are checked on their own (canonical, hash, signature,
// order) and the one at the earlier file's last seq must be that record
// byte for byte; the chain then continues from it. Errors name the file.
func VerifyFiles(paths []string, pub ed25519.PublicKey, partial bool) (VerifyResult, error) {
	rs := make([]io.Reader, len(paths))
	for i, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return VerifyResult{}, fmt.Errorf("energy: verify: %w", err)
		}
		defer f.Close()
		rs[i] = f
	}
	return verify(rs, paths, pub, partial)
}

// VerifyPartial checks an export of some of the chain's records (a report
// for one site): each record as Verify does, and that their seq increases;
// gaps are allowed, so a record removed from such an export is not
// detected (it is from a whole export, with Verify).
func VerifyPartial(r io.Reader, pub ed25519.PublicKey) (VerifyResult, error) {
	return verify([]io.Reader{r}, nil, pub, true)
}

func verify(rs []io.Reader, names []string, pub ed25519.PublicKey, partial bool) (VerifyResult, error) {
	var res VerifyResult
	var prev *Record
	for i, r := range rs {
		name := ""
		if names != nil {
			name = names[i]
		}
		if err := verifyOne(r, name, pub, partial, &res, &prev); err != nil {
			return res, err
		}
	}
	if res.Records == 0 {
		return res, errors.New("energy: the export holds no record")
	}
	return res, nil
}

// verifyOne checks one file of a chain after *prev (nil: the first).
func verifyOne(r io.Reader, name string, pub ed25519.PublicKey, partial bool, res *VerifyResult, prev **Record) (err error) {
	defer func() {
		var ve *VerifyError
		if errors.As(err, &ve) {
			ve.File = name
		}
	}()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	// earlier is the last record of the files before this one: records
	// of this file up to its seq overlap them.
	earlier := *prev
	var overlap *Record
	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		// A report row (it has "flags") carries its record in "record".
		var wrap Row
		var probe map[string]json.RawMessage
		row := false
		if json.Unmarshal(raw, &probe) == nil && probe["flags"] != nil {
			if err := json.Unmarshal(raw, &wrap); err != nil {
				return &VerifyError{Line: line, Problem: "altered", Detail: "not a report row: " + err.Error()}
			}
			if len(wrap.Record) == 0 {
				return &VerifyError{Line: line, Problem: "unsealed",
					Detail: "a report row without a sealed record (an hour not closed yet); export closed hours only"}
			}
			raw, row = wrap.Record, true
		}
		var rec Record
		if err := json.Unmarshal(raw, &rec); err != nil {
			return &VerifyError{Line: line, Problem: "altered", Detail: "not a record: " + err.Error()}
		}
		if row {
			if f := rowMismatch(&wrap, &rec); f != "" {
				return &VerifyError{Line: line, Seq: rec.Seq, Problem: "altered", Detail: "the row's " + f + " differs from its sealed record"}
			}
		}
		canon, err := json.Marshal(rec)
		if err != nil || !bytes.Equal(canon, raw) {
			return &VerifyError{Line: line, Seq: rec.Seq, Problem: "altered", Detail: "not in canonical form (bytes changed)"}
		}
		d, err := rec.digest()
		if err != nil {
			return &VerifyError{Line: line, Seq: rec.Seq, Problem: "altered", Detail: err.Error()}
		}
		if hex.EncodeToString(d) != rec.Hash {
			return &VerifyError{Line: line, Seq: rec.Seq, Problem: "altered", Detail: "content does not match its hash"}
		}
		sig, err := hex.DecodeString(rec.Sig)
		if err != nil || !ed25519.Verify(pub, d, sig) {
			return &VerifyError{Line: line, Seq: rec.Seq, Problem: "altered", Detail: "signature does not verify with the public key"}
		}
		if earlier != nil && rec.Seq <= earlier.Seq {
			// A record the files before held: checked on its own above;
			// in order; the last one must be the earlier file's.
			if overlap != nil && rec.Seq <= overlap.Seq {
				return &VerifyError{Line: line, Seq: rec.Seq, Problem: "reordered",
					Detail: fmt.Sprintf("follows record %d", overlap.Seq)}
			}
			if rec.Seq == earlier.Seq && rec.Hash != earlier.Hash {
				return &VerifyError{Line: line, Seq: rec.Seq, Problem: "altered",
					Detail: "differs from the same record in the file before"}
			}
			p := rec
			overlap = &p
			continue
		}
		if p := *prev; p != nil {
			switch {
			case rec.Seq <= p.Seq:
				return &VerifyError{Line: line, Seq: rec.Seq, Problem: "reordered",
					Detail: fmt.Sprintf("follows record %d", p.Seq)}
			case rec.Seq > p.Seq+1 && partial:
			case rec.Seq > p.Seq+1:
				return &VerifyError{Line: line, Seq: rec.Seq, Problem: "removed",
					Detail: fmt.Sprintf("records %d..%d are missing before it", p.Seq+1, rec.Seq-1)}
			case rec.Prev != p.Hash:
				return &VerifyError{Line: line, Seq: rec.Seq, Problem: "altered",
					Detail: fmt.Sprintf("prev does not match record %d's hash", p.Seq)}
			}
		} else {
			res.FirstSeq, res.FirstHour = rec.Seq, rec.Hour
			if rec.Seq == 1 && rec.Prev != GenesisPrev && !partial {
				return &VerifyError{Line: line, Seq: rec.Seq, Problem: "altered", Detail: "the first record's prev is not the genesis"}
			}
		}
		res.Records++
		res.LastSeq, res.LastHour = rec.Seq, rec.Hour
		p := rec
		*prev = &p
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("energy: read export: %w", err)
	}
	return nil
}

// rowMismatch names the first field of a report row that the sealed record
// determines and that differs from it ("" when none).
func rowMismatch(r *Row, rec *Record) string {
	switch {
	case r.Hour.UTC().Format(time.RFC3339) != rec.Hour:
		return "hour"
	case r.Site != rec.Site:
		return "site"
	case r.Work != rec.Work:
		return "work"
	case r.TH != rec.Work*HashesPerDifficulty/1e12 || r.AvgTHs != r.TH/3600:
		return "th"
	case r.Accepted != rec.Accepted:
		return "accepted"
	case r.Rejected != rec.Rejected:
		return "rejected"
	case r.Workers != rec.Workers:
		return "workers"
	case r.Estimate != Estimate{KWh: rec.KWh, Low: rec.KWhLow, High: rec.KWhHigh}:
		return "kwh"
	}
	return ""
}

// GenerateKey writes a new Ed25519 key to keyFile (PKCS #8 PEM, mode 0600,
// refusing to overwrite) and its public key to pubFile (PKIX PEM).
func GenerateKey(keyFile, pubFile string) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("energy: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("energy: encode key: %w", err)
	}
	f, err := os.OpenFile(keyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("energy: create key file: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("energy: write key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("energy: write key file: %w", err)
	}
	return WritePublicKey(pub, pubFile)
}

// WritePublicKey writes pub to file (PKIX PEM).
func WritePublicKey(pub ed25519.PublicKey, file string) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return fmt.Errorf("energy: encode public key: %w", err)
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("energy: write public key: %w", err)
	}
	return nil
}

// LoadKey reads the Ed25519 key GenerateKey wrote.
func LoadKey(file string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("energy: read key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("energy: %s: not a PEM \"PRIVATE KEY\" (make one with tarbela energy keygen)", file)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("energy: %s: %w", file, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("energy: %s: not an Ed25519 key", file)
	}
	return priv, nil
}

// LoadPublicKey reads a public key WritePublicKey wrote.
func LoadPublicKey(file string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("energy: read public key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("energy: %s: not a PEM \"PUBLIC KEY\"", file)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("energy: %s: %w", file, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("energy: %s: not an Ed25519 public key", file)
	}
	return pub, nil
}
