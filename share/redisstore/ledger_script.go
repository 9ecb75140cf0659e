package redisstore

import "github.com/redis/go-redis/v9"

// The ledger's Lua scripts. Every script that writes follows three rules:
//
//   - Fencing: KEYS[1] is pay:lock and ARGV[1] the caller's lease token; the
//     script changes nothing unless pay:lock still holds that token
//     (FENCED).
//   - Every refusal comes before the first write, so a refused call changes
//     nothing. (Redis refuses a script for lack of memory only before its
//     first write.)
//   - The idempotency mark (the block's credited or orphaned field, the
//     batch's state) is written first, then the totals, then the accounts.
//     The one way a script can still stop half-way is a write Redis
//     refuses (HINCRBY of a field that is not an integer, a key of another
//     type), which only writes outside these scripts can cause. Such a
//     script is never applied twice, and CheckInvariant shows the totals
//     ahead of the accounts.
//
// A refusal is an error reply "<CODE> <detail>"; Ledger.run maps the code
// to the package's typed errors.
//
// Amounts are integer satoshis. Credits are added with HINCRBY straight
// from ARGV (exact 64-bit integers, overflow refused). Where a script
// computes with amounts (checks, sums, cjson), Lua numbers are doubles,
// exact for integers up to 2^53 (90 million BTC); every amount is at most
// maxSatoshi (21 million BTC), and results are written with fmt ('%.0f'),
// never in exponent form.
//
// Cost: moves that must be checked first (a batch's ≤ a few hundred
// outputs) read the fields with HMGET, check, and write the new values
// with one HSET per 500. Credits, which only add, go ARGV → HINCRBY
// directly: for 10,000 accounts building Lua tables costs more than the
// calls it saves (~4.5 ms of Redis time, against ~9–18 ms for HMGET + HSET
// over built tables).

// ledgerLib is the Lua prelude shared by the writing scripts.
const ledgerLib = `
local function fenced()
  local held = redis.call('GET', KEYS[1])
  if held ~= ARGV[1] then
    return redis.error_reply('FENCED pay:lock holds ' .. (held or 'nothing') .. ', not ' .. ARGV[1])
  end
end
local function fmt(v) return string.format('%.0f', v) end
local function slice(first, n)
  local t = {}
  for i = 1, n do t[i] = ARGV[first + i - 1] end
  return t
end
-- pairs2 splits the n (name, value) pairs from ARGV[first] into names and
-- numbers.
local function pairs2(first, n)
  local f, d = {}, {}
  for i = 1, n do
    f[i] = ARGV[first + 2*i - 2]
    d[i] = tonumber(ARGV[first + 2*i - 1])
  end
  return f, d
end
-- sums reads fields f of hash key (one HMGET per 500) and returns the
-- flat (field, value + d[i]) list for hset, or nil, the first field that
-- would not stay an integer at or above zero, and what it holds.
local function sums(key, f, d)
  local out = {}
  for s = 1, #f, 500 do
    local e = math.min(#f, s + 499)
    local cur = redis.call('HMGET', key, unpack(f, s, e))
    for j = 1, e - s + 1 do
      local i = s + j - 1
      local had = tonumber(cur[j] or '0')
      if not had or had % 1 ~= 0 or had + d[i] < 0 then return nil, f[i], cur[j] end
      out[#out + 1] = f[i]
      out[#out + 1] = fmt(had + d[i])
    end
  end
  return out
end
-- incr adds d[i] to field f[i] of hash key.
local function incr(key, f, d)
  for i = 1, #f do redis.call('HINCRBY', key, f[i], fmt(d[i])) end
end
-- incrArgs adds the n (field, amount) pairs from ARGV[first] to hash key.
local function incrArgs(key, first, n)
  for i = first, first + 2*n - 2, 2 do redis.call('HINCRBY', key, ARGV[i], ARGV[i + 1]) end
end
-- negative is the refusal of a write that would leave an amount below
-- zero: the batch's amounts are missing from pending (or a stored amount is
-- negative), which only a ledger changed behind the scripts' back can be.
local function negative(key, field, had)
  return redis.error_reply('INVARIANT ' .. key .. ' of ' .. field .. ' is ' .. tostring(had or 0) .. ', too little for the move')
end
-- hset writes a flat (field, value) list, 500 pairs per HSET.
local function hset(key, t)
  for s = 1, #t, 1000 do
    redis.call('HSET', key, unpack(t, s, math.min(#t, s + 999)))
  end
end
local function hdel(key, f)
  for s = 1, #f, 1000 do
    redis.call('HDEL', key, unpack(f, s, math.min(#f, s + 999)))
  end
end
`

