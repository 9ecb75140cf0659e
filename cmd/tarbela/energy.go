package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/energy"
	"github.com/tarbela-pool/tarbela/internal/redisconn"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

const energyUsage = `usage:
  tarbela energy keygen -key FILE [-pub FILE]      a new Ed25519 signing key (0600) and its public key (FILE.pub)
  tarbela energy close -config FILE                close and seal the hours that are due (cron)
  tarbela energy report -config FILE --from T --to T [--site S] [--format table|csv|json]
  tarbela energy import-meter -config FILE --site S FILE.csv
  tarbela energy curtail -config FILE --site S --from T --to T --shed-mw X
  tarbela energy curtailments -config FILE [--format table|json]
  tarbela energy archive -config FILE --out FILE [--keep DURATION]
                                                  move sealed records older than --keep (default 2160h,
                                                  90 days) from Redis to the archive FILE (cron)
  tarbela energy verify -pub FILE [-partial] EXPORT...   check an export's chain and signatures;
                                                  several files (an archive, then later exports)
                                                  are checked as one chain
                                                  (-partial: an export of one site's records)
Times are RFC 3339 (2026-12-01T10:00:00Z). See docs/energy.md.
`

func cmdEnergy(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, energyUsage)
		return 2
	}
	fs := flag.NewFlagSet("energy "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "tarbela.toml", "config file")
	key := fs.String("key", "", "keygen: the key file to create")
	pub := fs.String("pub", "", "keygen: the public key file (default KEY.pub); verify: the public key")
	site := fs.String("site", "", "the site")
	from := fs.String("from", "", "start, RFC 3339")
	to := fs.String("to", "", "end (exclusive), RFC 3339")
	format := fs.String("format", "table", "report: table, csv or json")
	shed := fs.Float64("shed-mw", 0, "curtail: megawatts to shed")
	partial := fs.Bool("partial", false, "verify: the export holds some of the chain's records (one site's): gaps in seq are allowed")
	out := fs.String("out", "", "archive: the archive file (appended to; created when missing)")
	keep := fs.Duration("keep", energy.DefaultKeep, "archive: how long sealed records stay in Redis after their hour ends")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "tarbela energy "+args[0]+":", err)
		return 1
	}
	switch args[0] {
	case "keygen":
		if *key == "" {
			fmt.Fprint(stderr, "usage: tarbela energy keygen -key FILE [-pub FILE]\n")
			return 2
		}
		p := *pub
		if p == "" {
			p = *key + ".pub"
		}
		if err := energy.GenerateKey(*key, p); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "key %s, public key %s\n", *key, p)
		return 0
	case "verify":
		if *pub == "" || fs.NArg() < 1 {
			fmt.Fprint(stderr, "usage: tarbela energy verify -pub FILE [-partial] EXPORT...\n")
			return 2
		}
		pk, err := energy.LoadPublicKey(*pub)
		if err != nil {
			return fail(err)
		}
		res, err := energy.VerifyFiles(fs.Args(), pk, *partial)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "OK: %d records, %d..%d, hours %s..%s\n", res.Records, res.FirstSeq, res.LastSeq, res.FirstHour, res.LastHour)
		return 0
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	rdb, err := redisconn.NewClient(cfg.Redis)
	if err != nil {
		return fail(err)
	}
	defer rdb.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := runEnergy(ctx, args[0], cfg, rdb, energyFlags{site: *site, from: *from, to: *to, format: *format, shed: *shed,
		args: fs.Args(), out: *out, keep: *keep, pub: *pub}, stdout)
	if err != nil {
		if code == 2 {
			fmt.Fprintf(stderr, "tarbela energy %s: %v\n%s", args[0], err, energyUsage)
			return 2
		}
		return fail(err)
	}
	return code
}

type energyFlags struct {
	site, from, to, format string
	shed                   float64
	args                   []string
	out, pub               string
	keep                   time.Duration
}

func parseTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, fmt.Errorf("--%s is required", name)
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s %q: want RFC 3339 such as 2026-12-01T10:00:00Z", name, v)
	}
	return t, nil
}

