#!/usr/bin/env bash
# wait.sh: issue 14 item 4, "the cost of the wait is measured (p50/p99
# submit latency with and without it)".
#
# What runs: a redis-server primary and one replica (persistence off,
# replicating over loopback), and `tarbela-bench pool --redis` (Tarbela's
# real stratum.Server, share.Validator and share/redisstore on a synthetic
# job; a share is answered "accepted" only once its batch is recorded)
# alternately with --redis-wait 0 (no WAIT) and --redis-wait 1 (WAIT 1 after
# every batch, what wait_replicas = -1 does with a replica online). The load
# tool sends MINERS miners at RATE shares/s each for SECS seconds per run and
# reports the submit->reply latency it saw; ROUNDS alternating pairs.
#
#   scripts/load/wait.sh        # WORK=/tmp/tarbela-load MINERS=500 RATE=4 SECS=20 ROUNDS=3
source "$(dirname "$0")/lib.sh"
MINERS=${MINERS:-500}
RATE=${RATE:-4}
SECS=${SECS:-20}
ROUNDS=${ROUNDS:-3}
OUT=$WORK/wait
rm -rf "$OUT" && mkdir -p "$OUT"

build
machine > "$OUT/machine.txt"
start_redis 16401
mkdir -p "$WORK/replica"
redis-server --port 16402 --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK/replica" \
  --replicaof 127.0.0.1 16401 --daemonize no > "$WORK/replica/redis.out" 2>&1 &
track $!
wait_port 127.0.0.1:16402 15
for _ in $(seq 300); do
  redis-cli -p 16401 info replication | grep -q 'state=online' && break
  sleep 0.1
done
redis-cli -p 16401 info replication | grep -q 'state=online' || { echo "the replica did not come online" >&2; exit 1; }

: > "$OUT/summary.txt"
for round in $(seq "$ROUNDS"); do
  for wait in 0 1; do
    name="r$round-wait$wait"
    redis-cli -p 16401 flushall > /dev/null
    "$TB" pool --listen 127.0.0.1:3531 --redis "$REDIS" --redis-wait "$wait" --status 0 --duration 10m \
      > "$OUT/$name.pool.out" 2> "$OUT/$name.pool.err" &
    pid=$!
    track $pid
    wait_port 127.0.0.1:3531 15
    "$TB" --pool 127.0.0.1:3531 --miners "$MINERS" --sources 10 --rate "$RATE" --duration "${SECS}s" \
      --progress 0 --json > "$OUT/$name.json" 2> "$OUT/$name.err"
    kill -INT $pid; wait $pid || true
    "$TB" --combine "$OUT/$name.json" > "$OUT/$name.txt"
    echo "$name: $(grep 'submit latency' "$OUT/$name.txt" | sed 's/^ *//'); $(python3 -c "import json; s=json.load(open('$OUT/$name.json'))['shares']; print(f\"accepted {s['accepted_per_s']:,.0f}/s, lost {s['lost']}\")")" \
      | tee -a "$OUT/summary.txt"
  done
done
log "done; results in $OUT"
