package ui

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// serve runs one request through Handler.
func serve(method, target string, header map[string]string) *http.Response {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	Handler().ServeHTTP(w, r)
	return w.Result()
}

func version(t *testing.T) string {
	t.Helper()
	h, err := build()
	if err != nil {
		t.Fatal(err)
	}
	return h.version
}

// embeddedFiles lists the files below static/, as the handler names them.
func embeddedFiles(t *testing.T, fsys fs.FS) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := fs.WalkDir(fsys, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		out[strings.TrimPrefix(p, "static/")] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// embeddedCopy is a copy of the embedded tree that a test can change.
func embeddedCopy(t *testing.T) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	for name, body := range embeddedFiles(t, static) {
		m["static/"+name] = &fstest.MapFile{Data: body}
	}
	return m
}

// wantTypes is the Content-Type each kind of embedded file must get.
var wantTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".md":   "text/markdown; charset=utf-8",
	"":      "text/plain; charset=utf-8",
}

// TestHandlerServesEveryAsset fetches every embedded file under the
// current version: the bytes as embedded, the right type, cached for good.
func TestHandlerServesEveryAsset(t *testing.T) {
	v := version(t)
	files := embeddedFiles(t, static)
	for _, need := range []string{"index.html", "app.js", "style.css", "vendor/uplot/uPlot.esm.js",
		"vendor/uplot/uPlot.min.css", "vendor/uplot/LICENSE", "vendor/uplot/VENDOR.md"} {
		if _, ok := files[need]; !ok {
			t.Errorf("static/%s is not embedded", need)
		}
	}
	for name, body := range files {
		if name == "index.html" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			want, ok := wantTypes[path.Ext(name)]
			if _, known := contentType(name); !ok || !known {
				t.Fatalf("no content type for %s: add it to contentTypes (and to wantTypes here)", name)
			}
			res := serve("GET", "/assets/"+v+"/"+name, nil)
			got, _ := io.ReadAll(res.Body)
			if res.StatusCode != 200 || !bytes.Equal(got, body) {
				t.Fatalf("status %d, %d bytes; want 200 and the %d embedded bytes", res.StatusCode, len(got), len(body))
			}
			checkHeaders(t, res, want, cacheImmutable)
		})
	}
	res := serve("GET", "/", nil)
	page, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || !bytes.Contains(page, []byte(`src="/assets/`+v+`/app.js"`)) {
		t.Errorf("/: status %d, page without the versioned app.js:\n%s", res.StatusCode, page)
	}
	checkHeaders(t, res, wantTypes[".html"], cacheIndex)
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("/: Content-Security-Policy %q", csp)
	}
}

func checkHeaders(t *testing.T, res *http.Response, ctype, cache string) {
	t.Helper()
	h := res.Header
	if h.Get("Content-Type") != ctype || h.Get("Cache-Control") != cache ||
		h.Get("X-Content-Type-Options") != "nosniff" || h.Get("ETag") == "" {
		t.Errorf("headers %v; want Content-Type %q, Cache-Control %q, nosniff and an ETag", h, ctype, cache)
	}
}

