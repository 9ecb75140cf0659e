package stratum

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
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
	var p args
	if err := arrayParams(req, &p); err != nil {
		return err
	}
	if p.len() < 1 {
		return &protocolError{"Invalid params: mining.configure needs a list of extensions"}
	}
	exts := p.at(0)
	if !validExtensions(exts) {
		return &protocolError{"Invalid params: mining.configure extensions must be a list of strings"}
	}
	var opts []byte
	if o := p.at(1); o != nil && !isNull(o) {
		if o[0] != '{' {
			return &protocolError{"Invalid params: mining.configure options must be an object"}
		}
		opts = o
	}
	// The reply is built in place: one field per extension, in order.
	b := getBuf()
	*b = append(appendResultStart(*b, req.id), '{')
	first := true
	field := func(name []byte, value string) {
		if !first {
			*b = append(*b, ',')
		}
		first = false
		*b = appendJSONString(*b, string(name))
		*b = append(*b, ':')
		*b = append(*b, value...)
	}
	var newFloor float64
	var failed error
	if exts != nil && !isNull(exts) {
		_ = eachItem(exts, func(_, v []byte) {
			if failed != nil {
				return
			}
			var ext []byte
			if !isNull(v) {
				if ext, failed = stringValue(v); failed != nil {
					return
				}
			}
			switch string(ext) {
			case "version-rolling":
				if s.srv.o.DisableVersionRolling {
					field(ext, "false")
					return
				}
				var mask uint32
				if mask, failed = minerMask(opts); failed != nil {
					return
				}
				s.mask = s.srv.o.VersionMask & mask
				field(ext, "true")
				// The granted mask, as 8 hex digits in quotes.
				var m [4]byte
				binary.BigEndian.PutUint32(m[:], s.mask)
				field([]byte("version-rolling.mask"), `"`)
				*b = hex.AppendEncode(*b, m[:])
				*b = append(*b, '"')
			case "minimum-difficulty":
				d, ok := numberOption(opts, "minimum-difficulty.value")
				if !ok {
					field(ext, "false")
					return
				}
				newFloor = d
				field(ext, "true")
			case "subscribe-extranonce", "info":
				if string(ext) == "info" {
					s.log.Debug("miner info", zap.ByteString("options", opts))
				}
				field(ext, "true")
			default:
				field(ext, "false")
			}
		})
	}
	if failed != nil {
		putBuf(b)
		return failed
	}
	*b = appendResultEnd(append(*b, '}'))
	s.send(b)
	if newFloor > 0 {
		s.raiseFloor(newFloor, time.Now())
	}
	return nil
}

// validExtensions reports whether raw is null or a list whose elements are
// strings (or null, read as an empty name).
func validExtensions(raw []byte) bool {
	if isNull(raw) {
		return true
	}
	if raw[0] != '[' {
		return false
	}
	ok := true
	err := eachItem(raw, func(_, v []byte) {
		if v[0] != '"' && !isNull(v) {
			ok = false
		}
	})
	return ok && err == nil
}

// option returns the raw value of the option name in the options object
// opts (nil when opts is nil or has no such option). When the name occurs
// more than once, the last one counts.
func option(opts []byte, name string) []byte {
	if opts == nil {
		return nil
	}
	var found []byte
	_ = eachItem(opts, func(key, v []byte) {
		if k, err := stringValue(key); err == nil && string(k) == name {
			found = v
		}
	})
	return found
}

// minerMask reads version-rolling.mask (1 to 8 hex digits; all bits when
// absent, as BIP310 lets the server choose).
func minerMask(opts []byte) (uint32, error) {
	raw := option(opts, "version-rolling.mask")
	if raw == nil || isNull(raw) {
		return math.MaxUint32, nil
	}
	if raw[0] != '"' {
		return 0, &protocolError{"Invalid params: version-rolling.mask must be a hex string"}
	}
	s, err := stringValue(raw)
	if err != nil {
		return 0, &protocolError{"Invalid params: version-rolling.mask must be a hex string"}
	}
	v, err := strconv.ParseUint(string(s), 16, 32)
	if err != nil || len(s) == 0 || len(s) > 8 {
		return 0, &protocolError{"Invalid params: version-rolling.mask must be up to 8 hex digits, got " + strconv.Quote(shorten(string(s)))}
	}
	return uint32(v), nil
}

// numberOption reads a positive finite number (or a numeric string) option.
func numberOption(opts []byte, name string) (float64, bool) {
	raw := option(opts, name)
	if raw == nil {
		return 0, false
	}
	return positiveNumber(raw)
}

// positiveNumber decodes a JSON number or numeric string that is positive
// and finite. raw need not be valid JSON (the legacy suggest method name
// carries it): anything else is refused.
func positiveNumber(raw []byte) (float64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, false
	}
	var d float64
	var err error
	if raw[0] == '"' {
		end, serr := skipString(raw, 0)
		if serr != nil || end != len(raw) {
			return 0, false
		}
		s, serr := stringValue(raw)
		if serr != nil {
			return 0, false
		}
		d, err = strconv.ParseFloat(string(s), 64)
	} else {
		end, nerr := skipNumber(raw, 0)
		if nerr != nil || end != len(raw) {
			return 0, false
		}
		d, err = strconv.ParseFloat(string(raw), 64)
	}
	return d, err == nil && d > 0 && !math.IsInf(d, 0) && !math.IsNaN(d)
}

// shorten cuts miner-supplied text for an error message.
func shorten(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
