package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage:
  tarbela run -config FILE                    run a pool node
  tarbela devnet [-dir D] [-miners N] ...     local regtest devnet (btcd, redis-server, pool, CPU miners)
  tarbela config check FILE                   validate a config file (and the payout key): OK or every problem
  tarbela payout run|status|export|submit|clear -config FILE ...
                                              the payout job (docs/payout.md); "tarbela payout" lists them
  tarbela energy keygen|close|report|import-meter|curtail|curtailments|verify ...
                                              the energy audit (docs/energy.md); "tarbela energy" lists them
  tarbela share verify -notify JSON -extranonce1 HEX -submit JSON [-mask HEX] [-difficulty D]
                                              rebuild a share as the pool does and print it as JSON
Run "tarbela <command> -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stderr)
	case "devnet":
		return cmdDevnet(args[1:], stdout, stderr)
	case "config":
		if len(args) == 3 && args[1] == "check" {
			return cmdConfigCheck(args[2], stdout, stderr)
		}
		fmt.Fprint(stderr, "usage: tarbela config check FILE\n")
		return 2
	case "payout":
		return cmdPayout(args[1:], stdout, stderr)
	case "energy":
		return cmdEnergy(args[1:], stdout, stderr)
	case "share":
		if len(args) >= 2 && args[1] == "verify" {
			return cmdShareVerify(args[2:], stdout, stderr)
		}
		fmt.Fprint(stderr, "usage: tarbela share verify -notify JSON -extranonce1 HEX -submit JSON [-mask HEX] [-difficulty D]\n")
		return 2
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "tarbela: unknown command %q\n%s", args[0], usage)
	return 2
}
