package main

import (
	"context"
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
  tarbela energy verify -pub FILE [-partial] EXPORT   check an export's chain and signatures
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
		if *pub == "" || fs.NArg() != 1 {
			fmt.Fprint(stderr, "usage: tarbela energy verify -pub FILE [-partial] EXPORT\n")
			return 2
		}
		pk, err := energy.LoadPublicKey(*pub)
		if err != nil {
			return fail(err)
		}
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		check := energy.Verify
		if *partial {
			check = energy.VerifyPartial
		}
		res, err := check(f, pk)
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
	code, err := runEnergy(ctx, args[0], cfg, rdb, energyFlags{site: *site, from: *from, to: *to, format: *format, shed: *shed, args: fs.Args()}, stdout)
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
