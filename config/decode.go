package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// The decoder walks the generic TOML tree itself instead of letting the TOML
// library fill the struct: the library stops at the first type mismatch, and
// an operator fixing a file one error per run is exactly what validation that
// "names every bad field at once" is meant to prevent. Walking the tree also
// gives every problem an exact path, including the index of a [[nodes]] entry.

var (
	durationType = reflect.TypeFor[time.Duration]()
	prefixType   = reflect.TypeFor[netip.Prefix]()
	nodeType     = reflect.TypeFor[Node]()
)

// decodeTOML parses data into the generic TOML tree. Only syntax errors fail
// here; they carry the line and column from the TOML library.
func decodeTOML(data []byte) (map[string]any, error) {
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("config: TOML syntax: %w", err)
	}
	return raw, nil
}

// decodeConfig applies the tree over c, which holds the defaults.
func decodeConfig(raw map[string]any, c *Config, p *problems) {
	decodeTable(raw, reflect.ValueOf(c).Elem(), "", p)
}

// fieldInfo is how one struct field is spelt and read in the file.
type fieldInfo struct {
	index int
	hex   bool // a uint32 written as exactly 8 hex digits
}

// fieldsOf maps the toml keys of struct type t to its fields.
func fieldsOf(t reflect.Type) map[string]fieldInfo {
	fields := make(map[string]fieldInfo, t.NumField())
	for i := range t.NumField() {
		tag := t.Field(i).Tag.Get("toml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = fieldInfo{index: i, hex: opts == "hex"}
	}
	return fields
}

// decodeTable applies table m to struct rv, reporting unknown keys.
func decodeTable(m map[string]any, rv reflect.Value, path string, p *problems) {
	fields := fieldsOf(rv.Type())
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kp := joinPath(path, k)
		fi, ok := fields[k]
		if !ok {
			p.add(kp, "%s", unknownKeyMessage(k, fields))
			continue
		}
		decodeValue(m[k], rv.Field(fi.index), kp, fi.hex, p)
	}
}

// unknownKeyMessage suggests the closest known key when the unknown one looks
// like a typo of it.
func unknownKeyMessage(k string, fields map[string]fieldInfo) string {
	best, bestDist := "", 3
	for name := range fields {
		if d := editDistance(k, name); d < bestDist || (d == bestDist && name < best) {
			best, bestDist = name, d
		}
	}
	if best != "" && bestDist <= 2 {
		return fmt.Sprintf("unknown key; did you mean %q?", best)
	}
	return "unknown key; config/tarbela.sample.toml lists every valid key"
}

// decodeValue stores TOML value v into fv, or reports why it cannot.
func decodeValue(v any, fv reflect.Value, path string, hex bool, p *problems) {
	switch fv.Type() {
	case durationType:
		s, ok := v.(string)
		if !ok {
			p.add(path, "must be a duration string such as \"30s\" (got %s)", describe(v))
			return
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			p.add(path, "must be a duration such as \"30s\" or \"1m30s\" (got %q)", s)
			return
		}
		fv.SetInt(int64(d))
		return
	case prefixType:
		s, ok := v.(string)
		if !ok {
			p.add(path, "must be a string such as \"203.0.113.0/24\" (got %s)", describe(v))
			return
		}
		pfx, err := parsePrefix(s)
		if err != nil {
			p.add(path, "must be a CIDR such as \"203.0.113.0/24\" or a single address (got %q)", s)
			return
		}
		fv.Set(reflect.ValueOf(pfx))
		return
	}

	switch fv.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			p.add(path, "must be a string (got %s)", describe(v))
			return
		}
		fv.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			p.add(path, "must be true or false (got %s)", describe(v))
			return
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, ok := v.(int64)
		if !ok || fv.OverflowInt(n) {
			p.add(path, "must be an integer (got %s)", describe(v))
			return
		}
		fv.SetInt(n)
	case reflect.Uint32:
		if !hex {
			p.add(path, "internal: uint32 field without the hex option")
			return
		}
		s, ok := v.(string)
		n, err := strconv.ParseUint(s, 16, 32)
		if !ok || len(s) != 8 || err != nil {
			p.add(path, "must be 8 hex digits in a string such as \"1fffe000\" (got %s)", describe(v))
			return
		}
		fv.SetUint(n)
	case reflect.Float64:
		switch n := v.(type) {
		case int64:
			fv.SetFloat(float64(n))
		case float64:
			fv.SetFloat(n)
		default:
			p.add(path, "must be a number (got %s)", describe(v))
		}
	case reflect.Slice:
		items, ok := asArray(v)
		if !ok {
			p.add(path, "must be an array (got %s)", describe(v))
			return
		}
		if len(items) == 0 {
			fv.SetZero() // nil, as in Default, so an empty array changes nothing
			return
		}
		out := reflect.MakeSlice(fv.Type(), len(items), len(items))
		for i, it := range items {
			elem := out.Index(i)
			if elem.Type() == nodeType {
				elem.Set(reflect.ValueOf(DefaultNode()))
			}
			decodeValue(it, elem, fmt.Sprintf("%s[%d]", path, i), false, p)
		}
		fv.Set(out)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			p.add(path, "must be a table (got %s)", describe(v))
			return
		}
		decodeTable(m, fv, path, p)
	default:
		p.add(path, "internal: unsupported field type %s", fv.Type())
	}
}

// asArray returns the elements of a TOML array or array of tables.
func asArray(v any) ([]any, bool) {
	switch a := v.(type) {
	case []any:
		return a, true
	case []map[string]any:
		items := make([]any, len(a))
		for i, m := range a {
			items[i] = m
		}
		return items, true
	}
	return nil, false
}

// parsePrefix accepts a CIDR or a bare address (taken as a single-address
// prefix) and returns it in canonical, masked form.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return pfx.Masked(), nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

// describe names a TOML value's type and, for scalars, its value, so a
// problem shows the operator what was actually read.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return "string " + strconv.Quote(x)
	case int64:
		return "integer " + strconv.FormatInt(x, 10)
	case float64:
		return "float " + strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return "a date/time"
	}
}

// joinPath appends key k to a problem path, quoting keys that are not bare
// TOML keys so the path can be matched against the file.
func joinPath(path, k string) string {
	seg := k
	if !isBareKey(k) {
		seg = strconv.Quote(k)
	}
	if path == "" {
		return seg
	}
	return path + "." + seg
}

// isBareKey reports whether k can be written unquoted in TOML.
func isBareKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// editDistance is the optimal-string-alignment distance between a and b
// (insertions, deletions, substitutions and adjacent transpositions, the
// usual typing slips), used only to suggest a key for a typo.
func editDistance(a, b string) int {
	// d[i][j] is the distance between a[:i] and b[:j]; three rows suffice.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
