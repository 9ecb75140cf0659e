// Package human writes the pool's numbers for people: satoshis as BTC with
// all eight decimals, hashrates and difficulties with SI prefixes and three
// significant digits, and times relative to now ("3m ago", "in 9m"). The
// payout job's status and tarbelactl print with it; it imports nothing of
// the module, so a command that only talks HTTP links no ledger code.
package human
