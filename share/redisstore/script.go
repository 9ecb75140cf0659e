package redisstore

import (
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// applyScript records one batch atomically: shares first, then the batch's
// block, if any. It returns 1 when applied, 0 when the batch was applied
// before (a resend after a lost reply, or a journal replayed again).
//
// A batch is (stream, seq): the stream is one store process (node and start
// time), seq counts its batches from 1. The writer and the replayer send a
// stream's batches strictly in order, one at a time, so "seq at most the
// stream's high-water mark" means "already applied"; the mark's key lives
// DedupeTTL after the stream's last batch.
//
// Cost: the shares of a batch are summed per worker and account by the
// writer, and each name is sent once, with its work and last share time.
// The script adds the sums with one HMGET and one HSET per hash and 500
// names (not one HINCRBYFLOAT per name: a call from Lua costs more than the
// addition), and reuses the same names and sums for the hashrate bucket and
// the PPLNS slice when the batch lies in one of each, as nearly all do.
//
// PPLNS window (docs/payout.md): each slice's work per account goes to its
// slice hash, the slice's work to pplns:tot (field: slice start ms) and to
// the running sum of every slice kept (field "all"), the slice to the index.
// Then the oldest slices are dropped while the newer ones alone hold at
// least 4 × N × D, D the batch's highest network difficulty (0: unknown, no
// trim). A block that freezes its round also freezes the window: the
// newest slices up to N × D of work, the oldest one needed pro rata, into
// round:<hash>:pplns. The script reads and drops slices it finds in the
// index, whose names it builds from the slice prefix: they carry the same
// hash tag, so they are in the slot of the declared keys.
//
// Pool-wide hashrate: each account bucket also holds the bucket's whole
// work under the field PoolField, which no account can be named (AddShare
// refuses names with '|'), so the pool's hashrate is one HGET per bucket
// however many accounts mine.
//
// Worker names: every worker in last:w is also in names:w, a sorted set
// with score 0 ordered by name, so that an account's workers are one
// ZRANGEBYLEX; a worker leaves it when its last share leaves last:w.
//
// Hashrate tiers (Tiers, docs/redis.md): the accounts' buckets (with the
// pool's work), the workers' fine buckets and the workers' coarse buckets
// each take the batch's sums like the round when the batch lies in one
// bucket of the tier. Every bucket is indexed in hr:idx by its deadline
// (its end plus its tier's retention, ms); the script keeps the clock, the
// newest share time it has recorded, and deletes (UNLINK) the buckets whose
// deadline it reached and trims last-share times older than the clock less
// HashrateRetention. Expiry therefore follows the shares' time, not the
// Redis server's: a simulated day passes in minutes, and a pool that
// records nothing keeps its history (each bucket also has a TTL of its
// retention plus two widths, a safety net for a pool that stopped).
//
// The clock never goes more than MaxClockAhead past the Redis server's own
// time (TIME): a node whose clock is wrong by a year would otherwise expire
// every bucket and keep expiring the others' for that year. A simulated
// clock must therefore run behind the server's (ledger-scale starts in the
// past); buckets a batch from the future writes live until their TTL.
//
// KEYS: 1 stream high-water mark, 2-4 current round w/a/meta, 5 PPLNS slice
// index, 6-7 last share w/a, 8 totals, 9 blocks index, 10 block record,
// 11-13 the block's frozen round w/a/meta, 14 PPLNS slice totals, 15 PPS
// owed, 16 the block's frozen window, 17 worker names, 18 hashrate bucket
// index, 19 clock, 20.. the hashrate buckets: the accounts' (ARGV 11 of
// them), then the workers' fine ones (ARGV 15), then the workers' coarse
// ones (ARGV 16); then the batch's PPLNS slices (ARGV 12).
//
// ARGV: 1 dedupe TTL s, 2 PPLNS N, 3 account bucket TTL s, 4
// HashrateRetention ms (last-share times older than the clock less this
// are trimmed), 5 per-node totals field, 6 shares, 7 work, 8 first share
// ms, 9 last share ms, 10 seq, 11 account buckets B, 12 slices S, 13 the
// batch's highest network difficulty, 14 the slice key prefix, 15 fine
// worker buckets F, 16 coarse worker buckets C, 17 fine bucket TTL s, 18
// coarse bucket TTL s, 19 the batch's clock (its newest share ms, 0 with no
// shares), 20 "1" to unlink the round's work per worker when a block
// freezes it (DropFrozenWorkers) rather than keep it, then counted sections
// from 21: workers as (name, work, last
// share ms) triples, accounts likewise; the workers' tier fields as a
// counted (field, work) pair section in the workers' order (the field is
// WorkerField of the name); per account bucket its deadline ms
// and, when B > 1, a counted (account, work) pair section; per fine worker
// bucket its deadline and, when F > 1, a counted (worker field, work) section;
// per coarse worker bucket likewise (C); per slice its start ms and work,
// then, when S > 1, a counted (account, work) pair section (when S is 1 the
// slice's sums are the accounts'); the PPS worth as a counted (account,
// satoshis) pair section; and the block section (0, or 1 hash height
// status frozen-ms network difficulty nfields field/value pairs).
var applyScript = redis.NewScript(`
local function push(cmd, key, pre, first, count)
  -- Sends cmd key pre ARGV[first..first+count-1] in chunks of at most 1000
  -- arguments (an even number, so pairs stay whole), far below Lua's
  -- unpack limit.
  local i = first
  local last = first + count - 1
  while i <= last do
    local t = {}
    if pre then t[1] = pre end
    local j, n = i, 0
    while j <= last and n < 1000 do t[#t+1] = ARGV[j]; j = j + 1; n = n + 1 end
    redis.call(cmd, key, unpack(t))
    i = j
  end
end
local function add(keys, i, n, stride)
  -- Adds the work of the n names of the section at ARGV[i] (entries of
  -- stride arguments: name, work[, ms]) to the names' fields of each hash
  -- in keys. The script is atomic, so a read and its write cannot
  -- interleave with another node's. Values are IEEE doubles; Redis writes
  -- a Lua number argument with 17 significant digits ("%.17g"), so it
  -- reads back exactly.
  local done = 0
  while done < n do
    local m = math.min(n - done, 500)
    local base = i + stride * done
    local fields, vals = {}, {}
    for k = 1, m do
      local a = base + stride * (k - 1)
      fields[k] = ARGV[a]
      vals[k] = tonumber(ARGV[a + 1])
    end
    for _, key in ipairs(keys) do
      local cur = redis.call('HMGET', key, unpack(fields))
      local t = {}
      for k = 1, m do
        t[2*k-1] = fields[k]
        t[2*k] = vals[k] + (tonumber(cur[k]) or 0)
      end
      redis.call('HSET', key, unpack(t))
    end
    done = done + m
  end
end
local function seen(key, i, n, cutoff, names)
  -- Raises the last share time of the n names of the (name, work, ms)
  -- section at ARGV[i], then trims those older than cutoff (ms; nil: no
  -- trim). With names, the names also go to that name index (score 0),
  -- and leave it when trimmed.
  if n == 0 then return end
  local done = 0
  while done < n do
    local m = math.min(n - done, 500)
    local base = i + 3 * done
    local t, u = {'GT'}, {}
    for k = 1, m do
      local a = base + 3 * (k - 1)
      t[2*k] = ARGV[a + 2]
      t[2*k+1] = ARGV[a]
      u[2*k-1] = 0
      u[2*k] = ARGV[a]
    end
    redis.call('ZADD', key, unpack(t))
    if names then redis.call('ZADD', names, unpack(u)) end
    done = done + m
  end
  if not cutoff then return end
  if names then
    local old = redis.call('ZRANGEBYSCORE', key, '-inf', '(' .. cutoff)
    for s = 1, #old, 500 do redis.call('ZREM', names, unpack(old, s, math.min(#old, s + 499))) end
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. cutoff)
end
local function buckets(first, n, i, ttl, pool)
  -- Adds to the n hashrate buckets KEYS[first..] of one tier: per bucket
  -- its deadline (ms) at ARGV[i] and, when n > 1, a counted (name, work)
  -- section with the bucket's sums (when n is 1 the bucket took the
  -- batch's sums with the round). With pool, each bucket also adds its
  -- work to the field PoolField. Each bucket goes to the index by its
  -- deadline and carries a TTL (s) as a safety net. Returns the next i.
  for b = 0, n - 1 do
    local key = KEYS[first + b]
    local deadline = ARGV[i]
    i = i + 1
    local bw = ARGV[7]
    if n > 1 then
      local m = tonumber(ARGV[i])
      add({key}, i + 1, m, 2)
      bw = 0
      for k = 1, m do bw = bw + tonumber(ARGV[i + 2*k]) end
      i = i + 1 + 2 * m
    end
    if pool and tonumber(ARGV[6]) > 0 then redis.call('HINCRBYFLOAT', key, '` + PoolField + `', bw) end
    redis.call('EXPIRE', key, ttl)
    redis.call('ZADD', KEYS[18], deadline, key)
  end
  return i
end
local function trim(limit)
  -- Drops the oldest PPLNS slices while the newer ones alone hold at least
  -- limit of work.
  local all = tonumber(redis.call('HGET', KEYS[14], 'all') or '0')
  local dropped = false
  while true do
    local o = redis.call('ZRANGE', KEYS[5], 0, 0)
    if #o == 0 then break end
    local t = tonumber(redis.call('HGET', KEYS[14], o[1]) or '0')
    if all - t < limit then break end
    redis.call('DEL', ARGV[14] .. o[1])
    redis.call('HDEL', KEYS[14], o[1])
    redis.call('ZREM', KEYS[5], o[1])
    all = all - t
    dropped = true
  end
  if dropped then redis.call('HSET', KEYS[14], 'all', all) end
end
local function freeze(dst, need)
  -- Writes to dst the work per account of the newest slices up to need of
  -- work, the oldest slice needed taken pro rata (remaining / its work);
  -- every slice kept when need is 0 (D unknown) or they hold less. Returns
  -- the work taken.
  local starts = redis.call('ZREVRANGE', KEYS[5], 0, -1)
  local acc, names = {}, {}
  local sum = 0
  local k, done = 1, false
  while k <= #starts and not done do
    local chunk = {}
    for c = k, math.min(#starts, k + 499) do chunk[#chunk+1] = starts[c] end
    k = k + #chunk
    local tots = redis.call('HMGET', KEYS[14], unpack(chunk))
    for c = 1, #chunk do
      local t = tonumber(tots[c]) or 0
      if t > 0 then
        local f = 1
        if need > 0 then
          local rem = need - sum
          if t >= rem then f = rem / t; done = true end
        end
        local kv = redis.call('HGETALL', ARGV[14] .. chunk[c])
        for p = 1, #kv, 2 do
          local a = kv[p]
          if not acc[a] then acc[a] = 0; names[#names+1] = a end
          acc[a] = acc[a] + tonumber(kv[p+1]) * f
        end
        if done then sum = need; break end
        sum = sum + t
      end
    end
  end
  local p = 1
  while p <= #names do
    local t = {}
    for c = p, math.min(#names, p + 499) do t[#t+1] = names[c]; t[#t+1] = acc[names[c]] end
    redis.call('HSET', dst, unpack(t))
    p = p + 500
  end
  return sum
end

local seq = tonumber(ARGV[10])
local applied = tonumber(redis.call('GET', KEYS[1]) or '0')
if seq <= applied then return 0 end

local shares = tonumber(ARGV[6])
local nb = tonumber(ARGV[11])
local ns = tonumber(ARGV[12])
local nf = tonumber(ARGV[15])
local nc = tonumber(ARGV[16])
local nw = tonumber(ARGV[21])
local wi = 22
local na = tonumber(ARGV[wi + 3 * nw])
local ai = wi + 3 * nw + 1
-- The workers' tier fields (digests of their names), as many as workers.
local di = ai + 3 * na + 1
local i = di + 2 * nw
local bk = 20
local fk = bk + nb
local ck = fk + nf
local sk = ck + nc
-- The clock is the newest share time recorded: buckets and last-share
-- times expire by it, so expiry follows the shares' own time (a replayed
-- old batch does not turn it back).
-- A node whose clock runs ahead must not expire everyone's history: the
-- clock goes at most MaxClockAhead past the Redis server's own time.
local now = redis.call('TIME')
local cap = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + ` + strconv.FormatInt(MaxClockAhead.Milliseconds(), 10) + `
local clock = math.min(tonumber(ARGV[19]), cap)
local was = tonumber(redis.call('GET', KEYS[19]) or '0')
if was >= clock then clock = was else redis.call('SET', KEYS[19], string.format('%d', clock)) end
local cutoff = nil
if clock > 0 then cutoff = clock - tonumber(ARGV[4]) end
-- The batch's sums go to every hash that takes them whole: the round, and
-- the hashrate buckets and PPLNS slice when the batch lies in one of each.
local tk, ak = {}, {KEYS[3]}
if nf == 1 then tk[#tk+1] = KEYS[fk] end
if nc == 1 then tk[#tk+1] = KEYS[ck] end
if nb == 1 then ak[#ak+1] = KEYS[bk] end
if ns == 1 then ak[#ak+1] = KEYS[sk] end
add({KEYS[2]}, wi, nw, 3)
add(tk, di, nw, 2)
add(ak, ai, na, 3)
if shares > 0 then
  redis.call('HINCRBY', KEYS[4], 'shares', shares)
  redis.call('HINCRBYFLOAT', KEYS[4], 'work', ARGV[7])
  redis.call('HSETNX', KEYS[4], 'start', ARGV[8])
  redis.call('HSET', KEYS[4], 'updated', ARGV[9])
  redis.call('HINCRBY', KEYS[8], 'shares', shares)
  redis.call('HINCRBYFLOAT', KEYS[8], 'work', ARGV[7])
  redis.call('HINCRBY', KEYS[8], ARGV[5], shares)
end
redis.call('HINCRBY', KEYS[8], 'batches', 1)
seen(KEYS[6], wi, nw, cutoff, KEYS[17])
seen(KEYS[7], ai, na, cutoff)
i = buckets(bk, nb, i, ARGV[3], true)
i = buckets(fk, nf, i, ARGV[17], false)
i = buckets(ck, nc, i, ARGV[18], false)
if clock > 0 then
  local old = redis.call('ZRANGEBYSCORE', KEYS[18], '-inf', clock)
  if #old > 0 then
    -- UNLINK frees a big bucket (570,000 fields) off Redis's main thread.
    for s = 1, #old, 500 do redis.call('UNLINK', unpack(old, s, math.min(#old, s + 499))) end
    redis.call('ZREMRANGEBYSCORE', KEYS[18], '-inf', clock)
  end
end
for s = 0, ns - 1 do
  local start, w = ARGV[i], tonumber(ARGV[i + 1])
  i = i + 2
  if ns > 1 then
    local n = tonumber(ARGV[i])
    add({KEYS[sk + s]}, i + 1, n, 2)
    i = i + 1 + 2 * n
  end
  local cur = redis.call('HMGET', KEYS[14], start, 'all')
  redis.call('HSET', KEYS[14], start, (tonumber(cur[1]) or 0) + w, 'all', (tonumber(cur[2]) or 0) + w)
  redis.call('ZADD', KEYS[5], start, start)
end
local dmax = tonumber(ARGV[13])
if ns > 0 and dmax > 0 then trim(4 * tonumber(ARGV[2]) * dmax) end
local np = tonumber(ARGV[i])
add({KEYS[15]}, i + 1, np, 2)
i = i + 1 + 2 * np
` + energyRoundLua + `
if ARGV[i] == '1' then
  local hash, height, status, frozen, netdiff = ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], tonumber(ARGV[i+5])
  local nf = tonumber(ARGV[i+6])
  local prev = redis.call('HGET', KEYS[10], 'round')
  push('HSET', KEYS[10], nil, i + 7, 2 * nf)
  redis.call('ZADD', KEYS[9], height, hash)
  if status ~= 'rejected' then
    if not prev then
      for j = 0, 2 do
        if redis.call('EXISTS', KEYS[2+j]) == 1 then
          if j == 0 and ARGV[20] == '1' then
            -- DropFrozenWorkers: no scheme credits workers.
            redis.call('UNLINK', KEYS[2])
          else
            redis.call('RENAME', KEYS[2+j], KEYS[11+j])
          end
        end
      end
      local need = tonumber(ARGV[2]) * netdiff
      local took = freeze(KEYS[16], need)
      redis.call('HSET', KEYS[13], 'block', hash, 'height', height, 'frozen', frozen,
        'pplns_need', need, 'pplns_work', took)
      redis.call('HSET', KEYS[10], 'round', hash)
    end
  elseif prev then
    -- A block recorded as found and later rejected gives its round back.
    for j = 0, 1 do
      local kv = redis.call('HGETALL', KEYS[11+j])
      for p = 1, #kv, 2 do redis.call('HINCRBYFLOAT', KEYS[2+j], kv[p], kv[p+1]) end
    end
    local m = redis.call('HMGET', KEYS[13], 'shares', 'work', 'start')
    if m[1] then redis.call('HINCRBY', KEYS[4], 'shares', m[1]) end
    if m[2] then redis.call('HINCRBYFLOAT', KEYS[4], 'work', m[2]) end
    if m[3] then
      local cur = redis.call('HGET', KEYS[4], 'start')
      if (not cur) or tonumber(m[3]) < tonumber(cur) then redis.call('HSET', KEYS[4], 'start', m[3]) end
    end
    redis.call('DEL', KEYS[11], KEYS[12], KEYS[13], KEYS[16])
    redis.call('HDEL', KEYS[10], 'round')
  end
end
` + energyLua + `
-- The mark is set last: Redis does not roll a script back, so a script
-- that fails half-way must not look applied.
redis.call('SET', KEYS[1], ARGV[10], 'EX', ARGV[1])
return 1
`)

// sum is one name's share of a batch: its work and last share time.
type sum struct {
	name string
	work float64
	last int64
}

// sums accumulates a batch per name, in first-seen order. Its map and slice
// are reused from batch to batch.
type sums struct {
	idx  map[string]int
	list []sum
}

func (m *sums) reset() {
	clear(m.idx)
	m.list = m.list[:0]
}

func (m *sums) add(name string, work float64, ms int64) {
	i, ok := m.idx[name]
	if !ok {
		i = len(m.list)
		m.idx[name] = i
		m.list = append(m.list, sum{name: name})
	}
	s := &m.list[i]
	s.work += work
	if ms > s.last {
		s.last = ms
	}
}

// encoder turns a batch into the script's keys and arguments. Each goroutine
// that sends batches owns one; its maps are reused from batch to batch.
type encoder struct {
	k        keys
	o        *Options
	workers  sums
	accounts sums
	// partW and partA are the sums of one part of a batch that spans more
	// than one hashrate bucket or PPLNS slice.
	partW, partA sums
	// pps is the batch's PPS/FPPS worth per account (Scheme pps or fpps).
	pps sums
	// buckets are the starts (ms) of the hashrate buckets of each tier
	// (Tiers.levels) and slices those of the PPLNS slices the batch's
	// shares fall in, in first-seen order.
	buckets [numTiers][]int64
	slices  []int64
	levels  [numTiers]tier
	// energy sums the batch per site-hour (energy_script.go).
	energy *energyEnc
	// fields caches each worker's WorkerField, boxed for the argument
	// list, so a worker's digest is computed and allocated once, not per
	// batch; it is cleared when it reaches maxFields.
	fields map[string]any
}

// maxFields bounds an encoder's cache of worker fields: 2^20 names of ~50
// bytes, ~100 MB at most, more than one node's workers (100,000).
const maxFields = 1 << 20

// field is the worker's WorkerField as an argument.
func (e *encoder) field(name string) any {
	if f, ok := e.fields[name]; ok {
		return f
	}
	if len(e.fields) >= maxFields {
		clear(e.fields)
	}
	f := any(WorkerField(name))
	e.fields[name] = f
	return f
}

func newEncoder(k keys, o *Options) *encoder {
	return &encoder{k: k, o: o, levels: o.tiers().levels(), fields: map[string]any{},
		workers: sums{idx: map[string]int{}}, accounts: sums{idx: map[string]int{}},
		partW: sums{idx: map[string]int{}}, partA: sums{idx: map[string]int{}},
		pps: sums{idx: map[string]int{}}, energy: newEnergyEnc()}
}

// dropFlag is a boolean argument of the script.
func dropFlag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
func fmtInt(v int64) string     { return strconv.FormatInt(v, 10) }

// periodStart is the start (ms) of the period of width ms that holds ms.
func periodStart(ms, width int64) int64 {
	p := ms / width * width
	if p > ms {
		p -= width // before 1970: round down, not toward zero
	}
	return p
}

// addStart appends the period of ms to starts unless it is there.
func addStart(starts []int64, ms, width int64) []int64 {
	p := periodStart(ms, width)
	if !slices.Contains(starts, p) {
		starts = append(starts, p)
	}
	return starts
}

// part sums the shares of b in the period [start, start+width) ms per
// worker into w and per account into a (each when not nil), and returns their
// work: one hashrate bucket or PPLNS slice of a batch that spans several.
func part(b *batch, start, width int64, w, a *sums) float64 {
	for _, m := range []*sums{w, a} {
		if m != nil {
			m.reset()
		}
	}
	var work float64
	for i := range b.shares {
		r := &b.shares[i]
		if periodStart(r.Time.UnixMilli(), width) != start {
			continue
		}
		if w != nil {
			w.add(r.Worker, r.Difficulty, 0)
		}
		if a != nil {
			a.add(r.Account, r.Difficulty, 0)
		}
		work += r.Difficulty
	}
	return work
}

// encode returns the keys and arguments of applyScript for b.
func (e *encoder) encode(b *batch) ([]string, []any) {
	e.workers.reset()
	e.accounts.reset()
	e.pps.reset()
	for t := range e.buckets {
		e.buckets[t] = e.buckets[t][:0]
	}
	e.slices = e.slices[:0]
	o := e.o
	sliceMs := o.PPLNSSlice.Milliseconds()
	accrue := o.Scheme == "pps" || o.Scheme == "fpps"
	var work, netMax float64
	var first, last int64
	for i := range b.shares {
		r := &b.shares[i]
		ms := r.Time.UnixMilli()
		if i == 0 || ms < first {
			first = ms
		}
		if ms > last {
			last = ms
		}
		work += r.Difficulty
		netMax = max(netMax, r.NetDifficulty)
		e.workers.add(r.Worker, r.Difficulty, ms)
		e.accounts.add(r.Account, r.Difficulty, ms)
		for t := range e.buckets {
			e.buckets[t] = addStart(e.buckets[t], ms, e.levels[t].width.Milliseconds())
		}
		e.slices = addStart(e.slices, ms, sliceMs)
		if accrue {
			if v := worth(r, o); v > 0 {
				e.pps.add(r.Account, v, 0)
			}
		}
	}
	var blockHash string
	if b.block != nil {
		blockHash = b.block.Hash
	} else {
		blockHash = "-"
	}
	nb := 0
	for t := range e.buckets {
		nb += len(e.buckets[t])
	}
	ks := make([]string, 0, 19+nb+len(e.slices))
	ks = append(ks, e.k.stream(b.id),
		e.k.roundWorkers(CurrentRound), e.k.roundAccounts(CurrentRound), e.k.roundMeta(CurrentRound),
		e.k.pplnsIndex(), e.k.lastWorker(), e.k.lastAccount(), e.k.totals(), e.k.blocks(),
		e.k.block(blockHash), e.k.roundWorkers(blockHash), e.k.roundAccounts(blockHash), e.k.roundMeta(blockHash),
		e.k.pplnsTotals(), e.k.ppsOwed(), e.k.roundPPLNS(blockHash), e.k.workerNames(),
		e.k.hashrateIndex(), e.k.clock())
	for t, starts := range e.buckets {
		for _, start := range starts {
			ks = append(ks, e.levels[t].key(e.k, start/1000))
		}
	}
	for _, start := range e.slices {
		ks = append(ks, e.k.pplnsSlice(start))
	}
	n := 40 + nb + 5*len(e.workers.list) + 3*len(e.accounts.list) + 2*len(e.pps.list)
	for t := range e.buckets {
		if len(e.buckets[t]) > 1 {
			n += 2 * len(b.shares) * len(e.buckets[t])
		}
	}
	if len(e.slices) > 1 {
		n += 2 * len(b.shares) * len(e.slices)
	}
	ttl := func(t int) string { return fmtInt(int64(e.levels[t].ttl() / time.Second)) }
	args := make([]any, 0, n)
	args = append(args,
		fmtInt(int64(o.DedupeTTL/time.Second)), fmtFloat(o.PPLNSWindow),
		ttl(tierAccounts), fmtInt(o.HashrateRetention.Milliseconds()),
		"node:"+strconv.Itoa(int(o.Node)), strconv.Itoa(len(b.shares)), fmtFloat(work),
		fmtInt(first), fmtInt(last), strconv.FormatUint(b.seq, 10), strconv.Itoa(len(e.buckets[tierAccounts])),
		strconv.Itoa(len(e.slices)), fmtFloat(netMax), e.k.pplnsSlicePrefix(),
		strconv.Itoa(len(e.buckets[tierWorkers])), strconv.Itoa(len(e.buckets[tierWorkersCoarse])),
		ttl(tierWorkers), ttl(tierWorkersCoarse), fmtInt(last), dropFlag(o.DropFrozenWorkers))
	triples := func(m *sums) {
		args = append(args, strconv.Itoa(len(m.list)))
		for i := range m.list {
			s := &m.list[i]
			args = append(args, s.name, fmtFloat(s.work), fmtInt(s.last))
		}
	}
	pairs := func(m *sums) {
		args = append(args, strconv.Itoa(len(m.list)))
		for i := range m.list {
			args = append(args, m.list[i].name, fmtFloat(m.list[i].work))
		}
	}
	wl := len(args)
	triples(&e.workers)
	triples(&e.accounts)
	fields := func(m *sums) {
		args = append(args, strconv.Itoa(len(m.list)))
		for i := range m.list {
			args = append(args, e.field(m.list[i].name), fmtFloat(m.list[i].work))
		}
	}
	// The workers' tier fields, with the work strings of their triples.
	args = append(args, args[wl])
	for i := range e.workers.list {
		args = append(args, e.field(e.workers.list[i].name), args[wl+2+3*i])
	}
	for t, starts := range e.buckets {
		l := &e.levels[t]
		for _, start := range starts {
			args = append(args, fmtInt(l.deadline(start)))
			if len(starts) == 1 {
				continue
			}
			// A batch across a bucket boundary (rare): sums per bucket.
			if l.workers {
				part(b, start, l.width.Milliseconds(), &e.partW, nil)
				fields(&e.partW)
			} else {
				part(b, start, l.width.Milliseconds(), nil, &e.partA)
				pairs(&e.partA)
			}
		}
	}
	for _, start := range e.slices {
		if len(e.slices) == 1 {
			args = append(args, fmtInt(start), fmtFloat(work))
			continue
		}
		// A batch across a slice boundary (rare): sums per slice.
		w := part(b, start, sliceMs, nil, &e.partA)
		args = append(args, fmtInt(start), fmtFloat(w))
		pairs(&e.partA)
	}
	pairs(&e.pps)
	if bl := b.block; bl != nil {
		fields := []string{
			"height", fmtInt(bl.Height), "hash", bl.Hash, "worker", bl.Worker,
			"account", bl.Account, "reward", fmtInt(bl.Reward), "status", string(bl.Status),
			"reason", bl.Reason, "time", fmtInt(bl.Time.UnixMilli()), "node", strconv.Itoa(int(bl.Node)),
			"coinbase_txid", bl.CoinbaseTxID, "netdiff", fmtFloat(bl.NetDifficulty),
			"site", unitOf(bl.Site),
		}
		args = append(args, "1", bl.Hash, fmtInt(bl.Height), string(bl.Status),
			fmtInt(bl.Time.UnixMilli()), fmtFloat(bl.NetDifficulty), strconv.Itoa(len(fields)/2))
		for _, f := range fields {
			args = append(args, f)
		}
	} else {
		args = append(args, "0")
	}
	return e.energy.encode(e.k, o, b, e.slices, ks, args)
}
