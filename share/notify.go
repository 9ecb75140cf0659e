package share

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// PrevHashStratum returns the previous block hash as mining.notify sends it:
// internal byte order with each 4-byte word byte-swapped.
func PrevHashStratum(prev *[32]byte) string {
	var sw [32]byte
	for i := 0; i < 32; i += 4 {
		binary.BigEndian.PutUint32(sw[i:], binary.LittleEndian.Uint32(prev[i:]))
	}
	return hex.EncodeToString(sw[:])
}

// prevHashFromStratum inverts PrevHashStratum.
func prevHashFromStratum(s string) ([32]byte, error) {
	var out [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return out, fmt.Errorf("prevhash: want 64 hex digits, got %q", s)
	}
	for i := 0; i < 32; i += 4 {
		binary.LittleEndian.PutUint32(out[i:], binary.BigEndian.Uint32(b[i:]))
	}
	return out, nil
}

// AppendNotify appends the complete mining.notify line (with its trailing
// newline) for job j under the job id the connection knows it by. The bulk
// of the line (hashes, coinbase halves, branch) is encoded once per job and
// shared by every connection; only the id and clean flag are per send.
func AppendNotify(dst []byte, id string, j *Job, clean bool) []byte {
	dst = append(dst, `{"id":null,"method":"mining.notify","params":["`...)
	dst = append(dst, id...)
	dst = append(dst, j.notifyBody()...)
	if clean {
		return append(dst, "true]}\n"...)
	}
	return append(dst, "false]}\n"...)
}

// notifyBody is the part of a notify line between the job id and the
// clean_jobs flag, encoded on first use.
func (j *Job) notifyBody() []byte {
	j.bodyOnce.Do(func() {
		dst := make([]byte, 0, 64+2*(len(j.Coinb1)+len(j.Coinb2))+67*len(j.Branch)+96)
		dst = append(dst, `","`...)
		dst = append(dst, PrevHashStratum(&j.PrevHash)...)
		dst = append(dst, `","`...)
		dst = hex.AppendEncode(dst, j.Coinb1)
		dst = append(dst, `","`...)
		dst = hex.AppendEncode(dst, j.Coinb2)
		dst = append(dst, `",[`...)
		for i := range j.Branch {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = hex.AppendEncode(dst, j.Branch[i][:])
			dst = append(dst, '"')
		}
		dst = append(dst, `],"`...)
		dst = appendHex32(dst, j.Version)
		dst = append(dst, `","`...)
		dst = appendHex32(dst, j.Bits)
		dst = append(dst, `","`...)
		dst = appendHex32(dst, j.CurTime)
		j.body = append(dst, `",`...)
	})
	return j.body
}

func appendHex32(dst []byte, v uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return hex.AppendEncode(dst, b[:])
}

// JobFromNotify rebuilds a Job from mining.notify params as a miner receives
// them: [job_id, prevhash, coinb1, coinb2, [branch...], version, nbits,
// ntime, clean_jobs]. extranonce2Size comes from mining.subscribe. Fields a
// notify does not carry (template transactions, MinTime) are left empty; the
// network target is derived from nbits.
func JobFromNotify(params []byte, extranonce2Size int) (*Job, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(params, &raw); err != nil {
		return nil, fmt.Errorf("notify params: %w", err)
	}
	if len(raw) < 9 {
		return nil, fmt.Errorf("notify params: want 9 entries, got %d", len(raw))
	}
	var (
		id, prev, cb1, cb2, ver, bits, ntime string
		branch                               []string
		clean                                bool
	)
	fields := []struct {
		name string
		dst  any
	}{{"job_id", &id}, {"prevhash", &prev}, {"coinb1", &cb1}, {"coinb2", &cb2}, {"merkle_branch", &branch},
		{"version", &ver}, {"nbits", &bits}, {"ntime", &ntime}, {"clean_jobs", &clean}}
	for i, f := range fields {
		if err := json.Unmarshal(raw[i], f.dst); err != nil {
			return nil, fmt.Errorf("notify params: %s: %w", f.name, err)
		}
	}
	j := &Job{ID: id, Clean: clean, Extranonce2Size: extranonce2Size}
	var err error
	if j.PrevHash, err = prevHashFromStratum(prev); err != nil {
		return nil, fmt.Errorf("notify params: %w", err)
	}
	if j.Coinb1, err = hex.DecodeString(cb1); err != nil {
		return nil, fmt.Errorf("notify params: coinb1: %w", err)
	}
	if j.Coinb2, err = hex.DecodeString(cb2); err != nil {
		return nil, fmt.Errorf("notify params: coinb2: %w", err)
	}
	for i, s := range branch {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("notify params: merkle_branch[%d]: want 64 hex digits, got %q", i, s)
		}
		j.Branch = append(j.Branch, [32]byte(b))
	}
	var ok bool
	if j.Version, ok = parseHex32(ver); !ok {
		return nil, fmt.Errorf("notify params: version: want 8 hex digits, got %q", ver)
	}
	if j.Bits, ok = parseHex32(bits); !ok {
		return nil, fmt.Errorf("notify params: nbits: want 8 hex digits, got %q", bits)
	}
	if j.CurTime, ok = parseHex32(ntime); !ok {
		return nil, fmt.Errorf("notify params: ntime: want 8 hex digits, got %q", ntime)
	}
	if j.NetTarget, err = TargetFromBits(j.Bits); err != nil {
		return nil, fmt.Errorf("notify params: %w", err)
	}
	return j, nil
}
