#!/usr/bin/env bash
# api.sh: issue 12 item 6, "the API never slows the share path: with the
# load tool at half of saturation, polling every public endpoint 50 times a
# second changes the submit p99 by less than the run-to-run noise".
#
# What runs: `tarbela-bench pool --redis --api`, Tarbela's real
# stratum.Server and share.Validator on a synthetic job (no share is ever a
# block), every accepted share recorded in a real redis-server through
# share/redisstore and acknowledged once recorded (as saturate.sh), plus
# the real HTTP API (package api, the daemon's api.Pool over the same
# Redis behind the same cache as tarbela run, API_CACHE; no node, so
# network height and difficulty are 0). Every miner is
# a worker of one account (ACCOUNT.<i>: a farm of MINERS workers, the
# heaviest account page), and BLOCKS block records are written to Redis so
# that the blocks route and the summary's last block read something.
#
# Steps of MINERS miners at RATES shares/s each find saturation (the
# highest accepted/s); the load then runs at half of it in PAIRS pairs of
# phases of PHASE seconds in ABBA order (off on on off off on ...), so a
# drift over the run weighs on both conditions alike. In an "on" phase
# `tarbela-bench apipoll` requests every public route POLL_RATE times a
# second for the whole phase. Each phase is its own load-tool run against
# the same pool and Redis. Per phase: submit p50/p99, accepted/s, the pool's,
# redis-server's (INFO cpu) and the poller's CPU, Redis commands/s. The
# noise is the spread (max - min) of the p99 between the off phases (the
# run-to-run noise of the share path alone); the effect is
# mean(on) - mean(off).
#
#   scripts/load/api.sh   # WORK=/tmp/tarbela-load MINERS=2000 RATES="5 10 20 30" STEP=15 PHASE=20 PAIRS=4 POLL_RATE=50 API_CACHE=2s POLL_NICE=0
source "$(dirname "$0")/lib.sh"
MINERS=${MINERS:-2000}
RATES=${RATES:-5 10 20 30}
STEP=${STEP:-15}
PHASE=${PHASE:-20}
PAIRS=${PAIRS:-4}
POLL_RATE=${POLL_RATE:-50}
BLOCKS=${BLOCKS:-20}
API_CACHE=${API_CACHE:-2s} # as tarbela run; 0 serves without the cache (api.NewCache)
POLL_NICE=${POLL_NICE:-0} # nice(1) of the poller: 19 gives the cores to the pool first, as clients on other machines would
ACCOUNT=${ACCOUNT:-$PAYOUT}
RPORT=16398 SPORT=3532 APORT=3533
OUT=$WORK/api
rm -rf "$OUT" && mkdir -p "$OUT"

build
machine > "$OUT/machine.txt"
start_redis $RPORT
rcli() { redis-cli -p $RPORT "$@"; }

