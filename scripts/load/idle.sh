#!/usr/bin/env bash
# idle.sh: pool RSS per idle miner at the most miners one process holds here
# (19,900 under the 20,000 open-file cap), read every 30 s over a long run so
# that drift shows. Issue 5 item 4 (aim: <= 6 KiB per idle miner).
#
# One `tarbela-bench pool` (Tarbela's Stratum server on the synthetic job, a
# new prevhash every 2 s), two tool processes of MINERS/2 idle miners each
# (--rate -1) from 50 loopback sources each. Per miner = (VmRSS now - VmRSS
# before the first dial) / MINERS.
#
#   scripts/load/idle.sh       # WORK=/tmp/tarbela-load MINERS=19900 SECONDS_=390
source "$(dirname "$0")/lib.sh"
MINERS=${MINERS:-19900}
SECONDS_=${SECONDS_:-390}
OUT=$WORK/idle
rm -rf "$OUT" && mkdir -p "$OUT"

build
machine > "$OUT/machine.txt"
"$TB" pool --listen 127.0.0.1:3622 --new-block-every 2s --status 0 --max-connections $((MINERS + 50)) > "$OUT/pool.txt" 2>&1 &
pid=$!
track $pid
wait_port 127.0.0.1:3622 15
before=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
half=$((MINERS / 2))
"$TB" --pool 127.0.0.1:3622 --miners $half --first-index 0 --source-base 127.0.1.2 --sources 50 --rate -1 \
  --duration "$((SECONDS_ + 10))s" --progress 0 --json --pool-pid $pid > "$OUT/tool0.json" 2> "$OUT/tool0.err" &
t0=$!
"$TB" --pool 127.0.0.1:3622 --miners $((MINERS - half)) --first-index $half --source-base 127.0.61.2 --sources 50 --rate -1 \
  --duration "$((SECONDS_ + 10))s" --progress 0 --json --pool-pid $pid > "$OUT/tool1.json" 2> "$OUT/tool1.err" &
t1=$!
echo "before: $before kB" | tee "$OUT/summary.txt"
for t in $(seq 30 30 "$SECONDS_"); do
  sleep 30
  rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
  printf 't=%ss rss %s kB: %s KiB per miner above the start\n' "$t" "$rss" \
    "$(awk -v r="$rss" -v b="$before" -v n="$MINERS" 'BEGIN {printf "%.2f", (r - b) / n}')" | tee -a "$OUT/summary.txt"
done
wait $t0 $t1
kill -INT $pid && wait $pid || true
"$TB" --combine "$OUT/tool0.json" "$OUT/tool1.json" | grep -Ei 'with work|RSS' | tee -a "$OUT/summary.txt"
log "done; results in $OUT"
