package config

import (
	"reflect"
	"strconv"
	"strings"
)

// Diff lists the keys whose values differ between a and b, by their TOML
// paths ("stratum.difficulty.min", "nodes[1].rpc_url", "nodes" when the
// number of nodes changed). Secrets compare by value but are never printed.
func Diff(a, b *Config) []string {
	var out []string
	diffValue(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem(), "", &out)
	return out
}

func diffValue(a, b reflect.Value, path string, out *[]string) {
	switch a.Kind() {
	case reflect.Struct:
		t := a.Type()
		if !hasKeys(t) {
			// A value type such as netip.Prefix: compared whole.
			if !reflect.DeepEqual(a.Interface(), b.Interface()) {
				*out = append(*out, path)
			}
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if key == "" || key == "-" {
				continue
			}
			diffValue(a.Field(i), b.Field(i), joinPath(path, key), out)
		}
	case reflect.Slice:
		if a.Type().Elem().Kind() == reflect.Struct && hasKeys(a.Type().Elem()) {
			if a.Len() != b.Len() {
				*out = append(*out, path)
				return
			}
			for i := range a.Len() {
				diffValue(a.Index(i), b.Index(i), path+"["+strconv.Itoa(i)+"]", out)
			}
			return
		}
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, path)
		}
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, path)
		}
	}
}

// hasKeys reports whether struct type t has fields with toml keys (a config
// table) rather than being a value (netip.Prefix).
func hasKeys(t reflect.Type) bool {
	for i := range t.NumField() {
		if key, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ","); key != "" && key != "-" {
			return true
		}
	}
	return false
}
