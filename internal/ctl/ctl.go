package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Usage is tarbelactl's help: the global flags (cmd/tarbelactl defines
// them), the commands and the exit codes.
const Usage = `usage: tarbelactl [flags] COMMAND [command flags and arguments]

tarbelactl talks to a Tarbela node's HTTP API (docs/api.md). Admin commands
act on the node at --url and send the API token as a bearer token.

Commands:
  status                           pool hashrate (10m, 1h, 24h), miners and workers online,
                                   shares and rejects, network height and difficulty, last block
  workers [--account A]... [--sort hashrate|name|last] [--limit N]
                                   an account's workers, from its page; without --account the
                                   workers connected to the node, from its connections (admin)
  blocks [--limit N]               blocks found, newest first (N: 1..1000)
  balances --account A...          balance, pending and paid, in BTC
  payments --account A...          an account's payments
  connections [--account A] [--limit N]
                                   the node's open connections (admin)
  ban ADDRESS [--for 10m]          refuse an IP address or IPv6 prefix for a while (admin)
  unban ADDRESS                    lift a ban (admin)
  bans                             banned addresses and until when (admin)
  kick --worker W | --address A    close a worker's connections, or an address's (admin)
  reload                           re-read the node's config file: what applied, what needs a restart (admin)
  difficulty WORKER D              set a worker's share difficulty on its sessions (admin)
--account may be given more than once. Flags may come before or after a command's arguments.
"tarbelactl COMMAND -h" lists a command's flags.

Flags (before the command):
  --url URL           the node's API (default $TARBELA_API_URL, else ` + DefaultURL + `)
  --token TOKEN       admin token (default $TARBELA_API_TOKEN)
  --token-file FILE   read the admin token from FILE
  --json              print the API's JSON answer, indented, instead of a table
  --timeout D         give up on an answer after D (default 10s)

Exit codes:
  0  done
  1  the API answered an error (its message and the field it names are printed)
  2  usage: an unknown command or flag, or a bad argument; nothing was sent
  3  cannot reach the API: connection refused, timeout, unknown host, TLS failure
     (the URL is printed)
  4  authentication: no token for an admin command, or the API refused it (401)
     or has its admin routes disabled (403); the message says what to set
`

// Options are tarbelactl's global flags and the environment they default
// to.
type Options struct {
	URL       string        // --url, or $TARBELA_API_URL, or DefaultURL
	Token     string        // --token
	TokenFile string        // --token-file
	EnvToken  string        // $TARBELA_API_TOKEN
	JSON      bool          // --json
	Timeout   time.Duration // --timeout
}

// Env is where a command writes and the clock its relative times read.
type Env struct {
	Stdout, Stderr io.Writer
	Now            func() time.Time // time.Now when nil
}

// command is one tarbelactl command.
type command struct {
	name     string
	synopsis string // its arguments, for its usage line
	run      func(s *session, args []string) error
}

var commands = []command{
	{"status", "", cmdStatus},
	{"workers", "[--account A]... [--sort hashrate|name|last] [--limit N]", cmdWorkers},
	{"blocks", "[--limit N]", cmdBlocks},
	{"balances", "--account A...", cmdBalances},
	{"payments", "--account A...", cmdPayments},
	{"connections", "[--account A] [--limit N]", cmdConnections},
	{"ban", "ADDRESS [--for 10m]", cmdBan},
	{"unban", "ADDRESS", cmdUnban},
	{"bans", "", cmdBans},
	{"kick", "--worker W | --address A", cmdKick},
	{"reload", "", cmdReload},
	{"difficulty", "WORKER D", cmdDifficulty},
}

// session is what a command runs with.
type session struct {
	ctx    context.Context
	c      *Client
	json   bool
	out    io.Writer
	errOut io.Writer
	now    time.Time
	cmd    command
}

