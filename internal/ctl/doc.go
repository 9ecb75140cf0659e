// Package ctl is tarbelactl, the admin command line of a Tarbela node: a
// client of the HTTP API of docs/api.md, its commands (status, workers,
// blocks, balances, payments, connections, ban, unban, bans, kick, reload,
// difficulty), their tables for people and their JSON for scripts, and the
// exit codes that tell a script what went wrong (ExitAPI, ExitUsage,
// ExitUnreachable, ExitAuth). cmd/tarbelactl reads the global flags and
// calls Run.
package ctl
