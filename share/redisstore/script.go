package redisstore

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/share"
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
// addition), and reuses the same names and sums for the hashrate bucket
// when the batch lies in one bucket, as nearly all do.
//
// KEYS: 1 stream high-water mark, 2-4 current round w/a/meta, 5 PPLNS window, 6-7 last
// share w/a, 8 totals, 9 blocks index, 10 block record, 11-13 the block's
// frozen round w/a/meta, 14.. hashrate buckets as (workers, accounts) pairs.
//
// ARGV: 1 dedupe TTL s, 2 window N, 3 bucket TTL s, 4 last-share cutoff ms,
// 5 per-node totals field, 6 shares, 7 work, 8 first share ms, 9 last share
// ms, 10 seq, 11 buckets B, then counted sections: workers as (name, work,
// last share ms) triples, accounts likewise; when B > 1, per bucket a
// counted (worker, work) pair section and a counted (account, work) one
// (when B is 1 the bucket's sums are the workers' and accounts' sums);
// window entries; and the block section (0, or 1 hash height status
// frozen-ms nfields field/value pairs).
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
local function seen(key, i, n)
  -- Raises the last share time of the n names of the (name, work, ms)
  -- section at ARGV[i], then trims the stale ones.
  if n == 0 then return end
  local done = 0
  while done < n do
    local m = math.min(n - done, 500)
    local base = i + 3 * done
    local t = {'GT'}
    for k = 1, m do
      local a = base + 3 * (k - 1)
      t[2*k] = ARGV[a + 2]
      t[2*k+1] = ARGV[a]
    end
    redis.call('ZADD', key, unpack(t))
    done = done + m
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. ARGV[4])
end

local seq = tonumber(ARGV[10])
local applied = tonumber(redis.call('GET', KEYS[1]) or '0')
if seq <= applied then return 0 end

local shares = tonumber(ARGV[6])
local nb = tonumber(ARGV[11])
local nw = tonumber(ARGV[12])
local wi = 13
local na = tonumber(ARGV[wi + 3 * nw])
local ai = wi + 3 * nw + 1
local i = ai + 3 * na
if nb == 1 then
  -- The batch lies in one hashrate bucket: its sums are the round's.
  add({KEYS[2], KEYS[14]}, wi, nw, 3)
  add({KEYS[3], KEYS[15]}, ai, na, 3)
else
  add({KEYS[2]}, wi, nw, 3)
  add({KEYS[3]}, ai, na, 3)
end
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
seen(KEYS[6], wi, nw)
seen(KEYS[7], ai, na)
for b = 0, nb - 1 do
  local kw, ka = KEYS[14 + 2*b], KEYS[15 + 2*b]
  if nb > 1 then
    local n = tonumber(ARGV[i])
    add({kw}, i + 1, n, 2)
    i = i + 1 + 2 * n
    n = tonumber(ARGV[i])
    add({ka}, i + 1, n, 2)
    i = i + 1 + 2 * n
  end
  redis.call('EXPIRE', kw, ARGV[3])
  redis.call('EXPIRE', ka, ARGV[3])
end
local nwin = tonumber(ARGV[i])
if nwin > 0 then
  push('LPUSH', KEYS[5], nil, i + 1, nwin)
  redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[2]) - 1)
end
i = i + 1 + nwin

if ARGV[i] == '1' then
  local hash, height, status, frozen = ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4]
  local nf = tonumber(ARGV[i+5])
  local prev = redis.call('HGET', KEYS[10], 'round')
  push('HSET', KEYS[10], nil, i + 6, 2 * nf)
  redis.call('ZADD', KEYS[9], height, hash)
  if status ~= 'rejected' then
    if not prev then
      for j = 0, 2 do
        if redis.call('EXISTS', KEYS[2+j]) == 1 then redis.call('RENAME', KEYS[2+j], KEYS[11+j]) end
      end
      redis.call('HSET', KEYS[13], 'block', hash, 'height', height, 'frozen', frozen)
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
    redis.call('DEL', KEYS[11], KEYS[12], KEYS[13])
    redis.call('HDEL', KEYS[10], 'round')
  end
end
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
	// bucketW and bucketA are the per-bucket sums, filled only when a
	// batch spans more than one hashrate bucket.
	bucketW, bucketA sums
	order            []int64
	buf              []byte
}

