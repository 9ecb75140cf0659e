#!/usr/bin/env bash
# ledger-scale.sh: issue 14 items 1-2, "a memory budget that holds at
# 570,000 workers, proven by a scale run". Runs `tarbela-bench ledger-scale`
# (internal/ledgerscale): the real share store (share/redisstore) on a real
# redis-server it starts itself on a free loopback port, 570,000 distinct
# workers in 200 accounts, the programme's 57,000 shares/s of difficulty
# 65,536 on a simulated clock. Three runs:
#
#   day    26 simulated hours, each worker one share every 5 minutes of
#          simulated time with the work of 30 (fewer shares, the same work and
#          the same (worker, bucket) pairs): Redis memory over simulated time
#          until the 24 h tiers are full, a block every 110 minutes, 9 frozen
#          rounds kept; as fast as the store takes the shares
#   full   every share of the programme (one per worker per 10 s) for 5
#          simulated minutes, as fast as the store takes them: the shares/s
#          one Redis takes, its CPU and the batches' latency under a backlog
#   paced  every share of the programme at the programme's rate (57,000
#          shares per wall second) for 3 minutes: the batches' latency and
#          Redis's CPU at the real load
#
#   scripts/load/ledger-scale.sh          # WORK=/tmp/tarbela-load RUNS="day full paced"
#
# Output: $WORK/ledger-scale/{machine.txt,day.txt,full.txt,paced.txt}
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-day full paced}
WORKERS=${WORKERS:-570000}
OUT=$WORK/ledger-scale
mkdir -p "$OUT"

build
machine > "$OUT/machine.txt"
for run in $RUNS; do
  case $run in
  day) args=(--period 5m --duration 26h --sample 1h) ;;
  full) args=(--duration 5m --sample 1m --block-every 0) ;;
  paced) args=(--duration 3m --sample 30s --block-every 0 --pace 57000) ;;
  *) log "unknown run $run (want day, full or paced)"; exit 2 ;;
  esac
  log "ledger-scale $run: ${args[*]}"
  "$TB" ledger-scale --workers "$WORKERS" "${args[@]}" | tee "$OUT/$run.txt"
done
log "done: $OUT"
