package devnet

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/energy"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// checkDevnetEnergy: the devnet's tarbela.toml loads and validates with
// its two sites and a usable signing key (what `config check` reads), the
// devnet printed the report command, and once both built-in miners had
// shares accepted the report on that config has work at both sites: live
// rows of the open hour, flagged open, without a sealed record, their kWh
// by the formula from each site's efficiency, and no unassigned work.
func checkDevnetEnergy(t *testing.T, out *syncBuffer, info Info) {
	t.Helper()
	ctx := context.Background()
	cfgPath := filepath.Join(out.dir, "tarbela.toml")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("devnet's tarbela.toml: %v", err)
	}
	if len(cfg.Sites) != 2 || cfg.Sites[0].Name != SiteNorth || cfg.Sites[1].Name != SiteSouth ||
		cfg.Energy.KeyFile != filepath.Join(out.dir, "energy.key") || cfg.Energy.Grace != EnergyGrace {
		t.Fatalf("devnet's tarbela.toml: sites %+v, energy %+v", cfg.Sites, cfg.Energy)
	}
	if _, err := energy.LoadKey(cfg.Energy.KeyFile); err != nil {
		t.Fatal(err)
	}
	if _, err := energy.LoadPublicKey(cfg.Energy.KeyFile + ".pub"); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(cfg.Energy.KeyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("energy key: %v, %v; want mode 0600", st, err)
	}
	if want := "`tarbela energy report -config " + cfgPath + " --from "; !strings.Contains(out.String(), want) {
		t.Errorf("output lacks %q:\n%s", want, out.String())
	}
	rdb := redis.NewClient(&redis.Options{Addr: info.Redis})
	defer rdb.Close()
	sites := energy.FromConfig(cfg.Sites)
	rep := energy.Reporter{Ledger: redisstore.NewEnergyLedger(rdb, cfg.Redis.Prefix), Sites: sites, Scheme: cfg.Payout.Scheme}
	var rows []energy.Row
	work := map[string]float64{}
	waitUntil(t, "work at both sites in the energy report", out, func() bool {
		// The hour before too: the devnet may have started in it.
		now := time.Now()
		rows, err = rep.Report(ctx, now.Add(-time.Hour), now.Add(time.Hour), "")
		if err != nil {
			t.Fatal(err)
		}
		clear(work)
		for _, r := range rows {
			work[r.Site] += r.Work
		}
		return work[SiteNorth] > 0 && work[SiteSouth] > 0
	})
	for _, r := range rows {
		j, o, ok := sites.Efficiency(r.Site)
		if !ok {
			t.Errorf("row of %q, not a devnet site: %+v", r.Site, r)
			continue
		}
		if r.Accepted <= 0 || r.Rejected != 0 || !slices.Contains(r.Flags, energy.FlagOpen) || len(r.Record) != 0 {
			t.Errorf("open hour's row %+v: want accepted shares, none rejected, flag open and no record", r)
		}
		if want := energy.KWh(r.Work, j, o); math.Abs(r.Estimate.KWh-want) > 1e-9*want ||
			!(r.Estimate.Low < r.Estimate.KWh && r.Estimate.KWh < r.Estimate.High) {
			t.Errorf("%s: kWh %+v, want %g (work %g × 2^32 × %g J/TH × %g) inside its interval", r.Site, r.Estimate, want, r.Work, j, o)
		}
	}
}

// TestEnsureEnergyKey: the devnet makes its signing key once (0600, with
// its public key), keeps it on the next run, and names the file and the
// fix when what is there is not a key.
func TestEnsureEnergyKey(t *testing.T) {
	dir := t.TempDir()
	key, err := ensureEnergyKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := energy.LoadPublicKey(key + ".pub"); err != nil {
		t.Fatal(err)
	}
	if again, err := ensureEnergyKey(dir); err != nil || again != key {
		t.Fatalf("second run: %q, %v", again, err)
	}
	if b, _ := os.ReadFile(key); string(b) != string(first) {
		t.Error("the second run replaced the key")
	}
	if err := os.WriteFile(key, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ensureEnergyKey(dir); err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "remove") {
		t.Errorf("a bad key file: %v; want its path and the fix", err)
	}
}
