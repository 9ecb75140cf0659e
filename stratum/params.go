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
	return eachItem(req.params, func(_, v []byte) {
		if a.n < maxArgs {
			a.v[a.n] = v
		}
		a.n++
	})
}

// eachItem calls fn with each element of the array b (key nil), or each
// member of the object b (key the raw quoted key; see memberKey), in order,
// checking b's syntax. b starts with '[' or '{' and holds nothing after
// the container.
func eachItem(b []byte, fn func(key, v []byte)) error {
	end, err := skipContainer(b, 0, 1, fn)
	if err != nil {
		return err
	}
	if skipSpace(b, end) != len(b) {
		return &protocolError{"Parse error: trailing data after a container"}
	}
	return nil
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
