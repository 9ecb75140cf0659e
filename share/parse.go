package share

import (
	"encoding/hex"
	"strconv"
)

// ParseSubmit decodes the hex fields of a mining.submit (extranonce2, ntime,
// nonce and the optional version bits; pass versionBits == "" when absent)
// into sub, reusing sub.Extranonce2's storage. extranonce1 is the
// connection's. Every format error is a ReasonBad* rejection whose message
// names the field.
func ParseSubmit(sub *Submission, extranonce1 []byte, extranonce2, ntime, nonce, versionBits string, extranonce2Size int) *Reject {
	sub.Extranonce1 = extranonce1
	if len(extranonce2) != 2*extranonce2Size {
		return &Reject{ReasonBadExtranonce2, "Invalid extranonce2 length: want " + strconv.Itoa(2*extranonce2Size) + " hex digits, got " + strconv.Itoa(len(extranonce2))}
	}
	en2, err := hex.AppendDecode(sub.Extranonce2[:0], []byte(extranonce2))
	if err != nil {
		return &Reject{ReasonBadExtranonce2, "Invalid extranonce2: not hex"}
	}
	sub.Extranonce2 = en2
	var ok bool
	if sub.NTime, ok = parseHex32(ntime); !ok {
		return &Reject{ReasonBadNTime, "Invalid ntime: want 8 hex digits, got " + quoteShort(ntime)}
	}
	if sub.Nonce, ok = parseHex32(nonce); !ok {
		return &Reject{ReasonBadNonce, "Invalid nonce: want 8 hex digits, got " + quoteShort(nonce)}
	}
	sub.HasVersionBits = versionBits != ""
	sub.VersionBits = 0
	if sub.HasVersionBits {
		if sub.VersionBits, ok = parseHex32(versionBits); !ok {
			return &Reject{ReasonBadVersion, "Invalid version bits: want 8 hex digits, got " + quoteShort(versionBits)}
		}
	}
	return nil
}

// parseHex32 parses exactly 8 hex digits as a big-endian uint32.
func parseHex32(s string) (uint32, bool) {
	if len(s) != 8 {
		return 0, false
	}
	var v uint32
	for i := 0; i < 8; i++ {
		c := s[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(d)
	}
	return v, true
}

func badExtranonce2(got, want int) *Reject {
	return &Reject{ReasonBadExtranonce2, "Invalid extranonce2 length: want " + strconv.Itoa(want) + " bytes, got " + strconv.Itoa(got)}
}

// quoteShort quotes s for an error message, cut to a readable length so a
// hostile miner cannot make the reply large.
func quoteShort(s string) string {
	if len(s) > 32 {
		s = s[:32] + "..."
	}
	return strconv.Quote(s)
}