// TestHandlerPaths: the page, what is not a file (directories, paths
// that climb out, the app's fragment routes asked as paths), methods,
// revalidation, gzip and assets asked under another build's version.
func TestHandlerPaths(t *testing.T) {
	v := version(t)
	for _, tc := range []struct {
		name, method, target string
		status               int
		cache                string
	}{
		{"page", "GET", "/", 200, cacheIndex},
		{"page by name", "GET", "/index.html", 200, cacheIndex},
		{"page, HEAD", "HEAD", "/", 200, cacheIndex},
		{"asset", "GET", "/assets/" + v + "/app.js", 200, cacheImmutable},
		{"asset of another build", "GET", "/assets/0123456789ab/app.js", 200, cacheIndex},
		{"asset without a version", "GET", "/assets/app.js", 404, ""},
		{"assets root", "GET", "/assets/", 404, ""},
		{"version directory", "GET", "/assets/" + v + "/", 404, ""},
		{"vendor directory", "GET", "/assets/" + v + "/vendor", 404, ""},
		{"uplot directory", "GET", "/assets/" + v + "/vendor/uplot/", 404, ""},
		{"page as asset", "GET", "/assets/" + v + "/index.html", 404, ""},
		{"climbing out", "GET", "/assets/" + v + "/../../ui.go", 404, ""},
		{"unknown file", "GET", "/assets/" + v + "/nope.js", 404, ""},
		{"static path", "GET", "/static/app.js", 404, ""},
		{"app route as path", "GET", "/account/bc1qt6q6nc8qzkn7maqxcqnz9pju493gcrue786lw6", 404, ""},
		{"API path", "GET", "/api/v1/pool", 404, ""},
		{"POST", "POST", "/", 405, ""},
		{"DELETE asset", "DELETE", "/assets/" + v + "/app.js", 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := serve(tc.method, tc.target, nil)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status {
				t.Fatalf("%s %s: status %d, want %d", tc.method, tc.target, res.StatusCode, tc.status)
			}
			if tc.cache != "" && res.Header.Get("Cache-Control") != tc.cache {
				t.Errorf("Cache-Control %q, want %q", res.Header.Get("Cache-Control"), tc.cache)
			}
			if tc.status == 405 && res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", res.Header.Get("Allow"))
			}
			if tc.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD sent %d bytes", len(body))
			}
			if tc.status == 404 && bytes.Contains(body, []byte("<a href")) {
				t.Errorf("404 looks like a listing: %s", body)
			}
		})
	}

	t.Run("revalidation", func(t *testing.T) {
		for _, target := range []string{"/", "/assets/" + v + "/style.css"} {
			etag := serve("GET", target, nil).Header.Get("ETag")
			res := serve("GET", target, map[string]string{"If-None-Match": etag})
			if res.StatusCode != http.StatusNotModified {
				t.Errorf("%s with If-None-Match %s: status %d, want 304", target, etag, res.StatusCode)
			}
		}
	})

	t.Run("gzip", func(t *testing.T) {
		name := "vendor/uplot/uPlot.esm.js"
		want, _ := fs.ReadFile(static, "static/"+name)
		plain := serve("GET", "/assets/"+v+"/"+name, nil)
		res := serve("GET", "/assets/"+v+"/"+name, map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
		if res.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
			t.Fatalf("headers %v: want Content-Encoding gzip and Vary Accept-Encoding", res.Header)
		}
		if res.Header.Get("ETag") == plain.Header.Get("ETag") {
			t.Errorf("gzip and plain share the ETag %s", res.Header.Get("ETag"))
		}
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("gunzipped %d bytes (err %v), want the %d embedded", len(got), err, len(want))
		}
		refused := serve("GET", "/assets/"+v+"/"+name, map[string]string{"Accept-Encoding": "gzip;q=0"})
		if refused.Header.Get("Content-Encoding") != "" {
			t.Errorf("gzip;q=0 answered with Content-Encoding %q", refused.Header.Get("Content-Encoding"))
		}
	})
}

var (
	attrRefRe   = regexp.MustCompile(`\b(?:src|href)\s*=\s*"([^"]*)"`)
	importRe    = regexp.MustCompile(`(?m)(?:^|[;}\s])(?:import|export)\s*(?:[\w*${},\s]+?\s*from\s*)?['"]([^'"]+)['"]`)
	dynImportRe = regexp.MustCompile(`\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)`)
	cssURLRe    = regexp.MustCompile(`url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]`)
)