// runEnergy runs the subcommands that use Redis; code 2 is a usage error.
func runEnergy(ctx context.Context, cmd string, cfg *config.Config, rdb redis.UniversalClient, f energyFlags, stdout io.Writer) (int, error) {
	l := redisstore.NewEnergyLedger(rdb, cfg.Redis.Prefix)
	sites := energy.FromConfig(cfg.Sites)
	bucket := cfg.Energy.Bucket
	switch cmd {
	case "close":
		if cfg.Energy.KeyFile == "" {
			return 2, errors.New("energy.key_file is not set in the config: make a key with tarbela energy keygen")
		}
		k, err := energy.LoadKey(cfg.Energy.KeyFile)
		if err != nil {
			return 1, err
		}
		c := energy.Closer{Ledger: l, Sites: sites, Key: k, Grace: cfg.Energy.Grace, Bucket: bucket}
		hours, err := c.CloseDue(ctx)
		if err != nil {
			return 1, err
		}
		fmt.Fprintf(stdout, "closed %d hour(s)\n", len(hours))
		return 0, nil
	case "archive":
		if f.out == "" {
			return 2, errors.New("--out FILE is required (the archive to append to)")
		}
		if f.keep < time.Hour {
			return 2, fmt.Errorf("--keep %v: want at least 1h (records of hours that ended that long ago are archived)", f.keep)
		}
		var pk ed25519.PublicKey
		switch {
		case f.pub != "":
			k, err := energy.LoadPublicKey(f.pub)
			if err != nil {
				return 1, err
			}
			pk = k
		case cfg.Energy.KeyFile != "":
			k, err := energy.LoadKey(cfg.Energy.KeyFile)
			if err != nil {
				return 1, err
			}
			pk = k.Public().(ed25519.PublicKey)
		default:
			return 2, errors.New("energy.key_file is not set in the config and no -pub FILE given: the archive is checked with the chain's public key")
		}
		a := energy.Archiver{Ledger: l, Pub: pk, Keep: f.keep}
		res, err := a.Archive(ctx, f.out)
		if err != nil {
			return 1, err
		}
		if res.CutBytes > 0 {
			fmt.Fprintf(stdout, "cut a partial last line of %d bytes (an append cut short)\n", res.CutBytes)
		}
		if res.Appended > 0 {
			fmt.Fprintf(stdout, "appended records %d..%d to %s\n", res.FirstSeq, res.LastSeq, f.out)
		}
		fmt.Fprintf(stdout, "archived %d record(s); Redis holds the records after %d\n", res.Appended, res.Archived)
		return 0, nil
	case "report":
		from, err := parseTime("from", f.from)
		if err != nil {
			return 2, err
		}
		to, err := parseTime("to", f.to)
		if err != nil {
			return 2, err
		}
		p := energy.Reporter{Ledger: l, Reader: redisstore.NewReader(rdb, cfg.Redis.Prefix, 0), Sites: sites, Scheme: cfg.Payout.Scheme}
		rows, err := p.Report(ctx, from, to, f.site)
		if err != nil {
			return 1, err
		}
		if err := energy.WriteRows(stdout, rows, f.format); err != nil {
			return 2, err
		}
		return 0, nil
	case "import-meter":
		if f.site == "" || len(f.args) != 1 {
			return 2, errors.New("want --site S and one FILE.csv")
		}
		if _, ok := sites.Site(f.site); !ok {
			return 1, fmt.Errorf("--site %q is not a [[sites]] name in the config", f.site)
		}
		file, err := os.Open(f.args[0])
		if err != nil {
			return 1, err
		}
		defer file.Close()
		hours, err := energy.ParseMeter(file)
		if err != nil {
			return 1, err
		}
		if err := l.SetMeter(ctx, f.site, hours); err != nil {
			return 1, err
		}
		fmt.Fprintf(stdout, "imported %d hour(s) of site %s\n", len(hours), f.site)
		return 0, nil
	case "curtail":
		from, err := parseTime("from", f.from)
		if err != nil {
			return 2, err
		}
		to, err := parseTime("to", f.to)
		if err != nil {
			return 2, err
		}
		if _, ok := sites.Site(f.site); !ok {
			return 1, fmt.Errorf("--site %q is not a [[sites]] name in the config", f.site)
		}
		c, err := energy.AddCurtailment(ctx, l, energy.Curtailment{Site: f.site, From: from, To: to, ShedMW: f.shed, Recorded: time.Now().UTC()}, bucket)
		if err != nil {
			return 1, err
		}
		fmt.Fprintf(stdout, "curtailment %d recorded: site %s sheds %v MW from %s to %s\n", c.ID, c.Site, c.ShedMW,
			c.From.Format(time.RFC3339), c.To.Format(time.RFC3339))
		return 0, nil
	case "curtailments":
		reqs, err := energy.Curtailments(ctx, l)
		if err != nil {
			return 1, err
		}
		for _, r := range reqs {
			rep, err := r.Report(ctx, l, sites, bucket)
			if err != nil {
				return 1, err
			}
			if err := energy.WriteCurtailReport(stdout, rep, f.format); err != nil {
				return 2, err
			}
		}
		return 0, nil
	}
	return 2, fmt.Errorf("unknown subcommand %q", cmd)
}
