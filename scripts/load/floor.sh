#!/usr/bin/env bash
# floor.sh: how much of the notify fan-out figure is Tarbela, and how much is
# this machine. Issue 5 item 4 aims at p99 <= 50 ms to 10,000 miners; here the
# same load tool measures, in the same run and alternately, Tarbela's
# in-process Stratum server (`tarbela-bench pool`) and the floor
# (`tarbela-bench pool --bare`: canned handshake, one precomputed notify line,
# one non-blocking write system call per miner from GOMAXPROCS goroutines, no
# per-miner work at all). Both publish a new prevhash every 2 s to COUNT idle
# miners (--rate -1) from 50 loopback sources; the figure is first->last
# notify over the rounds that reached every miner. Tool and server share the
# machine's cores, as in fanout.sh.
#
#   scripts/load/floor.sh      # WORK=/tmp/tarbela-load COUNTS="1000 10000" REPS=3 DURATION=25
source "$(dirname "$0")/lib.sh"
COUNTS=${COUNTS:-1000 10000}
REPS=${REPS:-3}
DURATION=${DURATION:-25}
OUT=$WORK/floor
rm -rf "$OUT" && mkdir -p "$OUT"

build
machine > "$OUT/machine.txt"
: > "$OUT/summary.txt"
port=3560
for n in $COUNTS; do
  for rep in $(seq "$REPS"); do
    for kind in bare tarbela; do
      flag=""
      [ $kind = bare ] && flag=--bare
      port=$((port + 1))
      "$TB" pool --listen 127.0.0.1:$port --new-block-every 2s --status 0 --max-connections 19900 $flag \
        > "$OUT/$kind-$n-$rep.pool" 2>&1 &
      pid=$!
      track $pid
      wait_port 127.0.0.1:$port 15
      "$TB" --pool 127.0.0.1:$port --miners "$n" --sources 50 --source-base 127.50.$rep.2 --rate -1 \
        --duration "${DURATION}s" --progress 0 --pool-pid $pid > "$OUT/$kind-$n-$rep.txt" 2> "$OUT/$kind-$n-$rep.err"
      kill -INT $pid && wait $pid || true
      line=$(grep -E "first to last, the [0-9]+ round\(s\) reaching $n miners" "$OUT/$kind-$n-$rep.txt" ||
        grep -E "first to last miner per round" "$OUT/$kind-$n-$rep.txt" || echo "no fan-out line")
      printf '%-7s %6d miners, run %d: %s\n' $kind "$n" "$rep" "$(echo "$line" | sed 's/^ *//')" | tee -a "$OUT/summary.txt"
      sleep 2
    done
  done
done
log "done; results in $OUT"
