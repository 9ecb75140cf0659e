package stratum

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// handleConfigure answers mining.configure [[extension...], {options}]
// (BIP310). version-rolling is granted with VersionMask & the miner's mask,
// or answered false when DisableVersionRolling is set;
// minimum-difficulty sets a difficulty floor; subscribe-extranonce and info
// are acknowledged; any other extension is answered false.
func (s *session) handleConfigure(req *request) error {
	p, err := arrayParams(req)
	if err != nil {
		return err
	}
	if len(p) < 1 {
		return &protocolError{"Invalid params: mining.configure needs a list of extensions"}
	}
	var exts []string
	if err := json.Unmarshal(p[0], &exts); err != nil {
		return &protocolError{"Invalid params: mining.configure extensions must be a list of strings"}
	}
	var opts map[string]json.RawMessage
	if len(p) > 1 && !isNull(p[1]) {
		if err := json.Unmarshal(p[1], &opts); err != nil {
			return &protocolError{"Invalid params: mining.configure options must be an object"}
		}
	}
	out := make([]byte, 0, 128)
	out = append(out, '{')
	field := func(name string, value []byte) {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = appendJSONString(out, name)
		out = append(out, ':')
		out = append(out, value...)
	}
	var newFloor float64
	for _, ext := range exts {
		switch ext {
		case "version-rolling":
			if s.srv.o.DisableVersionRolling {
				field(ext, []byte("false"))
				continue
			}
			mask, err := minerMask(opts)
			if err != nil {
				return err
			}
			s.mask = s.srv.o.VersionMask & mask
			field(ext, []byte("true"))
			var m [4]byte
			m[0], m[1], m[2], m[3] = byte(s.mask>>24), byte(s.mask>>16), byte(s.mask>>8), byte(s.mask)
			field("version-rolling.mask", []byte(`"`+hex.EncodeToString(m[:])+`"`))
		case "minimum-difficulty":
			d, ok := numberOption(opts, "minimum-difficulty.value")
			if !ok {
				field(ext, []byte("false"))
				continue
			}
			newFloor = d
			field(ext, []byte("true"))
		case "subscribe-extranonce", "info":
			if ext == "info" {
				s.log.Debug("miner info", zap.Any("options", opts))
			}
			field(ext, []byte("true"))
		default:
			field(ext, []byte("false"))
		}
	}
	out = append(out, '}')
	s.replyResult(req.id, string(out))
	if newFloor > 0 {
		s.raiseFloor(newFloor, time.Now())
	}
	return nil
}

// minerMask reads version-rolling.mask (8 hex digits; all bits when absent,
// as BIP310 lets the server choose).
func minerMask(opts map[string]json.RawMessage) (uint32, error) {
	raw, ok := opts["version-rolling.mask"]
	if !ok || isNull(raw) {
		return math.MaxUint32, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, &protocolError{"Invalid params: version-rolling.mask must be a hex string"}
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil || len(s) == 0 || len(s) > 8 {
		return 0, &protocolError{"Invalid params: version-rolling.mask must be up to 8 hex digits, got " + strconv.Quote(shorten(s))}
	}
	return uint32(v), nil
}

// numberOption reads a positive finite number (or a numeric string) option.
func numberOption(opts map[string]json.RawMessage, name string) (float64, bool) {
	raw, ok := opts[name]
	if !ok {
		return 0, false
	}
	return positiveNumber(raw)
}

// positiveNumber decodes a JSON number or numeric string that is positive
// and finite.
func positiveNumber(raw []byte) (float64, bool) {
	var d float64
	if err := json.Unmarshal(raw, &d); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		if d, err = strconv.ParseFloat(s, 64); err != nil {
			return 0, false
		}
	}
	return d, d > 0 && !math.IsInf(d, 0) && !math.IsNaN(d)
}

// shorten cuts miner-supplied text for an error message.
func shorten(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