// references checks that every file the page, the modules and the
// stylesheets of fsys (rooted above static/) refer to is embedded, and
// returns a line per reference that is not.
func references(t *testing.T, fsys fs.FS) []string {
	t.Helper()
	files := embeddedFiles(t, fsys)
	var problems []string
	index, ok := files["index.html"]
	if !ok {
		return []string{"static/index.html is missing"}
	}
	page := stripHTMLComments(string(index))
	for _, m := range attrRefRe.FindAllStringSubmatch(page, -1) {
		ref := m[1]
		switch {
		case strings.HasPrefix(ref, "#"), ref == "data:,":
		case strings.HasPrefix(ref, assetPrefix):
			if _, ok := files[strings.TrimPrefix(ref, assetPrefix)]; !ok {
				problems = append(problems, "index.html refers to "+ref+", which is not embedded")
			}
		default:
			problems = append(problems, "index.html refers to "+ref+", which is not under "+assetPrefix)
		}
	}
	for name, body := range files {
		var refs []string
		switch path.Ext(name) {
		case ".js":
			code := stripJSComments(string(body))
			for _, m := range importRe.FindAllStringSubmatch(code, -1) {
				refs = append(refs, m[1])
			}
			for _, m := range dynImportRe.FindAllStringSubmatch(code, -1) {
				refs = append(refs, m[1])
			}
		case ".css":
			for _, m := range cssURLRe.FindAllStringSubmatch(stripBlockComments(string(body)), -1) {
				refs = append(refs, m[1]+m[2])
			}
		}
		for _, ref := range refs {
			if strings.HasPrefix(ref, "data:") {
				continue
			}
			if !strings.HasPrefix(ref, "./") && !strings.HasPrefix(ref, "../") {
				problems = append(problems, name+" refers to "+ref+": only relative paths to embedded files")
				continue
			}
			target := path.Join(path.Dir(name), ref)
			if _, ok := files[target]; !ok {
				problems = append(problems, name+" refers to "+ref+" ("+target+"), which is not embedded")
			}
		}
	}
	return problems
}

// TestReferencesAreEmbedded: the page, its modules' imports and the
// stylesheets' url()s name only embedded files, and each is served.
func TestReferencesAreEmbedded(t *testing.T) {
	for _, p := range references(t, static) {
		t.Error(p)
	}
	res := serve("GET", "/", nil)
	page, _ := io.ReadAll(res.Body)
	for _, m := range attrRefRe.FindAllStringSubmatch(string(page), -1) {
		if strings.HasPrefix(m[1], assetPrefix) {
			if r := serve("GET", m[1], nil); r.StatusCode != 200 {
				t.Errorf("the page refers to %s: status %d", m[1], r.StatusCode)
			}
		}
	}
}

// TestReferencesCheckFails runs the reference check on trees with a file
// missing or an outside reference, so that it is known to catch them.
func TestReferencesCheckFails(t *testing.T) {
	base := embeddedCopy(t)
	for _, tc := range []struct {
		name string
		edit func(fstest.MapFS)
		want string
	}{
		{"vendored module missing", func(m fstest.MapFS) { delete(m, "static/vendor/uplot/uPlot.esm.js") },
			"chart.js refers to ./vendor/uplot/uPlot.esm.js"},
		{"vendored stylesheet missing", func(m fstest.MapFS) { delete(m, "static/vendor/uplot/uPlot.min.css") },
			"index.html refers to /assets/vendor/uplot/uPlot.min.css, which is not embedded"},
		{"licence missing", func(m fstest.MapFS) { delete(m, "static/vendor/uplot/LICENSE") },
			"index.html refers to /assets/vendor/uplot/LICENSE"},
		{"module missing", func(m fstest.MapFS) { delete(m, "static/format.js") },
			"refers to ./format.js (format.js), which is not embedded"},
		{"script from elsewhere", func(m fstest.MapFS) {
			m["static/index.html"] = &fstest.MapFile{Data: []byte(`<script src="https://cdn.example/x.js"></script>`)}
		}, "index.html refers to https://cdn.example/x.js, which is not under /assets/"},
		{"bare import", func(m fstest.MapFS) {
			m["static/extra.js"] = &fstest.MapFile{Data: []byte("import uPlot from 'uplot';\n")}
		}, "extra.js refers to uplot: only relative paths"},
		{"dynamic import", func(m fstest.MapFS) {
			m["static/extra.js"] = &fstest.MapFile{Data: []byte("const m = await import('./gone.js');\n")}
		}, "extra.js refers to ./gone.js"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := fstest.MapFS{}
			for k, v := range base {
				m[k] = v
			}
			tc.edit(m)
			problems := strings.Join(references(t, m), "\n")
			if !strings.Contains(problems, tc.want) {
				t.Errorf("problems:\n%s\nwant one with %q", problems, tc.want)
			}
		})
	}
}

