package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

// static holds the dashboard as it is served: index.html at the top, the
// app's modules and stylesheet beside it, vendored libraries in vendor/.
//
//go:embed static
var static embed.FS

// assetPrefix is how index.html names the assets; the handler serves them
// under assetPrefix + version + "/".
const assetPrefix = "/assets/"

// contentTypes maps the file extensions the dashboard uses to their types.
// A file whose extension is not here is served as application/octet-stream
// (a test keeps every embedded file in this table).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".md":   "text/markdown; charset=utf-8",
	".png":  "image/png",
	".svg":  "image/svg+xml",
	"":      "text/plain; charset=utf-8", // LICENSE
}

// contentType is the type of the file name, and whether the table knows it.
func contentType(name string) (string, bool) {
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		return "application/octet-stream", false
	}
	return ct, true
}

// Cache-Control values: the page is checked at every load (its ETag makes
// that a 304), assets under the current version never change.
const (
	cacheIndex     = "no-cache"
	cacheImmutable = "public, max-age=31536000, immutable"
)

// csp keeps the page to its own origin: scripts, styles, images and API
// calls come from the pool itself and nothing else (uPlot sets element
// styles from script, hence the inline styles).
const csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// asset is one file ready to serve.
type asset struct {
	name  string // path in static, for ServeContent
	body  []byte
	gz    []byte // gzip of body, or nil where it does not pay
	ctype string
	etag  string
}

// handler serves the page and the assets.
type handler struct {
	version string
	index   *asset
	assets  map[string]*asset // by path below static, index.html left out
}

var build = sync.OnceValues(func() (*handler, error) { return newHandler(static) })

// Handler serves the dashboard: the page at "/" (and "/index.html") and
// the embedded assets under "/assets/<version>/"; any other path is 404,
// any method other than GET and HEAD is 405.
func Handler() http.Handler {
	h, err := build()
	if err != nil {
		// The embedded files are part of the binary; a test reads them all.
		panic("ui: " + err.Error())
	}
	return h
}

// newHandler reads every file of fsys (rooted above "static") into memory,
// names the version after their contents and points index.html's asset
// references at it.
func newHandler(fsys fs.FS) (*handler, error) {
	root, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, p)
		files[p] = b
		return err
	})
	if err != nil {
		return nil, err
	}
	raw, ok := files["index.html"]
	if !ok {
		return nil, fmt.Errorf("static/index.html is missing")
	}
	names := make([]string, 0, len(files))
	for p := range files {
		names = append(names, p)
	}
	sort.Strings(names)
	sum := sha256.New()
	for _, p := range names {
		fmt.Fprintf(sum, "%s\x00%d\x00", p, len(files[p]))
		sum.Write(files[p])
	}
	h := &handler{version: hex.EncodeToString(sum.Sum(nil))[:12], assets: map[string]*asset{}}
	for _, p := range names {
		if p == "index.html" {
			continue
		}
		h.assets[p] = newAsset(p, files[p])
	}
	page := bytes.ReplaceAll(raw, []byte(`"`+assetPrefix), []byte(`"`+assetPrefix+h.version+"/"))
	h.index = newAsset("index.html", page)
	return h, nil
}

func newAsset(name string, body []byte) *asset {
	ct, _ := contentType(name)
	sum := sha256.Sum256(body)
	a := &asset{name: name, body: body, ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	if len(body) >= 1024 {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(body)
		zw.Close()
		if buf.Len() < len(body)*9/10 {
			a.gz = buf.Bytes()
		}
	}
	return a
}

// ServeHTTP answers GET and HEAD for the page and the assets.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if p == "/" || p == "/index.html" {
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.serve(w, r, h.index, cacheIndex)
		return
	}
	rest, ok := strings.CutPrefix(p, assetPrefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	version, name, _ := strings.Cut(rest, "/")
	a := h.assets[name] // exact names only: no directories, no ".."
	if a == nil {
		http.NotFound(w, r)
		return
	}
	cache := cacheImmutable
	if version != h.version {
		// A page of another build (another node behind the same address,
		// or one loaded before an upgrade) asks for its assets: these are
		// the current ones, which it must not keep.
		cache = cacheIndex
	}
	h.serve(w, r, a, cache)
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, a *asset, cache string) {
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", cache)
	hd.Set("X-Content-Type-Options", "nosniff")
	body, etag := a.body, a.etag
	if a.gz != nil {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			hd.Set("Content-Encoding", "gzip")
			body, etag = a.gz, strings.TrimSuffix(a.etag, `"`)+`-gz"`
		}
	}
	hd.Set("ETag", etag)
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(body))
}

// acceptsGzip reports whether the request's Accept-Encoding takes gzip
// (and does not refuse it with q=0).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := strings.ReplaceAll(params, " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
