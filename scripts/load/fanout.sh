#!/usr/bin/env bash
# fanout.sh: issue 5 item 4, "notify fan-out time to 1,000 and 10,000 miners
# after a new block" (aim: p99 <= 50 ms at 10,000).
#
# One real `tarbela run` on btcd --regtest and redis-server. For each count
# in COUNTS, one tarbela-bench process connects that many idle miners (--rate
# -1: no shares, so no block is ever found by a miner) and calls btcd's
# `generate 1` every 2 s for DURATION once all have work; the tool reports
# first->last clean_jobs notify per block, per-miner arrival after the first,
# and generate call -> first/last notify. The load tool shares the machine's
# cores with the pool, btcd and Redis.
#
#   scripts/load/fanout.sh          # WORK=/tmp/tarbela-load COUNTS="1000 10000" DURATION=30
source "$(dirname "$0")/lib.sh"
COUNTS=${COUNTS:-1000 10000}
DURATION=${DURATION:-30}
OUT=$WORK/fanout
rm -rf "$OUT" && mkdir -p "$OUT"

build
machine > "$OUT/machine.txt"
start_redis 16409
start_btcd 18620
pool_config 0 3540 9340 19900
start_pool 0
wait_port 127.0.0.1:3540 60
sleep 2
: > "$OUT/summary.txt"
for n in $COUNTS; do
  "$TB" --pool 127.0.0.1:3540 --miners "$n" --sources 20 --source-base 127.40.0.2 --rate -1 \
    --duration "${DURATION}s" --block-every 2s --rpc-url "$RPC_URL" --rpc-user $RPCUSER --rpc-pass $RPCPASS \
    --progress 0 --pool-pid "${POOL_PID[0]}" --user "$PAYOUT.f{i}" > "$OUT/miners$n.txt" 2> "$OUT/miners$n.err"
  { echo "== $n miners"; cat "$OUT/miners$n.txt"; } | tee -a "$OUT/summary.txt"
  sleep 3
done
cp "$WORK/pool0.log" "$OUT/"
log "done; results in $OUT"
