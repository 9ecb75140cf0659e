# Shared helpers for the load scripts (sourced, not run). Everything listens
# on 127.0.0.1 only; every process started here is recorded in $WORK/pids
# and stopped by pid (cleanup runs on exit, also on error or Ctrl-C).
#
# WORK (default /tmp/tarbela-load) holds binaries, data, logs and reports.

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=${WORK:-/tmp/tarbela-load}
PAYOUT=bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080 # BIP173 regtest example
RPCUSER=load
RPCPASS=loadpass
mkdir -p "$WORK"
: > "$WORK/pids"

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# track PID: remember a process to stop at exit.
track() { echo "$1" >> "$WORK/pids"; }

# cleanup stops every tracked process (TERM, then KILL after 15 s), by pid.
cleanup() {
  local p
  for p in $(tac "$WORK/pids" 2>/dev/null); do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 150); do
    local alive=0
    for p in $(cat "$WORK/pids" 2>/dev/null); do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in $(cat "$WORK/pids" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
  : > "$WORK/pids"
}
trap cleanup EXIT INT TERM

# build compiles tarbela and tarbela-bench into $WORK/bin and finds btcd.
build() {
  mkdir -p "$WORK/bin"
  (cd "$ROOT" && go build -o "$WORK/bin/tarbela" ./cmd/tarbela && go build -o "$WORK/bin/tb" ./cmd/tarbela-bench)
  BTCD=$(cd "$ROOT" && go tool -n btcd)
  TB=$WORK/bin/tb
  TARBELA=$WORK/bin/tarbela
}

# machine prints what the figures were taken on.
machine() {
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD -- . || echo ' (+ uncommitted changes in the tree)')"
  echo "cpu: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "mem: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "go: $(go version | cut -d' ' -f3-)"
  echo "nofile: soft $(ulimit -Sn) hard $(ulimit -Hn)"
  echo "loadavg: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# wait_port HOST:PORT [SECONDS]: wait until something accepts on it.
wait_port() {
  local hp=$1 t=${2:-30}
  for _ in $(seq $((t * 10))); do
    (exec 3<>"/dev/tcp/${hp%:*}/${hp#*:}") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $hp after ${t}s" >&2
  return 1
}

# start_redis PORT: redis-server on 127.0.0.1:PORT, persistence off.
start_redis() {
  local port=$1
  mkdir -p "$WORK/redis"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK/redis" \
    --daemonize no > "$WORK/redis/redis.out" 2>&1 &
  REDIS_PID=$!
  track $REDIS_PID
  wait_port "127.0.0.1:$port" 15
  REDIS=127.0.0.1:$port
}

# start_btcd RPCPORT: a fresh btcd --regtest, RPC without TLS; one block is
# generated so the chain is current and templates can be served.
start_btcd() {
  local rpc=$1 dir=$WORK/btcd
  rm -rf "$dir" && mkdir -p "$dir"
  : > "$dir/btcd.conf"
  "$BTCD" --regtest --notls --configfile="$dir/btcd.conf" --datadir="$dir/data" --logdir="$dir/logs" \
    --rpclisten="127.0.0.1:$rpc" --rpcuser=$RPCUSER --rpcpass=$RPCPASS --listen=127.0.0.1:$((rpc + 1)) \
    --miningaddr=$PAYOUT --rpcmaxclients=200 --rpcmaxwebsockets=50 > "$dir/btcd.out" 2>&1 &
  BTCD_PID=$!
  track $BTCD_PID
  RPC_URL=http://127.0.0.1:$rpc
  for _ in $(seq 300); do
    rpc getblockcount >/dev/null 2>&1 && break
    sleep 0.1
  done
  rpc generate 1 >/dev/null
}

# rpc METHOD [JSON-PARAMS...]: one btcd JSON-RPC call; prints the result.
rpc() {
  local m=$1; shift
  local params
  params=$(IFS=,; echo "$*")
  curl -sf --max-time 30 -u "$RPCUSER:$RPCPASS" -H 'content-type: application/json' \
    -d "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"$m\",\"params\":[$params]}" "$RPC_URL" |
    python3 -c 'import json, sys; r = json.load(sys.stdin); e = r.get("error")
if e: sys.exit("rpc error: %s" % e)
print(json.dumps(r["result"]) if not isinstance(r["result"], (str, int)) else r["result"])'
}

# pool_config I STRATUM_PORT METRICS_PORT MAXCONN: write $WORK/poolI.toml, a
# regtest pool node with node_id I+1 on the shared btcd and Redis.
pool_config() {
  local i=$1 sport=$2 mport=$3 maxconn=$4
  cat > "$WORK/pool$i.toml" <<TOML
[pool]
node_id = $((i + 1))
mode = "pool"
network = "regtest"
payout_address = "$PAYOUT"

[stratum]
listen = "127.0.0.1:$sport"
max_connections = $maxconn
max_connections_per_ip = 10000
handshake_timeout = "120s"

[stratum.difficulty]
initial = 0.001
min = 0.001

[[nodes]]
name = "btcd"
rpc_url = "$RPC_URL"
rpc_user = "$RPCUSER"
rpc_password = "$RPCPASS"
websocket_notify = true
longpoll = true

[redis]
addr = "$REDIS"
journal_path = "$WORK/journal-$i.log"

[log]
level = "info"
format = "console"

[metrics]
listen = "127.0.0.1:$mport"
TOML
}

# start_pool I: run `tarbela run` on $WORK/poolI.toml; sets POOL_PID[I].
declare -a POOL_PID
start_pool() {
  local i=$1
  rm -f "$WORK/journal-$i.log"
  "$TARBELA" run -config "$WORK/pool$i.toml" > "$WORK/pool$i.log" 2>&1 &
  POOL_PID[$i]=$!
  track "${POOL_PID[$i]}"
}

# metric URL NAME: sum of a Prometheus metric's samples at URL.
metric() {
  curl -sf --max-time 10 "$1" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 {s += $2} END {printf "%.0f\n", s}'
}

# cpu_ticks PID: utime+stime of a process in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# rss_kib PID: VmRSS in KiB.
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