// TestNoExternalURLs: nothing served names another host, outside
// comments and the licence (the dashboard loads nothing from elsewhere).
func TestNoExternalURLs(t *testing.T) {
	for name, body := range embeddedFiles(t, static) {
		if path.Base(name) == "LICENSE" {
			continue
		}
		if u := externalURL(name, string(body)); u != "" {
			t.Errorf("%s: %s", name, u)
		}
	}
	res := serve("GET", "/", nil)
	page, _ := io.ReadAll(res.Body)
	if u := externalURL("index.html", string(page)); u != "" {
		t.Errorf("served page: %s", u)
	}
}

var urlRe = regexp.MustCompile("(?i)https?://[^\\s\"'`<>)]*")

// externalURL is the first http(s) URL in the code of a file (its
// comments left out), or "".
func externalURL(name, body string) string {
	switch path.Ext(name) {
	case ".js":
		body = stripJSComments(body)
	case ".css":
		body = stripBlockComments(body)
	case ".html":
		body = stripHTMLComments(body)
	}
	return urlRe.FindString(body)
}

func TestExternalURLCheck(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"a.js", "// see https://example.org/doc\nconst x = 1;\n", ""},
		{"a.js", "/* https://example.org/a\n * http://example.org/b */ f();", ""},
		{"a.js", `const u = "https://example.org/x.js";`, "https://example.org/x.js"},
		{"a.js", `const u = 'a // b'; fetch("http://example.org/api");`, "http://example.org/api"},
		{"a.js", "const u = `http://example.org/${x}`;", "http://example.org/${x}"},
		{"a.js", "const t = `a ${'}'} // not a comment https://example.org/t`;", "https://example.org/t"},
		{"a.js", `const re = /\/\//g; const u = "https://example.org/r";`, "https://example.org/r"},
		{"a.js", `const r = a / b; // https://example.org/c` + "\n", ""},
		{"a.css", "/* https://example.org/c */ body { background: url(https://example.org/i.png); }", "https://example.org/i.png"},
		{"a.html", "<!-- https://example.org/ --><p>x</p>", ""},
		{"a.html", `<script src="https://example.org/s.js"></script>`, "https://example.org/s.js"},
		{"a.md", "fetched with npm pack", ""},
	} {
		if got := externalURL(tc.name, tc.body); got != tc.want {
			t.Errorf("%s %q: found %q, want %q", tc.name, tc.body, got, tc.want)
		}
	}
}

// stripHTMLComments blanks <!-- --> comments out.
func stripHTMLComments(s string) string {
	return regexp.MustCompile(`(?s)<!--.*?-->`).ReplaceAllString(s, " ")
}

// stripBlockComments blanks /* */ comments out (CSS).
func stripBlockComments(s string) string {
	return regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(s, " ")
}

// stripJSComments returns JavaScript source without its comments,
// keeping strings, template literals (with their ${} parts) and regular
// expression literals as they are, so that a "//" inside one of them is
// not taken for a comment.
func stripJSComments(src string) string {
	l := &jsLexer{src: src}
	l.code(false)
	return l.out.String()
}

