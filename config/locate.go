package config

import (
	"bytes"
	"strconv"
	"strings"
)

// locator finds the line of a key path ("nodes[1].rpc_url") in the source
// file. The TOML library does not expose key positions, and a problem that
// says where to look saves the operator a search, so the locator does a light
// line-by-line reading of the file: table and array-of-table headers,
// "key = value" lines with bare, quoted and dotted keys, and multi-line
// strings skipped. It is best effort: a key it cannot place (inside an inline
// table, say) is reported at its nearest located parent, or without a line.
type locator struct {
	lines map[string]int
}

// newLocator indexes data. It never fails; unreadable lines are skipped.
func newLocator(data []byte) *locator {
	l := &locator{lines: make(map[string]int)}
	arrays := make(map[string]int) // array-of-tables path -> entries seen
	table := ""
	inMulti := "" // closing delimiter of an open multi-line string
	for n, raw := range bytes.Split(data, []byte("\n")) {
		lineNo := n + 1
		line := strings.TrimSpace(string(raw))
		if inMulti != "" {
			if strings.Contains(line, inMulti) {
				inMulti = ""
			}
			continue
		}
		switch {
		case line == "" || line[0] == '#':
			continue
		case strings.HasPrefix(line, "[["):
			parts, rest, ok := parseKey(line[2:])
			if !ok || !strings.HasPrefix(rest, "]]") {
				continue
			}
			path := resolveTable(parts, arrays)
			l.record(path, lineNo)
			table = path + "[" + strconv.Itoa(arrays[path]) + "]"
			arrays[path]++
			l.record(table, lineNo)
		case line[0] == '[':
			parts, rest, ok := parseKey(line[1:])
			if !ok || !strings.HasPrefix(rest, "]") {
				continue
			}
			table = resolveTable(parts, arrays)
			l.record(table, lineNo)
		default:
			parts, rest, ok := parseKey(line)
			if !ok || !strings.HasPrefix(rest, "=") {
				continue
			}
			path := table
			for _, p := range parts {
				path = joinPath(path, p)
			}
			l.record(path, lineNo)
			value := strings.TrimSpace(rest[1:])
			for _, delim := range []string{`"""`, `'''`} {
				if strings.HasPrefix(value, delim) && !strings.Contains(value[3:], delim) {
					inMulti = delim
				}
			}
		}
	}
	return l
}

// record keeps the first line a path appears on.
func (l *locator) record(path string, line int) {
	if _, ok := l.lines[path]; !ok {
		l.lines[path] = line
	}
}

// line returns the line of path or of its nearest located parent, 0 if none.
func (l *locator) line(path string) int {
	for path != "" {
		if n, ok := l.lines[path]; ok {
			return n
		}
		path = parentPath(path)
	}
	return 0
}

// resolveTable turns header key parts into a path, pointing a prefix that
// names an array of tables at its latest entry as TOML does.
func resolveTable(parts []string, arrays map[string]int) string {
	path := ""
	for i, p := range parts {
		path = joinPath(path, p)
		if n := arrays[path]; n > 0 && i < len(parts)-1 {
			path += "[" + strconv.Itoa(n-1) + "]"
		}
	}
	return path
}

// parseKey reads a possibly dotted, possibly quoted TOML key from the start of
// s and returns its parts and the text after it (leading space trimmed).
func parseKey(s string) (parts []string, rest string, ok bool) {
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return nil, "", false
		}
		var part string
		switch s[0] {
		case '"':
			end := 1
			for end < len(s) && s[end] != '"' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(s) {
				return nil, "", false
			}
			unq, err := strconv.Unquote(s[:end+1])
			if err != nil {
				return nil, "", false
			}
			part, s = unq, s[end+1:]
		case '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return nil, "", false
			}
			part, s = s[1:end+1], s[end+2:]
		default:
			end := 0
			for end < len(s) && isBareKey(s[end:end+1]) {
				end++
			}
			if end == 0 {
				return nil, "", false
			}
			part, s = s[:end], s[end:]
		}
		parts = append(parts, part)
		s = strings.TrimLeft(s, " \t")
		if !strings.HasPrefix(s, ".") {
			return parts, s, true
		}
		s = s[1:]
	}
}

// parentPath drops the last segment ("a.b[2]" -> "a.b", "a.b" -> "a") of a
// path built by joinPath, ignoring dots and brackets inside quoted segments.
func parentPath(path string) string {
	cut, quoted := 0, false
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case (c == '.' || c == '[') && !quoted:
			cut = i
		}
	}
	return path[:cut]
}
