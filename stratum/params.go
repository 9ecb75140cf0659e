package stratum

import (
	"bytes"
	"strconv"
)

// maxArgs is how many leading params the methods other than mining.submit
// look at (configure, subscribe and authorize read two, suggest one); any
// further ones are counted and their syntax checked, but not kept.
const maxArgs = 4

// args is the params array of a method that is not on the hot path, split
// into its raw elements without reflection: every connection's handshake
// goes through it, and thousands of miners connecting at once would
// otherwise leave a few hundred bytes of decoder garbage each. The slices
// point into the request line. The zero value is an empty list.
type args struct {
	v [maxArgs][]byte
	n int
}

// len returns how many elements the array has.
func (a *args) len() int { return a.n }

// at returns element i's raw JSON, or nil when the array is shorter or i is
// past the elements kept.
func (a *args) at(i int) []byte {
	if i < 0 || i >= min(a.n, maxArgs) {
		return nil
	}
	return a.v[i]
}

// arrayParams splits the params of a method that is not on the hot path
// into a. Absent or null params are an empty list.
func arrayParams(req *request, a *args) error {
	*a = args{}
	if len(req.params) == 0 || string(req.params) == "null" {
		return nil
	}
	if req.params[0] != '[' {
		return &protocolError{"Invalid params: " + string(req.method) + " params must be an array"}
	}
	return eachElement(req.params, func(v []byte) {
		if a.n < maxArgs {
			a.v[a.n] = v
		}
		a.n++
	})
}

// eachElement calls fn with the raw JSON of each element of the array b
// (whose first byte is '['), in order, checking the array's syntax.
func eachElement(b []byte, fn func(v []byte)) error {
	i := skipSpace(b, 1)
	if i < len(b) && b[i] == ']' {
		if skipSpace(b, i+1) != len(b) {
			return &protocolError{"Parse error: trailing data after an array"}
		}
		return nil
	}
	for {
		end, err := skipValue(b, i, 1)
		if err != nil {
			return err
		}
		fn(b[i:end])
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == ']' {
			if skipSpace(b, i+1) != len(b) {
				return &protocolError{"Parse error: trailing data after an array"}
			}
			return nil
		}
		return &protocolError{"Parse error: expected ',' or ']' at byte " + strconv.Itoa(i)}
	}
}

// eachMember calls fn with the decoded key and raw JSON value of each member
// of the object b (whose first byte is '{'), in order, checking the
// object's syntax. A key with escapes is decoded into a new slice.
func eachMember(b []byte, fn func(key, v []byte)) error {
	i := skipSpace(b, 1)
	if i < len(b) && b[i] == '}' {
		if skipSpace(b, i+1) != len(b) {
			return &protocolError{"Parse error: trailing data after an object"}
		}
		return nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return &protocolError{"Parse error: expected a quoted key at byte " + strconv.Itoa(i)}
		}
		kEnd, err := skipString(b, i)
		if err != nil {
			return err
		}
		key, err := stringValue(b[i:kEnd])
		if err != nil {
			return err
		}
		i = skipSpace(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return &protocolError{"Parse error: expected ':' at byte " + strconv.Itoa(i)}
		}
		i = skipSpace(b, i+1)
		end, err := skipValue(b, i, 1)
		if err != nil {
			return err
		}
		fn(key, b[i:end])
		i = skipSpace(b, end)
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			if skipSpace(b, i+1) != len(b) {
				return &protocolError{"Parse error: trailing data after an object"}
			}
			return nil
		}
		return &protocolError{"Parse error: expected ',' or '}' at byte " + strconv.Itoa(i)}
	}
}

// isNull reports whether a raw element is JSON null.
func isNull(raw []byte) bool { return string(bytes.TrimSpace(raw)) == "null" }

// stringArg decodes element i of a as a string, as a slice into the request
// line (a new slice only when it has escapes); a missing or null element
// yields nil and ok=false.
func stringArg(req *request, a *args, i int, name string) (s []byte, ok bool, err error) {
	v := a.at(i)
	if v == nil || isNull(v) {
		return nil, false, nil
	}
	if v[0] != '"' {
		return nil, false, &protocolError{"Invalid params: " + string(req.method) + " " + name + " (param " + strconv.Itoa(i+1) + ") must be a string"}
	}
	s, err = stringValue(v)
	if err != nil {
		return nil, false, err
	}
	return s, true, nil
}

// stringParam is stringArg as a string, for values the session keeps.
func stringParam(req *request, a *args, i int, name string) (string, bool, error) {
	s, ok, err := stringArg(req, a, i, name)
	return string(s), ok, err
}
