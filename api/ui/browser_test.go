package ui

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var updateScreenshot = flag.Bool("update-screenshot", false,
	"write docs/dashboard.png from the dashboard on the fake API")

// chromiumPath finds Debian's chromium (or $TARBELA_CHROMIUM). Without
// one the test is skipped, except as root: .ci/run installs it then, so
// a missing browser there is a failure, not a skip.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TARBELA_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium on PATH (nor $TARBELA_CHROMIUM): install it with 'apt-get install -y chromium' (.ci/run does when root)"
	if os.Geteuid() == 0 {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// runChromium runs headless Chromium once with a fresh profile and the
// flags this machine needs (no sandbox as root, no network of its own),
// and returns its standard output. The deadline only guards against a
// hang; nothing here measures speed.
func runChromium(t *testing.T, args ...string) []byte {
	t.Helper()
	bin := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	profile, err := os.MkdirTemp("", "tarbela-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(profile)
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--disable-crash-reporter", "--disable-breakpad",
		"--user-data-dir=" + profile, "--window-size=1280,1000", "--hide-scrollbars",
		// Virtual time runs the page until it is idle (the API's answers
		// in, the charts drawn) or 20 s of its own clock have passed:
		// less than the 30 s refresh, more than the fallback's 10 s.
		"--virtual-time-budget=20000",
	}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// renderedDOM loads url and returns the DOM after the scripts ran.
func renderedDOM(t *testing.T, url string) string {
	t.Helper()
	return string(runChromium(t, "--dump-dom", url))
}

// dashboardView is what checkDashboard read off the two pages.
type dashboardView struct {
	poolPoints    int               // points in the pool's hashrate chart
	blocks        []string          // heights in the blocks table, as shown in data-block
	stats         map[string]string // the pool's figures by data-stat
	accountPoints int               // points in the account's hashrate chart
	workers       map[string]string // the account's workers: name → hashrate as shown
	payments      int               // rows in the payments table
}

// checkDashboard opens the pool overview and the page of account on the
// dashboard at baseURL in headless Chromium and checks what any pool
// with shares and a block shows: the scripts ran and refreshed, no error
// notice, a drawn hashrate chart with points, a blocks table, and the
// account's workers each with a hashrate in units. It returns what it
// read for the caller to compare with the data it expects.
func checkDashboard(t *testing.T, baseURL, account string) dashboardView {
	t.Helper()
	var v dashboardView

	dom := renderedDOM(t, baseURL+"/")
	checkRan(t, "pool page", dom)
	v.poolPoints = chartPoints(t, "pool page", dom, "pool-hashrate")
	v.blocks = attrValues(dom, "tr", "data-block")
	if len(v.blocks) == 0 {
		t.Errorf("pool page: no rows in the blocks table\n%s", dom)
	}
	v.stats = stats(dom)
	for _, key := range []string{"hashrate-10m", "hashrate-1h", "hashrate-24h", "miners", "shares", "network"} {
		if s, ok := v.stats[key]; !ok || s == "—" {
			t.Errorf("pool page: figure %s is %q", key, s)
		}
	}
	if !unitRate.MatchString(v.stats["hashrate-10m"]) {
		t.Errorf("pool page: 10 min hashrate %q has no unit", v.stats["hashrate-10m"])
	}

	dom = renderedDOM(t, baseURL+"/#/account/"+account)
	checkRan(t, "account page", dom)
	v.accountPoints = chartPoints(t, "account page", dom, "account-hashrate")
	v.workers = workers(dom)
	if len(v.workers) == 0 {
		t.Errorf("account page: no workers\n%s", dom)
	}
	for name, rate := range v.workers {
		if !unitRate.MatchString(rate) {
			t.Errorf("account page: worker %s has hashrate %q, want a number with H/s units", name, rate)
		}
	}
	v.payments = len(attrValues(dom, "tr", "data-payment"))
	return v
}

var unitRate = regexp.MustCompile(`^\d+(\.\d+)? [kMGTPEZ]?H/s$`)

// checkRan fails unless the app started, finished a refresh and shows no
// error notice.
func checkRan(t *testing.T, page, dom string) {
	t.Helper()
	if !strings.Contains(dom, `data-app="started"`) {
		t.Fatalf("%s: the app did not start\n%s", page, dom)
	}
	if n, _ := strconv.Atoi(attr(firstTag(dom, "body", ""), "data-refreshed")); n < 1 {
		t.Errorf("%s: no refresh finished\n%s", page, dom)
	}
	if errs := errorTexts(dom); len(errs) > 0 {
		t.Errorf("%s: error notices: %q", page, errs)
	}
}

// chartPoints reads the named chart's point count and checks that uPlot
// drew it on a canvas.
func chartPoints(t *testing.T, page, dom, name string) int {
	t.Helper()
	tag := firstTag(dom, "div", `data-chart="`+name+`"`)
	if tag == "" {
		t.Errorf("%s: no chart %s\n%s", page, name, dom)
		return 0
	}
	n, err := strconv.Atoi(attr(tag, "data-points"))
	if err != nil || n == 0 {
		t.Errorf("%s: chart %s has data-points %q", page, name, attr(tag, "data-points"))
	}
	rest := dom[strings.Index(dom, tag):]
	if end := strings.Index(rest, "</section>"); end >= 0 {
		rest = rest[:end]
	}
	if !strings.Contains(rest, `class="uplot`) || !strings.Contains(rest, "<canvas") {
		t.Errorf("%s: chart %s has no uPlot canvas\n%s", page, name, rest)
	}
	return n
}

var tagRe = regexp.MustCompile(`<[a-z][a-z0-9]*\b[^>]*>`)

// firstTag is the first start tag of the element named that contains
// the text with (say, an attribute), or "".
func firstTag(dom, name, with string) string {
	for _, tag := range tagRe.FindAllString(dom, -1) {
		if strings.HasPrefix(tag, "<"+name+" ") || tag == "<"+name+">" {
			if strings.Contains(tag, with) {
				return tag
			}
		}
	}
	return ""
}

// attr is the value of the attribute of a start tag, unescaped.
func attr(tag, name string) string {
	m := regexp.MustCompile(`\s` + regexp.QuoteMeta(name) + `="([^"]*)"`).FindStringSubmatch(tag)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// attrValues lists the attribute's values over the elements named.
func attrValues(dom, name, attrName string) []string {
	var out []string
	for _, tag := range tagRe.FindAllString(dom, -1) {
		if strings.HasPrefix(tag, "<"+name+" ") && strings.Contains(tag, " "+attrName+"=") {
			out = append(out, attr(tag, attrName))
		}
	}
	return out
}

var (
	statRe   = regexp.MustCompile(`<div class="stat" data-stat="([^"]+)"><span class="stat-label">[^<]*</span><span class="stat-value"[^>]*>([^<]*)</span>`)
	workerRe = regexp.MustCompile(`<tr data-worker="([^"]+)">.*?<td class="num" data-hashrate="[^"]*">([^<]*)</td>`)
	errorRe  = regexp.MustCompile(`<p class="message error"[^>]*\sdata-error=""[^>]*>(.*?)</p>`)
	markupRe = regexp.MustCompile(`<[^>]*>`)
)

func stats(dom string) map[string]string {
	out := map[string]string{}
	for _, m := range statRe.FindAllStringSubmatch(dom, -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	return out
}

func workers(dom string) map[string]string {
	out := map[string]string{}
	for _, m := range workerRe.FindAllStringSubmatch(dom, -1) {
		out[html.UnescapeString(m[1])] = html.UnescapeString(m[2])
	}
	return out
}

// errorTexts are the texts of the page's error notices.
func errorTexts(dom string) []string {
	var out []string
	for _, m := range errorRe.FindAllStringSubmatch(dom, -1) {
		out = append(out, html.UnescapeString(markupRe.ReplaceAllString(m[1], "")))
	}
	return out
}

// TestDashboardInChromium runs the dashboard in headless Chromium against
// the fake API and checks that what it shows is the fake's data.
func TestDashboardInChromium(t *testing.T) {
	chromiumPath(t)
	srv := dashboardServer(t, Handler(), newFakeAPI())
	v := checkDashboard(t, srv.URL, fakeAccount)
	if v.poolPoints != 144 || v.accountPoints != 144 {
		t.Errorf("chart points: pool %d, account %d; want 144 each", v.poolPoints, v.accountPoints)
	}
	if got := strings.Join(v.blocks, ","); got != "871198,870412" {
		t.Errorf("block rows %s, want 871198,870412", got)
	}
	want := map[string]string{
		fakeAccount + ".rig01": "231 TH/s",
		fakeAccount + ".rig02": "96.0 TH/s",
	}
	if fmt.Sprint(v.workers) != fmt.Sprint(want) {
		t.Errorf("workers %v, want %v", v.workers, want)
	}
	if v.stats["hashrate-10m"] != "1.35 EH/s" || v.stats["network"] != "871,204" {
		t.Errorf("pool figures %v", v.stats)
	}
	if v.payments != 2 {
		t.Errorf("%d payment rows, want 2", v.payments)
	}
	if *updateScreenshot {
		writeScreenshot(t, srv.URL+"/", filepath.Join("..", "..", "docs", "dashboard.png"))
	}
}

// writeScreenshot saves a PNG of the page at url to path.
func writeScreenshot(t *testing.T, url, path string) {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	runChromium(t, "--screenshot="+abs, "--window-size=1280,960", url)
	fi, err := os.Stat(abs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, fi.Size())
}

// TestDashboardShowsAPIErrors: what goes wrong in the API is said on the
// page, which keeps its frame and whatever else did load: the pool's
// figures down (503 with the API's message), the blocks from a proxy's
// HTML error page, a chart with no points, a list that is not a list, an
// unknown address and a malformed one.
func TestDashboardShowsAPIErrors(t *testing.T) {
	chromiumPath(t)
	fake := newFakeAPI()
	broken := http.NewServeMux()
	broken.HandleFunc("GET /api/v1/pool", func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusServiceUnavailable, "redis: dial tcp 127.0.0.1:6379: connection refused", "")
	})
	broken.HandleFunc("GET /api/v1/pool/hashrate", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"window": "24h", "step": "10m", "points": []any{}})
	})
	broken.HandleFunc("GET /api/v1/blocks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
	})
	broken.HandleFunc("GET /api/v1/accounts/{address}/hashrate", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"points": "soon"})
	})
	broken.Handle("/api/v1/", fake)
	srv := dashboardServer(t, Handler(), broken)

	dom := renderedDOM(t, srv.URL+"/")
	if !strings.Contains(dom, `data-page="pool"`) {
		t.Fatalf("pool page not shown\n%s", dom)
	}
	wantErrors(t, "pool page", dom,
		"The pool's API says: redis: dial tcp 127.0.0.1:6379: connection refused",
		"The pool's API says: the pool's API answered 502 Bad Gateway")
	if tag := firstTag(dom, "div", `data-chart="pool-hashrate"`); attr(tag, "data-points") != "0" ||
		!strings.Contains(dom, "No hashrate recorded in the last 24 hours.") {
		t.Errorf("empty series: chart %s without its note", tag)
	}

	dom = renderedDOM(t, srv.URL+"/#/account/"+fakeAccount)
	wantErrors(t, "account page", dom, `The API's answer could not be shown ("points" is not a list).`)
	if len(workers(dom)) != 2 {
		t.Errorf("account page: workers %v, want the two of the account", workers(dom))
	}

	dom = renderedDOM(t, srv.URL+"/#/account/"+fakeStranger)
	wantErrors(t, "unknown address", dom)
	if !strings.Contains(dom, "No shares from this address yet.") {
		t.Errorf("unknown address: no 'No shares from this address yet.'\n%s", dom)
	}

	dom = renderedDOM(t, srv.URL+"/#/account/not-an-address")
	wantErrors(t, "malformed address", dom,
		`This is not an address the pool can look up: address: "not-an-address" is not an address of the mainnet network`)
}

// wantErrors checks that the page's error notices are exactly want.
func wantErrors(t *testing.T, page, dom string, want ...string) {
	t.Helper()
	got := errorTexts(dom)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: error notices\n%q\nwant\n%q", page, got, want)
	}
	if !strings.Contains(dom, `data-refreshed="1"`) {
		t.Errorf("%s: the refresh did not finish", page)
	}
}

// TestDashboardWithoutItsModules: a build that lost a module (here the
// vendored chart library) still says something instead of a blank page.
func TestDashboardWithoutItsModules(t *testing.T) {
	chromiumPath(t)
	files := embeddedCopy(t)
	delete(files, "static/vendor/uplot/uPlot.esm.js")
	h, err := newHandler(files)
	if err != nil {
		t.Fatal(err)
	}
	srv := dashboardServer(t, h, newFakeAPI())
	dom := renderedDOM(t, srv.URL+"/")
	got := errorTexts(dom)
	if len(got) != 1 || !strings.HasPrefix(got[0], "The dashboard's scripts did not start.") {
		t.Errorf("error notices %q, want the fallback's\n%s", got, dom)
	}
}
