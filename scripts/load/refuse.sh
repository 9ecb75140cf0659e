#!/usr/bin/env bash
# refuse.sh: issue 5 item 4, "a full pool refuses further connections
# cheaply (no log storm, no CPU spin)".
#
# One real `tarbela run` (btcd --regtest, redis-server) with max_connections
# MAXCONN is filled with MAXCONN idle miners; then a second tarbela-bench
# process dials new connections at RAMP per second for HAMMER seconds. The
# pool's CPU time (utime+stime from /proc/PID/stat), its log lines and
# tarbela_connections_refused_total are read before and after the hammer,
# and over an equally long quiet window before it for comparison.
#
#   scripts/load/refuse.sh          # WORK=/tmp/tarbela-load MAXCONN=1000 RAMP=2500 HAMMER=20
source "$(dirname "$0")/lib.sh"
MAXCONN=${MAXCONN:-1000}
RAMP=${RAMP:-2500}
HAMMER=${HAMMER:-20}
OUT=$WORK/refuse
rm -rf "$OUT" && mkdir -p "$OUT"
HZ=$(getconf CLK_TCK)

build
machine > "$OUT/machine.txt"
start_redis 16389
start_btcd 18610
pool_config 0 3520 9320 "$MAXCONN"
start_pool 0
PID=${POOL_PID[0]}
wait_port 127.0.0.1:3520 60
sleep 2
M=http://127.0.0.1:9320/metrics

# Fill the pool; these miners stay connected (idle) through the hammer.
"$TB" --pool 127.0.0.1:3520 --miners "$MAXCONN" --sources 10 --source-base 127.30.0.2 --rate -1 \
  --duration $((HAMMER * 2 + 40))s --progress 0 --json --user "$PAYOUT.fill{i}" > "$OUT/fill.json" 2> "$OUT/fill.err" &
FILL=$!
track $FILL
for _ in $(seq 60); do
  [ "$(metric $M tarbela_connections)" -ge "$MAXCONN" ] && break
  sleep 1
done
sleep 3
log "pool $PID full: $(metric $M tarbela_connections) connections"

snap() { echo "$(cpu_ticks $PID) $(wc -l < "$WORK/pool0.log") $(metric $M tarbela_connections_refused_total) $(metric $M tarbela_connections)"; }
read -r q_cpu0 q_log0 q_ref0 q_conn0 <<< "$(snap)"
sleep "$HAMMER"
read -r q_cpu1 q_log1 q_ref1 q_conn1 <<< "$(snap)"

"$TB" --pool 127.0.0.1:3520 --miners $((RAMP * HAMMER)) --ramp "$RAMP" --sources 50 --source-base 127.31.0.2 \
  --rate -1 --duration "${HAMMER}s" --drain 1s --io-timeout 5s --progress 0 --json --user "$PAYOUT.x{i}" \
  > "$OUT/hammer.json" 2> "$OUT/hammer.err" &
HAM=$!
track $HAM
read -r h_cpu0 h_log0 h_ref0 h_conn0 <<< "$(snap)"
t0=$(date +%s%N)
wait $HAM || true
t1=$(date +%s%N)
read -r h_cpu1 h_log1 h_ref1 h_conn1 <<< "$(snap)"
sleep 11 # the refusal summary is logged every 10 s
read -r a_cpu a_log a_ref a_conn <<< "$(snap)"
cp "$WORK/pool0.log" "$OUT/"
kill -INT $FILL 2>/dev/null || true
wait $FILL || true

python3 - "$OUT" "$HZ" "$HAMMER" "$(( (t1 - t0) / 1000000 ))" \
  "$q_cpu0 $q_log0 $q_ref0 $q_conn0" "$q_cpu1 $q_log1 $q_ref1 $q_conn1" \
  "$h_cpu0 $h_log0 $h_ref0 $h_conn0" "$h_cpu1 $h_log1 $h_ref1 $h_conn1" "$a_cpu $a_log $a_ref $a_conn" <<'PY' | tee "$OUT/summary.txt"
import json, sys
out, hz, hammer, ms = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
q0, q1, h0, h1, a = ([int(x) for x in s.split()] for s in sys.argv[5:10])
h = json.load(open(out + "/hammer.json"))
f = json.load(open(out + "/fill.json"))
hc = h["connections"]
print(f"full pool: {q0[3]} connections (fill tool: {f['connections']['with_work']} got work)")
print(f"quiet {hammer} s, pool full: CPU {(q1[0] - q0[0]) / hz:.2f} s, log lines +{q1[1] - q0[1]}, refused +{q1[2] - q0[2]}")
print(f"hammer ({ms / 1000:.1f} s): tool attempted {hc['attempted']} connections, connected {hc['connected']}, "
      f"got work {hc['with_work']}, handshake failed {hc['handshake_failed']}, dial errors {hc.get('dial_errors')}")
cpu = (h1[0] - h0[0]) / hz
ref = h1[2] - h0[2]
print(f"pool during the hammer: CPU {cpu:.2f} s over {ms / 1000:.1f} s = {100 * cpu / (ms / 1000):.1f} % of one core, "
      f"refused +{ref} ({ref / (ms / 1000):.0f}/s), {1e6 * cpu / max(ref, 1):.1f} µs CPU per refusal, "
      f"log lines +{h1[1] - h0[1]} during, +{a[1] - h0[1]} up to 11 s after; connections {h1[3]} (limit {q0[3]})")
PY
grep -i refus "$OUT/pool0.log" | tail -3 || true
log "done; results in $OUT"
