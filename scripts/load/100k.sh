#!/usr/bin/env bash
# 100k.sh: issue 5 item 4, "100,000 concurrent miners across several pool
# processes on one Redis, every miner receiving work".
#
# One btcd --regtest node, one redis-server, POOLS real `tarbela run`
# processes (distinct node_id, Stratum and metrics ports) and one
# tarbela-bench process per pool, each over SOURCES loopback source
# addresses of its own. Miners are idle (--rate -1: no share, so no block
# flood). Once every miner is connected, one block is generated (btcd
# `generate 1`) and its notify fan-out is measured across all processes.
# Everything stops by itself: the tools run at most TOOL_SECONDS, and the
# script stops every process it started (by pid) when it ends.
#
#   scripts/load/100k.sh            # WORK=/tmp/tarbela-load MINERS=100000 POOLS=6
#
# Output: $WORK/100k/{machine.txt,summary.txt,combined.txt,combined.json,tbI.json,tbI.err,poolI.log}
source "$(dirname "$0")/lib.sh"
MINERS=${MINERS:-100000}
POOLS=${POOLS:-6}
SOURCES=${SOURCES:-50}
TOOL_SECONDS=${TOOL_SECONDS:-300}
CONNECT_TIMEOUT=${CONNECT_TIMEOUT:-240}
OUT=$WORK/100k
rm -rf "$OUT" && mkdir -p "$OUT"

build
machine > "$OUT/machine.txt"
start_redis 16379
start_btcd 18600
log "btcd pid $BTCD_PID ($RPC_URL), redis pid $REDIS_PID ($REDIS)"
for i in $(seq 0 $((POOLS - 1))); do
  pool_config "$i" $((3500 + i)) $((9300 + i)) 19900
  start_pool "$i"
done
for i in $(seq 0 $((POOLS - 1))); do wait_port 127.0.0.1:$((3500 + i)) 60; done
sleep 2 # first template
declare -a RSS0 TOOL
for i in $(seq 0 $((POOLS - 1))); do RSS0[$i]=$(rss_kib "${POOL_PID[$i]}"); done
log "pools ${POOL_PID[*]} up; RSS KiB ${RSS0[*]}"

per=$((MINERS / POOLS))
first=0
t0=$(date +%s%N)
for i in $(seq 0 $((POOLS - 1))); do
  n=$per
  [ "$i" = $((POOLS - 1)) ] && n=$((MINERS - first))
  "$TB" --pool 127.0.0.1:$((3500 + i)) --miners "$n" --first-index "$first" \
    --source-base 127.$((20 + i)).0.2 --sources "$SOURCES" --rate -1 --io-timeout 120s \
    --duration "${TOOL_SECONDS}s" --drain 1s --progress 10s --json --pool-pid "${POOL_PID[$i]}" \
    --user "$PAYOUT.m{i}" > "$OUT/tb$i.json" 2> "$OUT/tb$i.err" &
  TOOL[$i]=$!
  track "${TOOL[$i]}"
  first=$((first + n))
done

