package devnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/energy"
)

// Site names of the devnet's energy audit: the built-in miners with an even
// index mine for North, those with an odd index for South.
const (
	SiteNorth = "north"
	SiteSouth = "south"
)

// EnergyGrace is how long after an hour ends the devnet's pool closes and
// seals it (1 minute rather than the default 10: its shares reach Redis
// within a second, and a user should see a sealed hour soon).
const EnergyGrace = time.Minute

// Sites is the devnet's two sites ([[sites]]): the accounts of the
// built-in miners (at least two, so that outside miners using those
// addresses have a site with -miners 0 or 1), alternately North and South,
// with the efficiency and overhead of two realistic fleets: North an
// S21-class fleet (17.5 J/TH) in immersion (overhead 1.05), South an
// S19j Pro-class fleet (29.5 J/TH) with air cooling (1.15).
func Sites(miners int) []config.Site {
	north := config.Site{Name: SiteNorth, JPerTH: 17.5, Overhead: 1.05, MeterTolerance: 0.05}
	south := config.Site{Name: SiteSouth, JPerTH: 29.5, Overhead: 1.15, MeterTolerance: 0.05}
	for i := range max(miners, 2) {
		if SiteOfMiner(i) == SiteNorth {
			north.Accounts = append(north.Accounts, MinerAccount(i))
		} else {
			south.Accounts = append(south.Accounts, MinerAccount(i))
		}
	}
	return []config.Site{north, south}
}

// SiteOfMiner is the site of the i-th built-in miner.
func SiteOfMiner(i int) string {
	if i%2 == 0 {
		return SiteNorth
	}
	return SiteSouth
}

// ensureEnergyKey returns the devnet's energy signing key file,
// energy.key in dir, made as `tarbela energy keygen` makes it (with
// energy.key.pub) when missing; one left by an earlier run is kept (the
// devnet's Redis, and so its chain, is fresh on each run; the public key
// stays the same).
func ensureEnergyKey(dir string) (string, error) {
	key := filepath.Join(dir, "energy.key")
	if _, err := os.Stat(key); err == nil {
		if _, err := energy.LoadKey(key); err != nil {
			return "", fmt.Errorf("%w; remove %s and start the devnet again to make a new one", err, key)
		}
		return key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("energy key: %w", err)
	}
	// A public key without its private key is one from a half-made key:
	// replaced with the new one.
	if err := os.Remove(key + ".pub"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("energy key: %w", err)
	}
	if err := energy.GenerateKey(key, key+".pub"); err != nil {
		return "", err
	}
	return key, nil
}

// energyConfigFile renders [energy] and [[sites]] for ConfigFile.
func energyConfigFile(b *strings.Builder, cfg *config.Config) {
	e := cfg.Energy
	fmt.Fprintf(b, "\n[energy]\nkey_file = %q\ngrace = %q\nclose_interval = %q\nbucket = %q\n",
		e.KeyFile, e.Grace.String(), e.CloseInterval.String(), e.Bucket.String())
	list := func(v []string) string {
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	for _, s := range cfg.Sites {
		fmt.Fprintf(b, "\n[[sites]]\nname = %q\n", s.Name)
		if len(s.Accounts) > 0 {
			fmt.Fprintf(b, "accounts = %s\n", list(s.Accounts))
		}
		if len(s.WorkerPrefixes) > 0 {
			fmt.Fprintf(b, "worker_prefixes = %s\n", list(s.WorkerPrefixes))
		}
		if len(s.Addresses) > 0 {
			a := make([]string, len(s.Addresses))
			for i, p := range s.Addresses {
				a[i] = p.String()
			}
			fmt.Fprintf(b, "addresses = %s\n", list(a))
		}
		fmt.Fprintf(b, "j_per_th = %v\noverhead = %v\nmeter_tolerance = %v\n", s.JPerTH, s.Overhead, s.MeterTolerance)
		for _, f := range s.Fleets {
			fmt.Fprintf(b, "\n[[sites.fleets]]\nname = %q\nrig_prefix = %q\nj_per_th = %v\n", f.Name, f.RigPrefix, f.JPerTH)
		}
	}
}

// energyReportCommand is the report command the devnet prints: the day
// from the hour the devnet started, open hours included (flagged open).
func energyReportCommand(cfgPath string, now time.Time) string {
	from := now.UTC().Truncate(time.Hour)
	return fmt.Sprintf("tarbela energy report -config %s --from %s --to %s", cfgPath,
		from.Format(time.RFC3339), from.Add(24*time.Hour).Format(time.RFC3339))
}
