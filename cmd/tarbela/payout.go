package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/daemon"
	"github.com/tarbela-pool/tarbela/internal/payoutjob"
	"github.com/tarbela-pool/tarbela/payout"
	"github.com/tarbela-pool/tarbela/payout/wallet"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

const payoutUsage = `usage:
  tarbela payout run -config FILE [--dry-run]     one pass: reconcile, unlock, credit, pay
  tarbela payout status -config FILE [--json]     blocks, balances, open batches, recent payments
  tarbela payout export -config FILE --from DATE --to DATE   payments as CSV
  tarbela payout sign -config FILE IN.psbt OUT.psbt   offline signer: sign a cold batch with the payout key
  tarbela payout submit -config FILE FILE.psbt    finalize and broadcast a cold batch's signed PSBT
  tarbela payout clear -config FILE BATCH         return a failed batch's amounts to the balances
Exit codes: 0 done, 1 error, 2 usage, 3 another run holds the lock, 4 payments halted by a failed batch.
`

// Exit codes of `tarbela payout`.
const (
	exitLocked = 3
	exitHalted = 4
)

func cmdPayout(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, payoutUsage)
		return 2
	}
	fs := flag.NewFlagSet("payout "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "tarbela.toml", "config file")
	dry := fs.Bool("dry-run", false, "run: print the plan and change nothing")
	asJSON := fs.Bool("json", false, "status: JSON for scripts")
	from := fs.String("from", "", "export: first day (YYYY-MM-DD) or RFC 3339 time")
	to := fs.String("to", "", "export: end, exclusive (YYYY-MM-DD) or RFC 3339 time; default now")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if args[0] == "sign" {
		// The offline signer needs neither Redis nor the node.
		return cmdPayoutSign(cfg, fs.Args(), stdout, stderr)
	}
	job, err := payoutjob.Open(cfg)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer job.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "run":
		log, _, _ := daemon.NewLogger(config.Log{Level: "warn", Format: "console"})
		rep, err := job.Run(ctx, *dry, stdout, log)
		if err != nil {
			return payoutExit(stderr, err)
		}
		fmt.Fprintf(stdout, "payout: %d blocks credited, %d orphaned, %d waiting; %d batches, %d settled\n",
			len(rep.Credited), len(rep.Orphaned), rep.Waiting, len(rep.Batches), len(rep.Settled))
		return 0
	case "status":
		st, err := payout.ReadStatus(ctx, job.Ledger, job.Reader, 10, time.Now())
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if *asJSON {
			b, _ := json.MarshalIndent(st, "", "  ")
			fmt.Fprintln(stdout, string(b))
		} else {
			_ = st.WriteTable(stdout, time.Now())
		}
		if !st.Consistent {
			return 1
		}
		return 0
	case "export":
		f, t, err := exportRange(*from, *to, time.Now())
		if err != nil {
			fmt.Fprintln(stderr, "payout export:", err)
			return 2
		}
		if err := payout.ExportCSV(ctx, job.Ledger, f, t, stdout); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	case "submit":
		if fs.NArg() != 1 {
			fmt.Fprint(stderr, "usage: tarbela payout submit -config FILE FILE.psbt\n")
			return 2
		}
		psbt, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			fmt.Fprintln(stderr, "payout submit:", err)
			return 1
		}
		o, err := job.Options(false, stdout, zap.NewNop())
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		id, err := payout.Submit(ctx, o, psbt)
		if err != nil {
			return payoutExit(stderr, err)
		}
		fmt.Fprintf(stdout, "payout: batch %s signed and broadcast\n", id)
		return 0
	case "clear":
		if fs.NArg() != 1 {
			fmt.Fprint(stderr, "usage: tarbela payout clear -config FILE BATCH\n")
			return 2
		}
		if err := payout.Clear(ctx, job.Ledger, job.Chain, cfg.Payout.LockTTL, fs.Arg(0)); err != nil {
			return payoutExit(stderr, err)
		}
		fmt.Fprintf(stdout, "payout: batch %s cleared; its amounts are back in the balances\n", fs.Arg(0))
		return 0
	}
	fmt.Fprintf(stderr, "tarbela payout: unknown command %q\n%s", args[0], payoutUsage)
	return 2
}

// payoutExit prints err and returns its exit code.
func payoutExit(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, err)
	var locked *redisstore.LockedError
	switch {
	case errors.As(err, &locked):
		return exitLocked
	case errors.Is(err, payout.ErrPaymentsHalted):
		return exitHalted
	}
	return 1
}

// exportRange reads --from and --to: dates (UTC days) or RFC 3339 times.
func exportRange(from, to string, now time.Time) (time.Time, time.Time, error) {
	parse := func(flag, s string) (time.Time, error) {
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			return t, nil
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return t, fmt.Errorf("--%s %q: want YYYY-MM-DD or an RFC 3339 time", flag, s)
		}
		return t, nil
	}
	if from == "" {
		return time.Time{}, time.Time{}, errors.New("--from is required")
	}
	f, err := parse("from", from)
	if err != nil {
		return f, f, err
	}
	t := now
	if to != "" {
		if t, err = parse("to", to); err != nil {
			return f, t, err
		}
	}
	if !t.After(f) {
		return f, t, errors.New("--to must be after --from")
	}
	return f, t, nil
}

// cmdPayoutSign signs a cold batch's PSBT with the payout key (key_file or
// $TARBELA_PAYOUT_KEY), on the machine that keeps it.
func cmdPayoutSign(cfg *config.Config, args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 {
		fmt.Fprint(stderr, "usage: tarbela payout sign -config FILE IN.psbt OUT.psbt\n")
		return 2
	}
	key, err := payoutjob.Key(cfg, os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	in, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "payout sign:", err)
		return 1
	}
	signed, err := wallet.SignPSBT(in, key)
	if err != nil {
		fmt.Fprintln(stderr, "payout sign:", err)
		return 1
	}
	if err := os.WriteFile(args[1], signed, 0o600); err != nil {
		fmt.Fprintln(stderr, "payout sign:", err)
		return 1
	}
	fmt.Fprintf(stdout, "payout: signed %s into %s; submit it with `tarbela payout submit -config FILE %s`\n", args[0], args[1], args[1])
	return 0
}
