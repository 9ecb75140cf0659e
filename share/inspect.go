package share

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Inspection is the full rebuild of one share, as an operator sees it with
// `tarbela share verify`.
type Inspection struct {
	Coinbase   string  `json:"coinbase"`
	MerkleRoot string  `json:"merkle_root"`
	Header     string  `json:"header"`
	Hash       string  `json:"hash"`
	Difficulty float64 `json:"difficulty"`
	Block      bool    `json:"block"`
	// Accepted and Reason are set when a share difficulty was given.
	Accepted *bool  `json:"accepted,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Message  string `json:"message,omitempty"`
}

// Inspect rebuilds a share exactly as the pool judges it, from the notify
// params the miner received, its extranonce1, and the params of its
// mining.submit ([worker, job_id, extranonce2, ntime, nonce(, version_bits)]).
// mask is the negotiated version-rolling mask. With difficulty > 0 the
// verdict at that difficulty is included. Format errors in the inputs are
// returned as errors; a share that fails a check is an Inspection with
// Accepted false.
func Inspect(notifyParams []byte, extranonce1 []byte, submitParams []byte, mask uint32, difficulty float64, now time.Time) (*Inspection, error) {
	var p []string
	if err := json.Unmarshal(submitParams, &p); err != nil {
		return nil, fmt.Errorf("submit params: want a JSON array of strings: %w", err)
	}
	if len(p) != 5 && len(p) != 6 {
		return nil, fmt.Errorf("submit params: want 5 or 6 entries, got %d", len(p))
	}
	if len(extranonce1) != Extranonce1Size {
		return nil, fmt.Errorf("extranonce1: want %d bytes, got %d", Extranonce1Size, len(extranonce1))
	}
	en2Size := len(p[2]) / 2
	job, err := JobFromNotify(notifyParams, en2Size)
	if err != nil {
		return nil, err
	}
	vbits := ""
	if len(p) == 6 {
		vbits = p[5]
	}
	var sub Submission
	if rej := ParseSubmit(&sub, extranonce1, p[2], p[3], p[4], vbits, en2Size); rej != nil {
		return nil, fmt.Errorf("submit params: %s", rej.Message)
	}
	target := Target{}
	if difficulty > 0 {
		if target, err = TargetFromDifficulty(difficulty); err != nil {
			return nil, err
		}
	} else {
		for i := range target {
			target[i] = 0xff
		}
	}
	var res Result
	rej := job.Check(&sub, mask, &target, now, &res)
	if rej != nil && res.Coinbase == nil {
		// Rejected before the header could be built.
		f := false
		return &Inspection{Accepted: &f, Reason: rej.Reason.String(), Message: rej.Message}, nil
	}
	in := &Inspection{
		Coinbase:   hex.EncodeToString(res.Coinbase),
		MerkleRoot: hex.EncodeToString(res.MerkleRoot[:]),
		Header:     hex.EncodeToString(res.Header[:]),
		Hash:       DisplayHex(&res.Hash),
		Difficulty: res.Difficulty,
		Block:      res.Block,
	}
	if difficulty > 0 {
		ok := rej == nil
		in.Accepted = &ok
		if rej != nil {
			in.Reason, in.Message = rej.Reason.String(), rej.Message
		}
	}
	return in, nil
}
