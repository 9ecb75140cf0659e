package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/internal/devnet"
	"github.com/tarbela-pool/tarbela/internal/energy"
)

// runTarbela runs `tarbela args...` in-process and fails the test unless
// it exits with want; it returns stdout and stderr.
func runTarbela(t *testing.T, want int, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(args, &out, &errb); code != want {
		t.Fatalf("tarbela %s: exit %d, want %d; stdout %s stderr %s", strings.Join(args, " "), code, want, out.String(), errb.String())
	}
	return out.String() + errb.String()
}

// reportCmdRe finds the report command the devnet prints.
var reportCmdRe = regexp.MustCompile("`tarbela (energy report -config [^`]+)`")

// TestDevnetEnergy walks the README's energy paragraph on a devnet with its
// two default CPU miners: `config check` accepts the devnet's tarbela.toml;
// the report command the devnet prints (as JSON) shows, once both miners
// had shares accepted, work at both sites in the open hour, flagged open
// and unsigned; a meter file for the hour far above what the work explains
// is imported and flagged meter_over; a curtailment is recorded and
// reported; verify refuses the open hour's rows (no sealed record).
func TestDevnetEnergy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs btcd, redis-server and two CPU miners")
	}
	dir := t.TempDir()
	out := outputFile(t, t.TempDir(), "devnet.out")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan devnet.Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- devnet.Run(ctx, devnet.Options{Dir: dir, Miners: 2, Stratum: "127.0.0.1:0", StatusEvery: time.Second, Out: out.f,
			Ready: func(i devnet.Info) { ready <- i }})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("devnet: %v", err)
			}
		case <-time.After(time.Minute):
			t.Errorf("devnet did not stop\n%s", out.String())
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		done <- err
		t.Fatalf("devnet stopped before it was ready: %v\n%s", err, out.String())
	case <-time.After(3 * time.Minute):
		t.Fatalf("devnet not ready\n%s", out.String())
	}
	cfgPath := filepath.Join(dir, "tarbela.toml")
	tarbela := func(want int, args ...string) string {
		t.Helper()
		return runTarbela(t, want, args...)
	}
	if got := tarbela(0, "config", "check", cfgPath); !strings.Contains(got, "OK") {
		t.Errorf("config check of the devnet's tarbela.toml: %s", got)
	}
	m := reportCmdRe.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("the devnet printed no energy report command:\n%s", out.String())
	}
	report := append(strings.Fields(m[1]), "--format", "json")
	if report[3] != cfgPath {
		t.Fatalf("printed report command %q: config %q, want %q", m[1], report[3], cfgPath)
	}
	rows := func() []energy.Row {
		t.Helper()
		var rs []energy.Row
		for _, l := range strings.Split(strings.TrimSpace(tarbela(0, report...)), "\n") {
			if l == "" {
				continue
			}
			var r energy.Row
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("report line %q: %v", l, err)
			}
			rs = append(rs, r)
		}
		return rs
	}
	hour := time.Now().UTC().Truncate(time.Hour)
	var seen []energy.Row
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		if time.Now().UTC().Truncate(time.Hour) != hour {
			t.Skip("the hour turned while the miners started; the figures of one hour are what this test reads")
		}
		seen = rows()
		work := map[string]float64{}
		for _, r := range seen {
			if r.Hour.Equal(hour) {
				work[r.Site] += r.Work
			}
		}
		if work[devnet.SiteNorth] > 0 && work[devnet.SiteSouth] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no work at both sites in the report: %+v\ndevnet output:\n%s", seen, out.String())
		}
	}
	for _, r := range seen {
		if r.Site != devnet.SiteNorth && r.Site != devnet.SiteSouth {
			t.Errorf("row of site %q: the devnet's miners are all at north or south", r.Site)
		}
		if !slices.Contains(r.Flags, energy.FlagOpen) || len(r.Record) != 0 || r.Accepted <= 0 {
			t.Errorf("open hour's row %+v: want accepted shares, flag open and no sealed record", r)
		}
	}

	// A meter reading of 1 kWh for the hour: far above what CPU hashing
	// explains, so flagged as power mining does not explain.
	meter := filepath.Join(dir, "meter.csv")
	csv := fmt.Sprintf("start,end,kwh\n%s,%s,1\n", hour.Format(time.RFC3339), hour.Add(time.Hour).Format(time.RFC3339))
	if err := os.WriteFile(meter, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := tarbela(0, "energy", "import-meter", "-config", cfgPath, "--site", devnet.SiteNorth, meter); !strings.Contains(got, "imported 1 hour(s) of site north") {
		t.Errorf("import-meter: %s", got)
	}
	flagged := false
	for _, r := range rows() {
		if r.Site == devnet.SiteNorth && r.Hour.Equal(hour) {
			flagged = r.MeteredKWh != nil && *r.MeteredKWh == 1 && slices.Contains(r.Flags, energy.FlagMeterOver)
		}
	}
	if !flagged {
		t.Errorf("north's hour with a 1 kWh meter is not flagged %s", energy.FlagMeterOver)
	}

	from := time.Now().UTC().Truncate(time.Minute)
	if got := tarbela(0, "energy", "curtail", "-config", cfgPath, "--site", devnet.SiteSouth, "--from", from.Format(time.RFC3339),
		"--to", from.Add(10*time.Minute).Format(time.RFC3339), "--shed-mw", "0.001"); !strings.Contains(got, "curtailment 1 recorded: site south") {
		t.Errorf("curtail: %s", got)
	}
	if got := tarbela(0, "energy", "curtailments", "-config", cfgPath, "--format", "json"); !strings.Contains(got, `"south"`) {
		t.Errorf("curtailments: %s", got)
	}

	export := filepath.Join(dir, "export.json")
	var o, e bytes.Buffer
	if code := run(report, &o, &e); code != 0 {
		t.Fatal(e.String())
	}
	if err := os.WriteFile(export, o.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := tarbela(1, "energy", "verify", "-pub", filepath.Join(dir, "energy.key.pub"), export); !strings.Contains(got, "unsealed") {
		t.Errorf("verify of open rows: %s; want them refused as open", got)
	}
}