type jsLexer struct {
	src  string
	i    int
	out  strings.Builder
	last byte   // the last character of code, not space or comment
	word string // the last word of code, for "return /re/"
}

// code copies code up to the end, or when nested (inside a template's
// ${}) up to and including its closing brace.
func (l *jsLexer) code(nested bool) {
	depth := 0
	for l.i < len(l.src) {
		c := l.src[l.i]
		next := byte(0)
		if l.i+1 < len(l.src) {
			next = l.src[l.i+1]
		}
		switch {
		case c == '/' && next == '/':
			for l.i < len(l.src) && l.src[l.i] != '\n' {
				l.i++
			}
		case c == '/' && next == '*':
			end := strings.Index(l.src[l.i+2:], "*/")
			if end < 0 {
				l.i = len(l.src)
			} else {
				l.i += 2 + end + 2
			}
			l.out.WriteByte(' ')
		case c == '\'' || c == '"':
			l.quoted(c)
		case c == '`':
			l.template()
		case c == '/' && l.regexAllowed():
			l.regex()
		default:
			if nested && c == '{' {
				depth++
			}
			if nested && c == '}' {
				if depth == 0 {
					l.emit(c)
					return
				}
				depth--
			}
			l.emit(c)
		}
	}
}

func (l *jsLexer) emit(c byte) {
	l.out.WriteByte(c)
	l.i++
	switch {
	case c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
		if l.last == 0 || !isWordByte(l.last) {
			l.word = ""
		}
		l.word += string(c)
		l.last = c
	case c == ' ' || c == '\t' || c == '\n' || c == '\r':
	default:
		l.word = ""
		l.last = c
	}
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// regexAllowed reports whether a "/" here starts a regular expression
// rather than a division: after an operator, an opening bracket or a
// keyword such as return, not after a name, a number or a closing bracket.
func (l *jsLexer) regexAllowed() bool {
	if isWordByte(l.last) {
		switch l.word {
		case "return", "typeof", "case", "do", "else", "in", "instanceof", "new", "delete", "void", "throw", "yield", "await":
			return true
		}
		return false
	}
	return l.last != ')' && l.last != ']'
}

// quoted copies a string literal opened by q, escapes included.
func (l *jsLexer) quoted(q byte) {
	l.out.WriteByte(q)
	l.i++
	for l.i < len(l.src) {
		c := l.src[l.i]
		l.out.WriteByte(c)
		l.i++
		if c == '\\' && l.i < len(l.src) {
			l.out.WriteByte(l.src[l.i])
			l.i++
			continue
		}
		if c == q || c == '\n' {
			break
		}
	}
	l.last, l.word = q, ""
}

func (l *jsLexer) template() {
	l.out.WriteByte('`')
	l.i++
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case c == '\\' && l.i+1 < len(l.src):
			l.out.WriteString(l.src[l.i : l.i+2])
			l.i += 2
		case c == '$' && l.i+1 < len(l.src) && l.src[l.i+1] == '{':
			l.out.WriteString("${")
			l.i += 2
			l.last, l.word = '{', ""
			l.code(true)
		case c == '`':
			l.out.WriteByte(c)
			l.i++
			l.last, l.word = '`', ""
			return
		default:
			l.out.WriteByte(c)
			l.i++
		}
	}
}

func (l *jsLexer) regex() {
	inClass := false
	l.out.WriteByte('/')
	l.i++
	for l.i < len(l.src) {
		c := l.src[l.i]
		l.out.WriteByte(c)
		l.i++
		switch {
		case c == '\\' && l.i < len(l.src):
			l.out.WriteByte(l.src[l.i])
			l.i++
		case c == '[':
			inClass = true
		case c == ']':
			inClass = false
		case c == '/' && !inClass, c == '\n':
			l.last, l.word = ')', "" // flags may follow; then a "/" divides
			return
		}
	}
}