# Wait until the pools hold every miner (sum of tarbela_connections).
conn=0
for s in $(seq "$CONNECT_TIMEOUT"); do
  sleep 1
  conn=0
  for i in $(seq 0 $((POOLS - 1))); do
    c=$(metric http://127.0.0.1:$((9300 + i))/metrics tarbela_connections || echo 0)
    conn=$((conn + c))
  done
  [ $((s % 10)) = 0 ] && log "connections $conn / $MINERS"
  [ "$conn" -ge "$MINERS" ] && break
done
t_conn=$(date +%s%N)
log "connections $conn after $(( (t_conn - t0) / 1000000 )) ms"
sleep 10 # the last notifies land; memory settles
declare -a RSS1
for i in $(seq 0 $((POOLS - 1))); do RSS1[$i]=$(rss_kib "${POOL_PID[$i]}"); done
height0=$(rpc getblockcount)
g0=$(date +%s%N)
rpc generate 1 > "$OUT/generate.json"
g1=$(date +%s%N)
log "generate 1 took $(( (g1 - g0) / 1000000 )) ms"
sleep 15
declare -a RSS2
for i in $(seq 0 $((POOLS - 1))); do RSS2[$i]=$(rss_kib "${POOL_PID[$i]}"); done
for i in $(seq 0 $((POOLS - 1))); do kill -INT "${TOOL[$i]}" 2>/dev/null || true; done
for i in $(seq 0 $((POOLS - 1))); do wait "${TOOL[$i]}" || true; done
"$TB" --combine "$OUT"/tb*.json > "$OUT/combined.txt"
"$TB" --combine --json "$OUT"/tb*.json > "$OUT/combined.json"
for i in $(seq 0 $((POOLS - 1))); do cp "$WORK/pool$i.log" "$OUT/"; done

python3 - "$OUT" "$t0" "$t_conn" "$g0" "$g1" "$height0" "${RSS0[*]}" "${RSS1[*]}" "${RSS2[*]}" <<'PY' | tee "$OUT/summary.txt"
import glob, json, sys
out = sys.argv[1]
t0, tconn, g0, g1, h0 = map(int, sys.argv[2:7])
rss0, rss1, rss2 = ([int(x) for x in a.split()] for a in sys.argv[7:10])
reps = [json.load(open(f)) for f in sorted(glob.glob(out + "/tb*.json"))]
c = json.load(open(out + "/combined.json"))
cc = c["connections"]
print(f"tool processes {len(reps)}, miners asked {c['miners']}, connected {cc['connected']}, "
      f"subscribed {cc['subscribed']}, authorized {cc['authorized']}, got work {cc['with_work']}, "
      f"live at end {cc['live_at_end']}, handshake failed {cc['handshake_failed']}, "
      f"disconnected {cc['disconnected']}, dial errors {cc.get('dial_errors')}")
print(f"source addresses used: {len(cc.get('sources') or {})}")
ends = [r["started_unix_ns"] + (r["seconds"] - r["shares"]["window_seconds"]) * 1e9 for r in reps if r["shares"]["steady"]]
print(f"all {c['miners']} handshakes done (last miner got work) {(max(ends) - t0) / 1e9:.1f} s after the first tool "
      f"started ({sum(r['shares']['steady'] for r in reps)}/{len(reps)} tools finished their handshakes); "
      f"pools' tarbela_connections reached the total after {(tconn - t0) / 1e9:.1f} s")
miners = cc["live_at_end"]
print("pool RSS KiB before miners:", rss0, "sum", sum(rss0))
print("pool RSS KiB all connected:", rss1, "sum", sum(rss1))
print("pool RSS KiB after block:  ", rss2, "sum", sum(rss2))
print(f"total pool RSS with {miners} miners: {sum(rss1) / 1024:.1f} MiB before the block, {sum(rss2) / 1024:.1f} MiB after; "
      f"per miner {sum(rss1) * 1024 / miners:.0f} B ({sum(rss1) / miners:.2f} KiB), "
      f"above the idle pools' baseline {(sum(rss1) - sum(rss0)) / miners:.2f} KiB")
rounds = [r for r in c["fanout"]["rounds"] if r["first_unix_ns"] >= g0]
for r in rounds:
    print(f"block round after generate: prevhash {r['prevhash'][:16]}.. miners {r['miners']}, "
          f"first->last notify {(r['last_unix_ns'] - r['first_unix_ns']) / 1e6:.1f} ms, "
          f"generate call -> first notify {(r['first_unix_ns'] - g0) / 1e6:.1f} ms, -> last {(r['last_unix_ns'] - g0) / 1e6:.1f} ms "
          f"(generate call returned after {(g1 - g0) / 1e6:.1f} ms; height {h0} -> {h0 + 1})")
if not rounds:
    print("no fan-out round after the generate call")
PY
log "done; results in $OUT"
