// Command tarbelactl is the admin command line of a Tarbela node: it
// talks to the node's HTTP API (docs/api.md) and prints tables for people
// or, with --json, the API's answers for scripts.
//
//	tarbelactl status                        the pool at a glance
//	tarbelactl workers --account ADDRESS     an account's workers
//	tarbelactl ban 203.0.113.7 --for 1h      an admin action (needs the API token)
//
// "tarbelactl -h" lists the commands, the flags and the exit codes; the
// logic lives in internal/ctl.
package main
