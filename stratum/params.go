package stratum

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// arrayParams decodes the params of a method that is not on the hot path
// into raw elements. Absent or null params are an empty list.
func arrayParams(req *request) ([]json.RawMessage, error) {
	if len(req.params) == 0 || string(req.params) == "null" {
		return nil, nil
	}
	if req.params[0] != '[' {
		return nil, &protocolError{"Invalid params: " + string(req.method) + " params must be an array"}
	}
	var p []json.RawMessage
	if err := json.Unmarshal(req.params, &p); err != nil {
		return nil, &protocolError{"Invalid params: " + string(req.method) + ": " + err.Error()}
	}
	return p, nil
}

// isNull reports whether a raw element is JSON null.
func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// stringParam decodes params[i] as a string; a missing or null element
// yields "" and ok=false.
func stringParam(req *request, p []json.RawMessage, i int, name string) (s string, ok bool, err error) {
	if i >= len(p) || isNull(p[i]) {
		return "", false, nil
	}
	if err := json.Unmarshal(p[i], &s); err != nil {
		return "", false, &protocolError{"Invalid params: " + string(req.method) + " " + name + " (param " + strconv.Itoa(i+1) + ") must be a string"}
	}
	return s, true, nil
}
