// Command tarbela is the Tarbela mining pool daemon.
//
//	tarbela run -config FILE       run a pool node
//	tarbela devnet [flags]         run a local regtest devnet: btcd, Redis, the pool, CPU miners
//	tarbela config check FILE      validate a config file
//	tarbela share verify [flags]   rebuild one share exactly as the pool judges it
package main

import (
	"fmt"
	"os"
)

const usage = `usage:
  tarbela run -config FILE                    run a pool node
  tarbela devnet [-dir D] [-miners N] ...     local regtest devnet (btcd, redis-server, pool, CPU miners)
  tarbela config check FILE                   validate a config file: prints OK or every problem
  tarbela share verify -notify JSON -extranonce1 HEX -submit JSON [-mask HEX] [-difficulty D]
                                              rebuild a share as the pool does and print it as JSON
Run "tarbela <command> -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:])
	case "devnet":
		return cmdDevnet(args[1:])
	case "config":
		if len(args) == 3 && args[1] == "check" {
			return cmdConfigCheck(args[2])
		}
		fmt.Fprint(os.Stderr, "usage: tarbela config check FILE\n")
		return 2
	case "share":
		if len(args) >= 2 && args[1] == "verify" {
			return cmdShareVerify(args[2:])
		}
		fmt.Fprint(os.Stderr, "usage: tarbela share verify -notify JSON -extranonce1 HEX -submit JSON [-mask HEX] [-difficulty D]\n")
		return 2
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "tarbela: unknown command %q\n%s", args[0], usage)
	return 2
}