func newEncoder(k keys, o *Options) *encoder {
	return &encoder{k: k, o: o,
		workers: sums{idx: map[string]int{}}, accounts: sums{idx: map[string]int{}},
		bucketW: sums{idx: map[string]int{}}, bucketA: sums{idx: map[string]int{}}}
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
func fmtInt(v int64) string     { return strconv.FormatInt(v, 10) }

// windowEntry is the PPLNS list element of one share: "<difficulty>|<worker>"
// when the account is the worker name up to its first '.', else
// "<difficulty>|<worker>|<account>". Names never contain '|' (AddShare
// refuses them).
func (e *encoder) windowEntry(r *share.Record) string {
	e.buf = strconv.AppendFloat(e.buf[:0], r.Difficulty, 'g', -1, 64)
	e.buf = append(e.buf, '|')
	e.buf = append(e.buf, r.Worker...)
	if accountOf(r.Worker) != r.Account {
		e.buf = append(e.buf, '|')
		e.buf = append(e.buf, r.Account...)
	}
	return string(e.buf)
}

// accountOf is the account a worker name implies: the part before the
// first '.'.
func accountOf(worker string) string {
	if i := strings.IndexByte(worker, '.'); i >= 0 {
		return worker[:i]
	}
	return worker
}

// encode returns the keys and arguments of applyScript for b.
func (e *encoder) encode(b *batch) ([]string, []any) {
	e.workers.reset()
	e.accounts.reset()
	e.order = e.order[:0]
	o := e.o
	bucketSec := int64(o.HashrateBucket / time.Second)
	var work float64
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
		e.workers.add(r.Worker, r.Difficulty, ms)
		e.accounts.add(r.Account, r.Difficulty, ms)
		start := r.Time.Unix() / bucketSec * bucketSec
		if !slices.Contains(e.order, start) {
			e.order = append(e.order, start)
		}
	}
	var blockHash string
	if b.block != nil {
		blockHash = b.block.Hash
	} else {
		blockHash = "-"
	}
	ks := make([]string, 0, 13+2*len(e.order))
	ks = append(ks, e.k.stream(b.id),
		e.k.roundWorkers(CurrentRound), e.k.roundAccounts(CurrentRound), e.k.roundMeta(CurrentRound),
		e.k.window(), e.k.lastWorker(), e.k.lastAccount(), e.k.totals(), e.k.blocks(),
		e.k.block(blockHash), e.k.roundWorkers(blockHash), e.k.roundAccounts(blockHash), e.k.roundMeta(blockHash))
	for _, start := range e.order {
		ks = append(ks, e.k.hashrateWorkers(start), e.k.hashrateAccounts(start))
	}
	retention := o.HashrateRetention + o.HashrateBucket
	cutoff := time.Now().Add(-o.HashrateRetention).UnixMilli()
	n := 16 + 3*len(e.workers.list) + 3*len(e.accounts.list) + len(b.shares) + 24
	args := make([]any, 0, n)
	args = append(args,
		fmtInt(int64(o.DedupeTTL/time.Second)), strconv.Itoa(o.WindowSize),
		fmtInt(int64(retention/time.Second)), fmtInt(cutoff),
		"node:"+strconv.Itoa(int(o.Node)), strconv.Itoa(len(b.shares)), fmtFloat(work),
		fmtInt(first), fmtInt(last), strconv.FormatUint(b.seq, 10), strconv.Itoa(len(e.order)))
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
	triples(&e.workers)
	triples(&e.accounts)
	if len(e.order) > 1 {
		// A batch across a bucket boundary (rare): sums per bucket.
		for _, start := range e.order {
			e.bucketW.reset()
			e.bucketA.reset()
			for i := range b.shares {
				r := &b.shares[i]
				if r.Time.Unix()/bucketSec*bucketSec == start {
					e.bucketW.add(r.Worker, r.Difficulty, 0)
					e.bucketA.add(r.Account, r.Difficulty, 0)
				}
			}
			pairs(&e.bucketW)
			pairs(&e.bucketA)
		}
	}
	args = append(args, strconv.Itoa(len(b.shares)))
	for i := range b.shares {
		args = append(args, e.windowEntry(&b.shares[i]))
	}
	if bl := b.block; bl != nil {
		fields := []string{
			"height", fmtInt(bl.Height), "hash", bl.Hash, "worker", bl.Worker,
			"account", bl.Account, "reward", fmtInt(bl.Reward), "status", string(bl.Status),
			"reason", bl.Reason, "time", fmtInt(bl.Time.UnixMilli()), "node", strconv.Itoa(int(bl.Node)),
			"coinbase_txid", bl.CoinbaseTxID, "netdiff", fmtFloat(bl.NetDifficulty),
		}
		args = append(args, "1", bl.Hash, fmtInt(bl.Height), string(bl.Status),
			fmtInt(bl.Time.UnixMilli()), strconv.Itoa(len(fields)/2))
		for _, f := range fields {
			args = append(args, f)
		}
	} else {
		args = append(args, "0")
	}
	return ks, args
}