// lockScript takes pay:lock for a new token from pay:fence, or reports the
// holder. KEYS: 1 pay:lock, 2 pay:fence. ARGV: 1 TTL ms. Returns {1, token}
// or {0, held token, PTTL ms}.
var lockScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
end
local t = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], t, 'PX', ARGV[1])
return {1, t}
`)

// renewScript extends pay:lock when it still holds the token. KEYS: 1
// pay:lock. ARGV: 1 token, 2 TTL ms. Returns 1, or 0 when the lock is lost.
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

// releaseScript deletes pay:lock when it holds the token. KEYS: 1 pay:lock.
// ARGV: 1 token. Returns 1 when the lock is free afterwards, 0 when another
// token holds it.
var releaseScript = redis.NewScript(`
local held = redis.call('GET', KEYS[1])
if not held then return 1 end
if held ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`)

// creditScript credits a matured block once and drops its frozen PPLNS
// window, whose weights the credits came from, and its frozen round's work
// per worker, which no scheme credits. KEYS: 1 pay:lock, 2 block record, 3
// bal, 4 totals, 5 utxo, 6 the frozen PPLNS window, 7 the block's earnings
// per energy site (en:earn:<hash>), 8 the frozen round's workers, 9-10
// the frozen round's accounts and meta, which live CreditedRoundKeep more.
// ARGV: 1 token, 2 now ms, 3 status, 4 Σ credits, 5 fee, 6 reserve in, 7
// n, then n (account, amount) pairs, then m, then m (utxo field, utxo
// value) pairs, then s, then s (site, amount) pairs, then the keep in ms.
// Returns 1 when applied, 0 when the block was credited before.
var creditScript = redis.NewScript(ledgerLib + `
local e = fenced() if e then return e end
if redis.call('EXISTS', KEYS[2]) == 0 then return redis.error_reply('NOBLOCK the block has no record') end
local b = redis.call('HMGET', KEYS[2], 'credited', 'orphaned', 'status')
if b[1] then return 0 end
if b[2] or b[3] == 'rejected' then
  return redis.error_reply('STATE the block is ' .. (b[3] or 'orphaned'))
end
local n = tonumber(ARGV[7])
local m = tonumber(ARGV[8 + 2*n])

redis.call('HSET', KEYS[2], 'credited', ARGV[2], 'status', ARGV[3], 'credited_sum', ARGV[4],
  'credited_fee', ARGV[5], 'credited_reserve', ARGV[6], 'credit_token', ARGV[1])
redis.call('HINCRBY', KEYS[4], 'credited', ARGV[4])
redis.call('HINCRBY', KEYS[4], 'fee', ARGV[5])
redis.call('HINCRBY', KEYS[4], 'reserve_in', ARGV[6])
incrArgs(KEYS[3], 8, n)
hset(KEYS[5], slice(9 + 2*n, 2*m))
local ns = tonumber(ARGV[9 + 2*n + 2*m] or '0')
if ns > 0 then hset(KEYS[7], slice(10 + 2*n + 2*m, 2*ns)) end
redis.call('UNLINK', KEYS[6], KEYS[8])
local keep = ARGV[10 + 2*n + 2*m + 2*ns]
if keep then
  redis.call('PEXPIRE', KEYS[9], keep)
  redis.call('PEXPIRE', KEYS[10], keep)
