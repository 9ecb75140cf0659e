#!/usr/bin/env bash
# The whole test suite: the README's test command, and what .ci/run runs.
# It installs what the tests need on a fresh Debian machine with Go:
# redis-server from apt (when run as root), and btcd, which is a Go tool
# pinned in go.mod and built by `go tool -n btcd`.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing redis-server (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server is missing: run 'sudo apt-get install -y redis-server' and try again" >&2
    exit 1
  fi
fi

echo "== building btcd (go tool, pinned in go.mod)"
go tool -n btcd >/dev/null

echo "== go vet"
go vet ./...

echo "== go test"
go test -count=1 -timeout 20m ./...

echo "== go test -race (stratum, share)"
go test -count=1 -race -timeout 20m ./stratum/... ./share/...

echo "== fuzz (short)"
fuzz_time="${FUZZ_TIME:-10s}"
while read -r pkg target; do
  [ -n "$pkg" ] || continue
  go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzz_time" "$pkg"
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
  d=$(dirname "$f")
  grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r t; do echo "$d $t"; done
done | sort -u)

echo "== all tests passed"