// Run runs the command in args (its name, then its flags and arguments)
// with the global options o, prints its result to env.Stdout and any
// error to env.Stderr, and returns the exit code.
func Run(ctx context.Context, o Options, args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, Usage)
		return ExitUsage
	}
	if args[0] == "help" {
		fmt.Fprint(env.Stdout, Usage)
		return ExitOK
	}
	var cmd *command
	for i := range commands {
		if commands[i].name == args[0] {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(env.Stderr, "tarbelactl: unknown command %q; \"tarbelactl -h\" lists them\n", args[0])
		return ExitUsage
	}
	now := time.Now
	if env.Now != nil {
		now = env.Now
	}
	err := func() error {
		token, source, err := o.token()
		if err != nil {
			return err
		}
		c, err := NewClient(o.URL, token, source, o.Timeout)
		if err != nil {
			return err
		}
		s := &session{ctx: ctx, c: c, json: o.JSON, out: env.Stdout, errOut: env.Stderr, now: now(), cmd: *cmd}
		return cmd.run(s, args[1:])
	}()
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil && !errors.Is(err, errPrinted) {
		fmt.Fprintf(env.Stderr, "tarbelactl %s: %v\n", cmd.name, err)
	}
	return ExitCode(err)
}

// token picks the admin token: --token, else --token-file, else
// $TARBELA_API_TOKEN; it also says where it came from.
func (o Options) token() (token, source string, err error) {
	switch {
	case o.Token != "" && o.TokenFile != "":
		return "", "", usagef("--token and --token-file: give one")
	case o.Token != "":
		return o.Token, "--token", nil
	case o.TokenFile != "":
		b, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return "", "", usagef("--token-file: %v", err)
		}
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", "", usagef("--token-file %s: the file is empty", o.TokenFile)
		}
		return t, "--token-file " + o.TokenFile, nil
	case o.EnvToken != "":
		return o.EnvToken, "$" + EnvToken, nil
	}
	return "", "", nil
}

// errPrinted is a usage error the flag package has already printed.
var errPrinted = &UsageError{Msg: "usage printed"}

// flags is a command's flag set; its errors go to stderr, its -h to
// stdout.
func (s *session) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("tarbelactl "+s.cmd.name, flag.ContinueOnError)
	fs.SetOutput(s.errOut)
	fs.Usage = func() {}
	return fs
}

// parse parses a command's flags, which may come before, between or after
// its arguments ("ban 203.0.113.7 --for 1h"), and checks that there are
// exactly want arguments. After "--" everything is an argument.
func (s *session) parse(fs *flag.FlagSet, args []string, want int) ([]string, error) {
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(s.out, s.usage())
			fs.SetOutput(s.out)
			fs.PrintDefaults()
			return nil, err
		}
		if err != nil {
			fmt.Fprintln(s.errOut, s.usage())
			return nil, errPrinted
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	if len(pos) != want {
		what := "no arguments"
		if want > 0 {
			what = s.cmd.synopsis
		}
		return nil, usagef("want %s, got %q (%s)", what, pos, s.usage())
	}
	return pos, nil
}

// usage is the command's usage line.
func (s *session) usage() string {
	return "usage: " + strings.TrimSpace("tarbelactl "+s.cmd.name+" "+s.cmd.synopsis)
}

// fetch sends one request; with --json it prints the answer as it came
// (printed), else it decodes it into v.
func (s *session) fetch(method, route string, query url.Values, body any, admin bool, v any) (printed bool, err error) {
	a, err := s.c.call(s.ctx, method, route, query, body, admin)
	if err != nil {
		return false, err
	}
	if s.json {
		return true, s.printJSON(a)
	}
	return false, a.decode(v)
}

// printJSON writes answers as they came, indented, one JSON document
// after another.
func (s *session) printJSON(answers ...answer) error {
	var b bytes.Buffer
	for _, a := range answers {
		if err := json.Indent(&b, a.raw, "", "  "); err != nil {
			return err // the client checked it is JSON
		}
		b.WriteByte('\n')
	}
	_, err := s.out.Write(b.Bytes())
	return err
}

// table writes aligned columns; every cell is cleaned for the terminal
// and an empty one shows as "-".
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			c = "-"
		}
		if i > 0 {
			io.WriteString(t.tw, "\t")
		}
		io.WriteString(t.tw, clean(c))
	}
	io.WriteString(t.tw, "\n")
}

func (t *table) flush() error { return t.tw.Flush() }

// stringList is a flag that may be given more than once.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