end
return 1
`)

// orphanScript marks a block orphaned once and ends its frozen round,
// giving the round's work back to the open round when asked (PROP).
// KEYS: 1 pay:lock, 2 block record, 3-5 the frozen round w/a/meta, 6-8
// the open round w/a/meta, 9 the frozen PPLNS window. ARGV: 1 token, 2 now
// ms, 3 "1" to give the round back. Returns 1 when applied, 0 when the
// block was orphaned before.
var orphanScript = redis.NewScript(ledgerLib + `
local e = fenced() if e then return e end
if redis.call('EXISTS', KEYS[2]) == 0 then return redis.error_reply('NOBLOCK the block has no record') end
local b = redis.call('HMGET', KEYS[2], 'orphaned', 'credited')
if b[1] then return 0 end
if b[2] then return redis.error_reply('STATE the block is credited') end

redis.call('HSET', KEYS[2], 'orphaned', ARGV[2], 'status', 'orphaned', 'orphan_token', ARGV[1])
if ARGV[3] == '1' then
  -- Work is a double; the sum is written as a Lua number, which Redis
  -- formats so that it reads back to the same double.
  for j = 0, 1 do
    local kv = redis.call('HGETALL', KEYS[3 + j])
    for s = 1, #kv, 1000 do
      local f, w = {}, {}
      for p = s, math.min(#kv, s + 999), 2 do
        f[#f + 1] = kv[p]
        w[#w + 1] = tonumber(kv[p + 1])
      end
      local cur = redis.call('HMGET', KEYS[6 + j], unpack(f))
      local t = {}
      for i = 1, #f do
        t[2*i - 1] = f[i]
        t[2*i] = w[i] + (tonumber(cur[i]) or 0)
      end
      redis.call('HSET', KEYS[6 + j], unpack(t))
    end
  end
  -- The energy sites' work (fields |s|<site>, energyRoundLua) goes back
  -- with it.
  local kv = redis.call('HGETALL', KEYS[5])
  for p = 1, #kv, 2 do
    if string.sub(kv[p], 1, 3) == '|s|' then redis.call('HINCRBYFLOAT', KEYS[8], kv[p], kv[p + 1]) end
  end
  local m = redis.call('HMGET', KEYS[5], 'shares', 'work', 'start')
  if m[1] then redis.call('HINCRBY', KEYS[8], 'shares', m[1]) end
  if m[2] then redis.call('HINCRBYFLOAT', KEYS[8], 'work', m[2]) end
  if m[3] then
    local open = tonumber(redis.call('HGET', KEYS[8], 'start'))
    if not open or tonumber(m[3]) < open then redis.call('HSET', KEYS[8], 'start', m[3]) end
  end
end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[9])
return 1
`)

// ppsScript moves the whole satoshis of pps:owed to the balances of the
// given accounts and keeps the fractions. KEYS: 1 pay:lock, 2 pps:owed, 3
// bal, 4 totals. ARGV: 1 token, then the accounts (at most 1,000). Returns
// the flat (account, satoshis) list of what it credited.
var ppsScript = redis.NewScript(ledgerLib + `
local e = fenced() if e then return e end
local acct = slice(2, #ARGV - 1)
if #acct == 0 then return {} end
local cur = redis.call('HMGET', KEYS[2], unpack(acct))
local f, d, owed, out, total = {}, {}, {}, {}, 0
for i = 1, #acct do
  local v = tonumber(cur[i])
  if v and v >= 1 then
    -- v - floor(v) is exact in binary floating point: nothing is lost.
    local whole = math.floor(v)
    f[#f + 1] = acct[i]
    d[#d + 1] = whole
    owed[#owed + 1] = acct[i]
    owed[#owed + 1] = v - whole
    out[#out + 1] = acct[i]
    out[#out + 1] = fmt(whole)
    total = total + whole
  end
end
if total == 0 then return {} end

redis.call('HINCRBY', KEYS[4], 'credited', fmt(total))
redis.call('HINCRBY', KEYS[4], 'reserve_out', fmt(total))
hset(KEYS[2], owed)
incr(KEYS[3], f, d)
return out
`)

// planScript plans a batch. KEYS: 1 pay:lock, 2 batch record, 3 bal, 4
// pending, 5 utxo, 6 batches, 7 batches:open. ARGV: 1 token, 2 id, 3
// created ms, 4 outputs JSON, 5 inputs JSON, 6 fee, 7 n, then n (account,
// amount) pairs, then m, then m (utxo field, utxo value) pairs, then the
// fee rate (sat/vB, as text), then the prefix of the accounts' payment
// indexes (pay:a:), to which each account gets the batch (score: created
// ms); they carry the hash tag of the declared keys. Returns 1 when
// planned, 0 when the same batch was planned before.
var planScript = redis.NewScript(ledgerLib + `
local e = fenced() if e then return e end
if redis.call('EXISTS', KEYS[2]) == 1 then
  local had = redis.call('HMGET', KEYS[2], 'outputs', 'inputs')
  if had[1] == ARGV[4] and had[2] == ARGV[5] then return 0 end
  return redis.error_reply('CONFLICT batch ' .. ARGV[2] .. ' exists with other outputs or inputs')
end
local n = tonumber(ARGV[7])
local f, d = pairs2(8, n)
local debit = {}
for i = 1, n do debit[i] = -d[i] end
local bal, acct, had = sums(KEYS[3], f, debit)
if not bal then
  for i = 1, n do
    if f[i] == acct then
      return redis.error_reply('INSUFFICIENT account ' .. acct .. ' has ' .. tostring(had or 0) .. ', the batch wants ' .. fmt(d[i]))
    end
  end
end
local pending
pending, acct, had = sums(KEYS[4], f, d)
if not pending then return negative('pending', acct, had) end
local m = tonumber(ARGV[8 + 2*n])
local ins, spent = {}, {}
for i = 1, m do
  local field, want = ARGV[7 + 2*n + 2*i], ARGV[8 + 2*n + 2*i]
  local cur = redis.call('HGET', KEYS[5], field)
  if not cur then return redis.error_reply('INPUTGONE ' .. field .. ' is not in utxo') end
  if cur ~= want then return redis.error_reply('CONFLICT input ' .. field .. ' is ' .. cur .. ' in utxo, not ' .. want) end
  ins[i] = field
  spent[2*i - 1] = field
  spent[2*i] = cur
end

redis.call('HSET', KEYS[2], 'id', ARGV[2], 'state', 'planned', 'created', ARGV[3], 'outputs', ARGV[4],
  'inputs', ARGV[5], 'fee', ARGV[6], 'utxo', cjson.encode(spent), 'token', ARGV[1], 'rate', ARGV[9 + 2*n + 2*m])
redis.call('ZADD', KEYS[6], ARGV[3], ARGV[2])
redis.call('SADD', KEYS[7], ARGV[2])
for i = 1, n do redis.call('ZADD', ARGV[10 + 2*n + 2*m] .. f[i], ARGV[3], ARGV[2]) end
hset(KEYS[3], bal)
hset(KEYS[4], pending)
hdel(KEYS[5], ins)
return 1
`)

// moveScript makes one state transition of a batch. KEYS: 1 pay:lock, 2
// batch record, 3 bal, 4 pending, 5 paid, 6 utxo, 7 totals, 8
// batches:open. ARGV: 1 token, 2 op, 3 id, 4 now ms, then the op's
// arguments:
//
//	psbt      5 PSBT
//	sign      5 txid, 6 transaction hex
//	broadcast 5 height
//	settle    5 change txid ("" for none), 6 m, then m (utxo field, value)
//	cancel    -
//	fail      5 reason
//	clear     5 "", 6 m, then m (utxo field, value): inputs still unspent
//
// Returns 1 when the batch moved, 0 when it already was where the same
// call leaves it (a repeated call).
var moveScript = redis.NewScript(ledgerLib + `
local e = fenced() if e then return e end
local state = redis.call('HGET', KEYS[2], 'state')
if not state then return redis.error_reply('NOBATCH the batch has no record') end
local op = ARGV[2]
local function is(...)
  for _, s in ipairs({...}) do if state == s then return true end end
  return false
end
local function deny(why) return redis.error_reply('STATE the batch is ' .. state .. (why or '')) end
-- back moves the batch's amounts from pending to hash key (bal or paid):
-- it returns the (field, value) lists for pending and key and the total,
-- or an error reply when either could not take the move.
local function back(key)
  local outs = cjson.decode(redis.call('HGET', KEYS[2], 'outputs'))
  local f, d, neg, total = {}, {}, {}, 0
  for i, o in ipairs(outs) do
    f[i], d[i], neg[i] = o.account, o.amount, -o.amount
    total = total + o.amount
  end
  local p, acct, had = sums(KEYS[4], f, neg)
  if not p then return nil, nil, nil, negative('pending', acct, had) end
  local q
  q, acct, had = sums(key, f, d)
  if not q then return nil, nil, nil, negative(key, acct, had) end
  return p, q, total
end
-- leave sets the state and the op's fields, and who moved it when.
local function leave(...)
  local t = {...}
  t[#t + 1] = 'token'
  t[#t + 1] = ARGV[1]
  t[#t + 1] = 'updated'
  t[#t + 1] = ARGV[4]
  redis.call('HSET', KEYS[2], 'state', unpack(t))
end

if op == 'psbt' then
  if state == 'psbt' then
    if redis.call('HGET', KEYS[2], 'psbt') == ARGV[5] then return 0 end
    return redis.error_reply('CONFLICT the batch holds another PSBT')
  end
  if not is('planned') then return deny() end
  leave('psbt', 'psbt', ARGV[5])
elseif op == 'sign' then
  if is('signed', 'broadcast', 'paid') then
    local txid = redis.call('HGET', KEYS[2], 'txid')
    if txid == ARGV[5] then return 0 end
    return redis.error_reply('CONFLICT the batch holds transaction ' .. tostring(txid))
  end
  if not is('planned', 'psbt') then return deny() end
  leave('signed', 'txid', ARGV[5], 'tx', ARGV[6])
elseif op == 'broadcast' then
  if not is('signed', 'broadcast') then return deny() end
  if state == 'broadcast' and redis.call('HGET', KEYS[2], 'height') == ARGV[5] then return 0 end
  leave('broadcast', 'height', ARGV[5])
elseif op == 'settle' then
  if state == 'paid' then return 0 end
  if not is('signed', 'broadcast', 'failed') then return deny() end
  local txid = redis.call('HGET', KEYS[2], 'txid')
  if not txid then return deny(' and holds no transaction') end
  if ARGV[5] ~= '' and ARGV[5] ~= txid then
    return redis.error_reply('CONFLICT change ' .. ARGV[5] .. ' is not of the batch transaction ' .. txid)
  end
  local pending, paid, total, err = back(KEYS[5])
  if err then return err end
  leave('paid', 'settled', ARGV[4])
  redis.call('SREM', KEYS[8], ARGV[3])
  redis.call('HINCRBY', KEYS[7], 'paid', fmt(total))
  redis.call('HINCRBY', KEYS[7], 'batches_paid', 1)
  hset(KEYS[4], pending)
  hset(KEYS[5], paid)
  hset(KEYS[6], slice(7, 2 * tonumber(ARGV[6])))
elseif op == 'cancel' or op == 'clear' then
  if op == 'cancel' then
    if state == 'cancelled' then return 0 end
    if not is('planned', 'psbt') then return deny() end
  else
    if state == 'cancelled' and redis.call('HEXISTS', KEYS[2], 'cleared') == 1 then return 0 end
    if not is('failed') then return deny() end
  end
  local pending, bal, _, err = back(KEYS[3])
  if err then return err end
  if op == 'cancel' then
    leave('cancelled')
  else
    leave('cancelled', 'cleared', ARGV[4])
  end
  redis.call('SREM', KEYS[8], ARGV[3])
  redis.call('HINCRBY', KEYS[7], 'batches_cancelled', 1)
  hset(KEYS[4], pending)
  hset(KEYS[3], bal)
  if op == 'cancel' then
    local spent = redis.call('HGET', KEYS[2], 'utxo')
    if spent then hset(KEYS[6], cjson.decode(spent)) end
  elseif tonumber(ARGV[6] or '0') > 0 then
    hset(KEYS[6], slice(7, 2 * tonumber(ARGV[6])))
  end
elseif op == 'fail' then
  if state == 'failed' then return 0 end
  if not is('planned', 'psbt', 'signed', 'broadcast') then return deny() end
  leave('failed', 'error', ARGV[5])
else
  return redis.error_reply('ERR unknown batch operation ' .. op)
end
return 1
`)
