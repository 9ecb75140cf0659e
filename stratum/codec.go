package stratum

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// maxNesting bounds how deeply a request's values may nest; real requests
// nest two levels (configure's params).
const maxNesting = 32

// maxParams is the most strings a mining.submit carries.
const maxParams = 6

// protocolError is a malformed request: it is answered with Stratum error 20
// and the message, and counts as a strike against the connection.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

// request is one decoded request line. Its slices point into the line and
// are valid only until the next line is read.
type request struct {
	// id is the raw JSON of the id, echoed verbatim; "null" when absent.
	id []byte
	// method is the method name.
	method []byte
	// params is the raw JSON of the params, nil when absent.
	params []byte
}

var nullID = []byte("null")

// parseRequest decodes a request object without reflection: it walks the
// top-level object once, validating every value's syntax, and keeps raw
// spans of id, method and params. Unknown keys (jsonrpc, worker, ...) are
// skipped. A missing id is treated as null.
func parseRequest(line []byte, r *request) error {
	*r = request{id: nullID}
	var rawMethod []byte
	if err := parseObject(line, r, &rawMethod); err != nil {
		// A request that is not well-formed JSON has no trustworthy id.
		r.id = nullID
		return err
	}
	if rawMethod == nil {
		return &protocolError{"Invalid request: missing method"}
	}
	if rawMethod[0] != '"' {
		return &protocolError{"Invalid request: method must be a string"}
	}
	m, err := stringValue(rawMethod)
	if err != nil {
		return err
	}
	r.method = m
	return nil
}

// parseObject walks the top-level object of a request line.
func parseObject(line []byte, r *request, rawMethod *[]byte) error {
	if !utf8.Valid(line) {
		return &protocolError{"Parse error: request is not valid UTF-8"}
	}
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return &protocolError{"Parse error: request must be a JSON object"}
	}
	i = skipSpace(line, i+1)
	if i < len(line) && line[i] == '}' {
		i++
	} else {
		for {
			if i >= len(line) || line[i] != '"' {
				return &protocolError{"Parse error: expected a quoted key at byte " + strconv.Itoa(i)}
			}
			kEnd, err := skipString(line, i)
			if err != nil {
				return err
			}
			key := line[i+1 : kEnd-1]
			i = skipSpace(line, kEnd)
			if i >= len(line) || line[i] != ':' {
				return &protocolError{"Parse error: expected ':' at byte " + strconv.Itoa(i)}
			}
			i = skipSpace(line, i+1)
			vEnd, err := skipValue(line, i, 0)
			if err != nil {
				return err
			}
			val := line[i:vEnd]
			switch string(key) {
			case "id":
				r.id = val
			case "method":
				*rawMethod = val
			case "params":
				r.params = val
			}
			i = skipSpace(line, vEnd)
			if i < len(line) && line[i] == ',' {
				i = skipSpace(line, i+1)
				continue
			}
			if i < len(line) && line[i] == '}' {
				i++
				break
			}
			return &protocolError{"Parse error: expected ',' or '}' at byte " + strconv.Itoa(i)}
		}
	}
	if skipSpace(line, i) != len(line) {
		return &protocolError{"Parse error: trailing data after the request object"}
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value starting at b[i],
// checking its syntax.
func skipValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, &protocolError{"Parse error: unexpected end of request"}
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		if depth >= maxNesting {
			return 0, &protocolError{"Parse error: values nested too deeply"}
		}
		return skipContainer(b, i, depth+1, nil)
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(b, i)
	}
	return 0, &protocolError{"Parse error: unexpected " + strconv.QuoteRune(rune(b[i])) + " at byte " + strconv.Itoa(i)}
}

// skipContainer returns the index just past the array or object starting
// at b[i], checking its syntax. fn, when not nil, is called with each
// element (key nil) or member (key the raw quoted key) of this container,
// not of nested ones, as it is reached.
func skipContainer(b []byte, i, depth int, fn func(key, v []byte)) (int, error) {
	closer, object := byte(']'), b[i] == '{'
	if object {
		closer = '}'
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == closer {
		return i + 1, nil
	}
	for {
		var key []byte
		if object {
			if i >= len(b) || b[i] != '"' {
				return 0, &protocolError{"Parse error: expected a quoted key at byte " + strconv.Itoa(i)}
			}
			end, err := skipString(b, i)
			if err != nil {
				return 0, err
			}
			key = b[i:end]
			i = skipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return 0, &protocolError{"Parse error: expected ':' at byte " + strconv.Itoa(i)}
			}
			i = skipSpace(b, i+1)
		}
		end, err := skipValue(b, i, depth)
		if err != nil {
			return 0, err
		}
		if fn != nil {
			fn(key, b[i:end])
		}
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == closer {
			return i + 1, nil
		}
		return 0, &protocolError{"Parse error: expected ',' or '" + string(closer) + "' at byte " + strconv.Itoa(i)}
	}
}