# redis_cpu: redis-server's user+system CPU seconds (INFO cpu).
redis_cpu() { rcli info cpu | tr -d '\r' | awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.3f\n", s}'; }
# redis_cmds: commands Redis processed so far (INFO stats).
redis_cmds() { rcli info stats | tr -d '\r' | awk -F: '/^total_commands_processed:/ {print $2}'; }

# seed_blocks N: N block records as the batch script writes them
# (docs/redis.md), for the blocks route to read.
seed_blocks() {
  local i h k=tarbela:{acct}
  for i in $(seq "$1"); do
    h=$(printf '%064x' $((0x7a000000 + i)))
    rcli hset "$k:block:$h" height $((100 + i)) hash "$h" worker "$ACCOUNT.0" account "$ACCOUNT" \
      reward 312500000 status confirmed reason '' time $(( $(date +%s) * 1000 - i * 60000 )) node 1 \
      round "$h" coinbase_txid "$h" netdiff 1 > /dev/null
    rcli zadd "$k:blocks" $((100 + i)) "$h" > /dev/null
  done
}

rcli flushall > /dev/null
seed_blocks "$BLOCKS"
"$TB" pool --listen 127.0.0.1:$SPORT --redis "$REDIS" --api 127.0.0.1:$APORT --api-cache "$API_CACHE" --status 5s --duration 30m \
  > "$OUT/pool.out" 2> "$OUT/pool.err" &
PPID_=$!
track $PPID_
wait_port 127.0.0.1:$SPORT 15
wait_port 127.0.0.1:$APORT 15
API_URL=http://127.0.0.1:$APORT/

# step NAME RATE SECONDS [poll]: one load-tool run; with "poll" the poller
# runs beside it for the whole run. Appends a JSON line to phases.jsonl.
step() {
  local name=$1 rate=$2 secs=$3 poll=${4:-}
  local c0 c1 r0 r1 n0 n1 t0 t1 poll_pid=
  c0=$(cpu_ticks $PPID_) r0=$(redis_cpu) n0=$(redis_cmds) t0=$(date +%s.%N)
  if [ -n "$poll" ]; then
    nice -n "$POLL_NICE" "$TB" apipoll --url "$API_URL" --account "$ACCOUNT" --rate "$POLL_RATE" --duration "$((secs + 2))s" --json \
      > "$OUT/$name.poll.json" 2> "$OUT/$name.poll.err" &
    poll_pid=$!
    track $poll_pid
  fi
  "$TB" --pool 127.0.0.1:$SPORT --miners "$MINERS" --sources 20 --rate "$rate" --duration "${secs}s" \
    --user "$ACCOUNT.{i}" --progress 0 --json --pool-pid $PPID_ > "$OUT/$name.json" 2> "$OUT/$name.err"
  c1=$(cpu_ticks $PPID_) r1=$(redis_cpu) n1=$(redis_cmds) t1=$(date +%s.%N)
  if [ -n "$poll_pid" ]; then
    wait "$poll_pid" || log "poller $name: exit $? (see $OUT/$name.poll.err)"
  fi
  "$TB" --combine "$OUT/$name.json" > "$OUT/$name.txt"
  python3 - "$OUT" "$name" "$rate" "$(( c1 - c0 ))" "$(getconf CLK_TCK)" "$r0" "$r1" "$n0" "$n1" "$t0" "$t1" "${poll:-off}" <<'PY' | tee -a "$OUT/summary.txt"
import json, os, sys
out, name, rate, ticks, hz, r0, r1, n0, n1, t0, t1, poll = sys.argv[1:]
r = json.load(open(f"{out}/{name}.json"))
wall = float(t1) - float(t0)
s, lat = r["shares"], r["latency"]
row = {"phase": name, "poll": poll != "off", "rate": float(rate), "accepted_per_s": s["accepted_per_s"],
       "lost": s["lost"], "rejected_per_s": s["rejected_per_s"], "replies": lat["count"],
       "pool_cpu_pct": 100 * int(ticks) / int(hz) / wall, "redis_cpu_pct": 100 * (float(r1) - float(r0)) / wall,
       "redis_cmds_per_s": (int(n1) - int(n0)) / wall, "wall_s": wall}
txt = open(f"{out}/{name}.txt").read()
for line in txt.splitlines():
    if line.startswith("submit latency:"):
        parts = dict(p.strip().rsplit(" ", 2)[0:2] for p in line.split(":", 1)[1].split(",")[:2])
        row["p50_ms"], row["p99_ms"] = float(parts["p50"]), float(parts["p99"])
pf = f"{out}/{name}.poll.json"
if poll != "off" and os.path.exists(pf) and os.path.getsize(pf) > 0:
    p = json.load(open(pf))
    row["poll_cpu_pct"] = 100 * p["cpu_seconds"] / p["seconds"]
    row["poll_ok"] = sum(rt["ok"] for rt in p["routes"])
    row["poll_errors"] = sum(sum(rt.get("errors", {}).values()) + rt["skipped"] for rt in p["routes"])
    row["poll_per_s"] = sum(rt["answered_per_s"] for rt in p["routes"])
    row["poll_routes"] = {rt["route"]: rt["latency_summary"] for rt in p["routes"]}
open(f"{out}/phases.jsonl", "a").write(json.dumps(row) + "\n")
extra = ""
if "poll_ok" in row:
    extra = f"; API {row['poll_per_s']:.0f} answers/s, {row['poll_errors']} errors, poller CPU {row['poll_cpu_pct']:.0f} %"
print(f"{name}: poll {'on ' if row['poll'] else 'off'} accepted {row['accepted_per_s']:,.0f}/s lost {row['lost']}, "
      f"submit p50 {row.get('p50_ms', 0):.2f} ms p99 {row.get('p99_ms', 0):.2f} ms; pool CPU {row['pool_cpu_pct']:.0f} %, "
      f"redis-server {row['redis_cpu_pct']:.0f} % ({row['redis_cmds_per_s']:,.0f} commands/s){extra}")
PY
}

: > "$OUT/summary.txt"
: > "$OUT/phases.jsonl"
best=0 best_rate=0
for r in $RATES; do
  step "rate$r" "$r" "$STEP"
  a=$(python3 -c "import json; print(int(json.load(open('$OUT/rate$r.json'))['shares']['accepted_per_s']))")
  if [ "$a" -gt "$best" ]; then best=$a best_rate=$r; fi
done
half=$(python3 -c "print(round($best / 2 / $MINERS, 3))")
echo "saturation: $best accepted/s at rate $best_rate/miner; half load: rate $half/miner x $MINERS" | tee -a "$OUT/summary.txt"
: > "$OUT/phases.jsonl" # the saturation steps are not phases

# ABBA: off on on off, off on on off, ...
for i in $(seq "$PAIRS"); do
  if [ $((i % 2)) = 1 ]; then order="off on"; else order="on off"; fi
  for c in $order; do
    if [ "$c" = on ]; then step "on$i" "$half" "$PHASE" poll; else step "off$i" "$half" "$PHASE"; fi
  done
done
kill -INT $PPID_; wait $PPID_ || true
tail -1 "$OUT/pool.out" | tee -a "$OUT/summary.txt"

python3 - "$OUT/phases.jsonl" "$POLL_RATE" <<'PY' | tee -a "$OUT/summary.txt"
import json, math, statistics as st, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
on = [r for r in rows if r["poll"]]
off = [r for r in rows if not r["poll"]]
def fig(key):
    a, b = [r.get(key, 0) for r in off], [r.get(key, 0) for r in on]
    return a, b, st.mean(a), st.mean(b)
print(f"phases: {len(off)} off, {len(on)} on; polling {sys.argv[2]}/s per public route")
for key, unit in [("p99_ms", "ms"), ("p50_ms", "ms"), ("accepted_per_s", "/s"), ("lost", ""), ("redis_cpu_pct", "%"),
                  ("pool_cpu_pct", "%"), ("redis_cmds_per_s", "/s")]:
    a, b, ma, mb = fig(key)
    print(f"{key}: off mean {ma:,.2f} median {st.median(a):,.2f} (min {min(a):,.2f} max {max(a):,.2f}), "
          f"on mean {mb:,.2f} median {st.median(b):,.2f} (min {min(b):,.2f} max {max(b):,.2f}); on - off {mb - ma:+,.2f} {unit}")
a, b, ma, mb = fig("p99_ms")
noise = max(a) - min(a)
inside = sum(min(a) <= x <= max(a) for x in b)
se = math.sqrt(st.variance(a) / len(a) + st.variance(b) / len(b)) if len(a) > 1 and len(b) > 1 else float("nan")
print(f"submit p99 noise (spread between the off phases): {noise:.2f} ms; effect (mean on - mean off): {mb - ma:+.2f} ms "
      f"(standard error {se:.2f} ms); {inside} of {len(b)} on phases inside the off phases' range")
a_acc, b_acc, _, _ = fig("accepted_per_s")
acc_ok = min(b_acc) >= min(a_acc) - (max(a_acc) - min(a_acc)) and all(r["lost"] == 0 for r in on)
ok = abs(mb - ma) < noise and acc_ok
print("verdict: " + ("the effect on the submit p99 is within the noise, and no share rate was lost" if ok else
      "the API slows the share path: " + ("the p99 effect exceeds the noise" if abs(mb - ma) >= noise else "shares lost or the accepted rate fell")))
errs = sum(r.get("poll_errors", 0) for r in on)
print(f"API answers in the on phases: {sum(r.get('poll_ok', 0) for r in on)} ok, {errs} errors or skipped")
PY
log "done; results in $OUT"
