#!/usr/bin/env bash
# saturate.sh: issue 5 item 4, "shares/s accepted at saturation and the p99
# latency at half that load", and "CPU profile of the share path at
# saturation".
#
# What runs: `tarbela-bench pool --redis`, Tarbela's real stratum.Server and
# share.Validator on a synthetic job whose network target is 1 (no share is
# ever a block, so there is no regtest block flood), with every accepted
# share recorded in a real redis-server through share/redisstore (default
# options: 512-share batches, 10 ms batch interval, no journal), and
# answered "accepted" only once its batch is in Redis. The load tool runs on
# the same two cores. Steps of MINERS miners at RATES shares/s each find
# saturation (the highest accepted/s); then a run at half of it gives the
# p99 latency; then a pool with --cpuprofile is loaded at the saturating
# rate and its profile summarized with `go tool pprof -top`.
#
#   scripts/load/saturate.sh        # WORK=/tmp/tarbela-load MINERS=2000 RATES="5 10 20 30" STEP=15
source "$(dirname "$0")/lib.sh"
MINERS=${MINERS:-2000}
RATES=${RATES:-5 10 20 30}
STEP=${STEP:-15}
OUT=$WORK/saturate
rm -rf "$OUT" && mkdir -p "$OUT"

build
machine > "$OUT/machine.txt"
start_redis 16399

# pool_run NAME [EXTRA FLAGS]: a bench pool with Redis on 127.0.0.1:3530,
# bounded at 10 minutes; sets PPID_.
pool_run() {
  local name=$1; shift
  redis-cli -p 16399 flushall > /dev/null
  "$TB" pool --listen 127.0.0.1:3530 --redis "$REDIS" --status 5s --duration 10m "$@" \
    > "$OUT/$name.pool.out" 2> "$OUT/$name.pool.err" &
  PPID_=$!
  track $PPID_
  wait_port 127.0.0.1:3530 15
}
# pool_stop: stop the bench pool (it flushes Redis and prints its counts).
pool_stop() { kill -INT $PPID_; wait $PPID_ || true; }

# step NAME RATE SECONDS: one tool run; prints accepted/s and latency.
step() {
  local name=$1 rate=$2 secs=$3
  local c0 c1 r0 r1
  c0=$(cpu_ticks $PPID_) r0=$(cpu_ticks $REDIS_PID)
  "$TB" --pool 127.0.0.1:3530 --miners "$MINERS" --sources 20 --rate "$rate" --duration "${secs}s" \
    --progress 0 --json --pool-pid $PPID_ > "$OUT/$name.json" 2> "$OUT/$name.err"
  c1=$(cpu_ticks $PPID_) r1=$(cpu_ticks $REDIS_PID)
  "$TB" --combine "$OUT/$name.json" > "$OUT/$name.txt"
  python3 - "$OUT/$name.json" "$name" "$rate" "$MINERS" "$(( c1 - c0 ))" "$(getconf CLK_TCK)" \
    "$(grep 'submit latency' "$OUT/$name.txt")" "$(( r1 - r0 ))" <<'PY' | tee -a "$OUT/summary.txt"
import json, sys
r = json.load(open(sys.argv[1])); name, rate, miners, ticks, hz = sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
s = r["shares"]
lat = r["latency"]
print(f"{name}: rate {rate:g}/miner x {miners} = {rate * miners:,.0f} offered/s: accepted {s['accepted_per_s']:,.0f}/s, "
      f"rejected {s['rejected_per_s']:,.0f}/s {s.get('rejects_by_code')}, lost {s['lost']}, behind {s['behind']}, "
      f"{sys.argv[7].strip()} ({lat['count']} replies, window {s['window_seconds']:.1f} s); pool CPU {ticks / hz:.1f} s "
      f"= {100 * ticks / hz / r['seconds']:.0f} % of one core, redis-server {int(sys.argv[8]) / hz:.1f} s "
      f"= {100 * int(sys.argv[8]) / hz / r['seconds']:.0f} %")
PY
}

: > "$OUT/summary.txt"
pool_run steps
best=0 best_rate=0
for r in $RATES; do
  step "rate$r" "$r" "$STEP"
  a=$(python3 -c "import json; print(int(json.load(open('$OUT/rate$r.json'))['shares']['accepted_per_s']))")
  if [ "$a" -gt "$best" ]; then best=$a best_rate=$r; fi
done
half=$(python3 -c "print(round($best / 2 / $MINERS, 3))")
step "half" "$half" 20
pool_stop
tail -1 "$OUT/steps.pool.out" | tee -a "$OUT/summary.txt"
echo "saturation: $best accepted/s at rate $best_rate/miner; half load: rate $half/miner" | tee -a "$OUT/summary.txt"

pool_run profile --cpuprofile "$OUT/cpu.pprof"
step "profile" "$best_rate" 20
pool_stop
tail -1 "$OUT/profile.pool.out" | tee -a "$OUT/summary.txt"
go tool pprof -top -nodecount=30 "$TB" "$OUT/cpu.pprof" > "$OUT/pprof-top.txt" 2>&1
go tool pprof -top -cum -nodecount=40 "$TB" "$OUT/cpu.pprof" > "$OUT/pprof-cum.txt" 2>&1
head -40 "$OUT/pprof-top.txt"
log "done; results in $OUT"
