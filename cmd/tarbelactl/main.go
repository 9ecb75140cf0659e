package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/tarbela-pool/tarbela/internal/ctl"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run reads the global flags, whose defaults come from the environment,
// and runs the command after them; it returns the exit code.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, o := flags(getenv)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, ctl.Usage)
			return ctl.ExitOK
		}
		fmt.Fprintln(stderr, `"tarbelactl -h" lists the flags and commands`)
		return ctl.ExitUsage
	}
	return ctl.Run(context.Background(), *o, fs.Args(), ctl.Env{Stdout: stdout, Stderr: stderr})
}

// flags defines the global flags; ctl.Usage documents them. The token's
// default is not shown in any help: it is read from the environment
// into EnvToken.
func flags(getenv func(string) string) (*flag.FlagSet, *ctl.Options) {
	fs := flag.NewFlagSet("tarbelactl", flag.ContinueOnError)
	fs.Usage = func() {} // ctl.Usage is printed instead, on -h to stdout
	o := &ctl.Options{EnvToken: getenv(ctl.EnvToken)}
	base := getenv(ctl.EnvURL)
	if base == "" {
		base = ctl.DefaultURL
	}
	fs.StringVar(&o.URL, "url", base, "the node's API")
	fs.StringVar(&o.Token, "token", "", "admin token (default $"+ctl.EnvToken+")")
	fs.StringVar(&o.TokenFile, "token-file", "", "read the admin token from this file")
	fs.BoolVar(&o.JSON, "json", false, "print the API's JSON answer, indented")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "give up on an answer after this long")
	return fs, o
}