// skipString returns the index just past the string starting at b[i] (a
// quote), checking escapes and rejecting raw control characters.
func skipString(b []byte, i int) (int, error) {
	for i++; i < len(b); i++ {
		c := b[i]
		if !strSpecial[c] {
			continue
		}
		switch {
		case c == '"':
			return i + 1, nil
		case c < 0x20:
			return 0, &protocolError{"Parse error: control character in string at byte " + strconv.Itoa(i)}
		case c == '\\':
			i++
			if i >= len(b) {
				break
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return 0, &protocolError{"Parse error: bad \\u escape at byte " + strconv.Itoa(i)}
				}
				i += 4
			default:
				return 0, &protocolError{"Parse error: bad escape at byte " + strconv.Itoa(i)}
			}
		}
	}
	return 0, &protocolError{"Parse error: unterminated string"}
}

// strSpecial marks the bytes a string scan must stop at: the closing quote,
// the escape character and raw control characters.
var strSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), nil
	}
	return 0, &protocolError{"Parse error: bad literal at byte " + strconv.Itoa(i)}
}

// skipNumber checks the JSON number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(b []byte, i int) (int, error) {
	start := i
	bad := func() error { return &protocolError{"Parse error: bad number at byte " + strconv.Itoa(start)} }
	digits := func() bool {
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > s
	}
	if b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if !digits() {
		return 0, bad()
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return 0, bad()
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return 0, bad()
		}
	}
	return i, nil
}

// stringValue returns the contents of a syntactically valid JSON string
// value. Without escapes it is a subslice of v; escapes are decoded into a
// new slice (rare: no Stratum field needs them).
func stringValue(v []byte) ([]byte, error) {
	body := v[1 : len(v)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return body, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, &protocolError{"Parse error: bad string"}
	}
	return []byte(s), nil
}

// stringParams decodes a params array whose elements must all be strings
// into out, returning how many there were. It is the mining.submit decoder:
// no reflection and, for strings without escapes, no allocation. method
// names the request in error messages.
func stringParams(params []byte, out *[maxParams][]byte, method string) (int, error) {
	if len(params) == 0 || params[0] != '[' {
		return 0, &protocolError{"Invalid params: " + method + " params must be an array"}
	}
	n := 0
	i := skipSpace(params, 1)
	if i < len(params) && params[i] == ']' {
		return 0, nil
	}
	for {
		if i >= len(params) {
			return 0, &protocolError{"Invalid params: " + method + " params: unexpected end"}
		}
		if params[i] != '"' {
			return 0, &protocolError{"Invalid params: " + method + " param " + strconv.Itoa(n+1) + " must be a string"}
		}
		end, err := skipString(params, i)
		if err != nil {
			return 0, err
		}
		if n == maxParams {
			return 0, &protocolError{"Invalid params: " + method + " takes at most " + strconv.Itoa(maxParams) + " params"}
		}
		if out[n], err = stringValue(params[i:end]); err != nil {
			return 0, err
		}
		n++
		i = skipSpace(params, end)
		if i < len(params) && params[i] == ',' {
			i = skipSpace(params, i+1)
			continue
		}
		if i < len(params) && params[i] == ']' {
			return n, nil
		}
		if i >= len(params) {
			return 0, &protocolError{"Invalid params: " + method + " params: unexpected end"}
		}
		return 0, &protocolError{"Invalid params: " + method + " params: expected ',' or ']'"}
	}
}

// appendResult appends a success reply with a raw JSON result.
func appendResult(dst, id []byte, result string) []byte {
	dst = appendResultStart(dst, id)
	dst = append(dst, result...)
	return appendResultEnd(dst)
}

// appendResultStart appends a success reply up to its result, for a result
// that is encoded in place (appendResultEnd closes it): the handshake's
// replies are built without an intermediate string.
func appendResultStart(dst, id []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = append(dst, id...)
	return append(dst, `,"result":`...)
}

// appendResultEnd closes a reply begun with appendResultStart.
func appendResultEnd(dst []byte) []byte { return append(dst, ",\"error\":null}\n"...) }

// appendError appends an error reply [code, message, null] with the given
// raw JSON result (null, or false for submit and authorize).
func appendError(dst, id []byte, result string, code int, msg string) []byte {
	dst = append(dst, `{"id":`...)
	dst = append(dst, id...)
	dst = append(dst, `,"result":`...)
	dst = append(dst, result...)
	dst = append(dst, `,"error":[`...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, ',')
	dst = appendJSONString(dst, msg)
	return append(dst, ",null]}\n"...)
}

// appendSetDifficulty appends a mining.set_difficulty notification. 'g'
// formatting keeps fractional difficulties exact (1e-12 stays 1e-12) and
// prints whole numbers without a fraction (512).
func appendSetDifficulty(dst []byte, d float64) []byte {
	dst = append(dst, `{"id":null,"method":"mining.set_difficulty","params":[`...)
	dst = strconv.AppendFloat(dst, d, 'g', -1, 64)
	return append(dst, "]}\n"...)
}

// appendJSONString appends s as a JSON string, escaping quotes, backslashes
// and control characters and replacing invalid UTF-8, so that text that came
// from a miner can be echoed safely.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
