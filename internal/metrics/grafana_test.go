package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// dashboardPath is the Grafana dashboard over the series this package
// exports.
const dashboardPath = "../../docs/grafana-tarbela.json"

// series is what a scrape of every collector shows: each sample name
// (histograms with their _bucket, _sum and _count) with its label names and
// the values each label takes.
type series map[string]map[string]map[string]bool

// scrapeAll registers everything the daemon registers and gathers it.
func scrapeAll(t *testing.T) (series, map[string][]string) {
	t.Helper()
	m := New(func() int { return 1 })
	m.RegisterGuard(guard{})
	m.RegisterTLS(guard{})
	m.StoreObserver()
	m.SetBacklog(func() float64 { return 0 })
	m.RegisterLedger(fakeLedger{t: PayoutTotals{Batches: map[string]int{}}})
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := series{}
	// family lists, per registered family, the sample names it exports.
	family := map[string][]string{}
	add := func(name string, labels []*dto.LabelPair, extra ...string) {
		if out[name] == nil {
			out[name] = map[string]map[string]bool{}
		}
		for _, l := range labels {
			if out[name][l.GetName()] == nil {
				out[name][l.GetName()] = map[string]bool{}
			}
			out[name][l.GetName()][l.GetValue()] = true
		}
		for _, l := range extra {
			if out[name][l] == nil {
				out[name][l] = map[string]bool{}
			}
		}
	}
	for _, f := range fams {
		names := []string{f.GetName()}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			names = []string{f.GetName() + "_bucket", f.GetName() + "_sum", f.GetName() + "_count"}
		case dto.MetricType_SUMMARY:
			names = []string{f.GetName(), f.GetName() + "_sum", f.GetName() + "_count"}
		}
		family[f.GetName()] = names
		for _, m := range f.GetMetric() {
			for _, n := range names {
				var extra []string
				if strings.HasSuffix(n, "_bucket") {
					extra = []string{"le"}
				}
				add(n, m.GetLabel(), extra...)
			}
		}
	}
	return out, family
}

// targetLabels are the labels Prometheus adds to every series it scrapes.
var targetLabels = []string{"instance", "job"}

var (
	metricRE   = regexp.MustCompile(`\btarbela_[a-zA-Z0-9_:]*`)
	selectorRE = regexp.MustCompile(`\b(tarbela_[a-zA-Z0-9_:]*)\{([^}]*)\}`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	groupingRE = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	legendRE   = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
)

// query is one PromQL expression of the dashboard, with its legend and
// where it is.
type query struct{ where, expr, legend string }

// dashboardQueries returns every PromQL expression of the dashboard: the
// panels' targets (rows' nested panels too) and the template variables'
// queries. It fails unless every panel reads the dashboard's data source
// variable and panel ids are unique.
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	data, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	}
	type panel struct {
		ID         int             `json:"id"`
		Type       string          `json:"type"`
		Title      string          `json:"title"`
		Datasource json.RawMessage `json:"datasource"`
		Targets    []target        `json:"targets"`
		Panels     []panel         `json:"panels"`
		GridPos    *struct{ H, W, X, Y int }
	}
	var d struct {
		Title      string  `json:"title"`
		UID        string  `json:"uid"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string          `json:"name"`
				Definition string          `json:"definition"`
				Query      json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("%s: no title, uid or panels", dashboardPath)
	}
	var out []query
	ids := map[int]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup || p.ID == 0 {
				t.Errorf("panel %q: id %d (also %q)", p.Title, p.ID, prev)
			}
			ids[p.ID] = p.Title
			if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("panel %q: bad gridPos %+v", p.Title, p.GridPos)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if !strings.Contains(string(p.Datasource), "${datasource}") {
				t.Errorf("panel %q reads data source %s, not ${datasource}", p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				out = append(out, query{where: "panel " + p.Title, expr: tg.Expr, legend: tg.LegendFormat})
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			out = append(out, query{where: "variable " + v.Name, expr: v.Definition})
		}
	}
	return out
}

// TestGrafanaDashboard keeps docs/grafana-tarbela.json in step with the
// code: every metric a query names is one this package registers, every
// label it matches, groups by or prints is one that metric has (or one
// Prometheus adds), every label value it compares with equality is one the
// metric exports, and every registered metric is on the dashboard.
func TestGrafanaDashboard(t *testing.T) {
	got, families := scrapeAll(t)
	used := map[string]bool{}
	for _, q := range dashboardQueries(t) {
		names := metricRE.FindAllString(q.expr, -1)
		if len(names) == 0 {
			t.Errorf("%s: %q names no tarbela_ metric", q.where, q.expr)
		}
		labels := slices.Clone(targetLabels)
		for _, n := range names {
			used[n] = true
			if got[n] == nil {
				t.Errorf("%s: %s is not a series the pool exports (query %q)", q.where, n, q.expr)
				continue
			}
			for l := range got[n] {
				labels = append(labels, l)
			}
		}
		for _, sel := range selectorRE.FindAllStringSubmatch(q.expr, -1) {
			have := got[sel[1]]
			for _, m := range matcherRE.FindAllStringSubmatch(sel[2], -1) {
				label, op, value := m[1], m[2], m[3]
				if slices.Contains(targetLabels, label) {
					continue
				}
				if have[label] == nil {
					t.Errorf("%s: %s has no label %q (query %q)", q.where, sel[1], label, q.expr)
					continue
				}
				if op == "=" && !have[label][value] {
					t.Errorf("%s: %s{%s} takes no value %q (query %q)", q.where, sel[1], label, value, q.expr)
				}
			}
		}
		for _, g := range groupingRE.FindAllStringSubmatch(q.expr, -1) {
			for l := range strings.SplitSeq(g[1], ",") {
				if l = strings.TrimSpace(l); l != "" && !slices.Contains(labels, l) {
					t.Errorf("%s: groups by %q, which none of its metrics has (query %q)", q.where, l, q.expr)
				}
			}
		}
		for _, l := range legendRE.FindAllStringSubmatch(q.legend, -1) {
			if !slices.Contains(labels, l[1]) {
				t.Errorf("%s: legend %q prints %q, which none of its metrics has", q.where, q.legend, l[1])
			}
		}
	}
	for fam, names := range families {
		if !slices.ContainsFunc(names, func(n string) bool { return used[n] }) {
			t.Errorf("%s is exported but on no panel of %s: add it", fam, dashboardPath)
		}
	}
}
