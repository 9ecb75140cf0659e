package redisstore

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// UnassignedSite is the energy site of a worker that no configured site
// claims (share.Record.Site empty).
const UnassignedSite = "unassigned"

// EnergyHour is the width of an energy site-hour, in milliseconds.
const EnergyHour = int64(time.Hour / time.Millisecond)

// energyLua is the batch script's energy section (docs/energy.md). It runs
// after the block section and before the batch's high-water mark is set,
// so a batch sent twice (lost reply, journal replayed again) adds to the
// site-hours once: the script returned at the dedupe check before getting
// here.
//
// ARGV, from where the block section ends: the KEYS index k of the energy
// keys; energyRoundLua's section (read before the block section, skipped
// here); the number of hours H; per hour its start ms, the batch's pool work
// and accepted shares in it, the number of units U, and per unit: name,
// work, accepted, rejected, sum of squared difficulties, first and last
// accepted share ms (0: none), "1" when the unit is new to this store
// process in this hour (else "0"), the number of worker names, the units'
// PPS/FPPS worth in satoshis (0 under the block schemes), and the worker
// names not sent before by this store process in this hour; then the number of
// minute buckets M and their TTL s, and per bucket its start ms and a
// counted (unit, work) pair list.
//
// KEYS from k: the closed-hour mark, the open-hour index, the late-hour
// index, then per hour its pool hash (en:h:<hour>), its late hash and its
// unit index (en:hu:<hour>), followed per unit by the unit's hash
// (en:h:<hour>:<unit>) and, when it has names, its worker set; then one
// hash per minute bucket.
//
// Each unit-hour is its own small hash (fields w a q f l r, and n at
// close): a small hash stays in Redis's compact encoding, and six fields
// of it cost far less than the same fields of one hash of every site
// (measured: 0.45 against 2 ms per batch of 100 sites).
//
// An hour at or before the closed mark is closed: its figures are frozen,
// so the batch's figures for it go to its late hash (one hash, fields
// <unit>|w and so on: late batches are rare) and the hour to the late
// index, never to the closed hashes; its names are not kept.
const energyLua = `
do
  local e = i
  if ARGV[e] == '1' then e = e + 7 + 2 * tonumber(ARGV[e + 6]) else e = e + 1 end
  local k = tonumber(ARGV[e])
  e = e + 1
  -- The site-round section (energyRoundLua) was read before the block
  -- section: skip it.
  e = e + 1 + 2 * tonumber(ARGV[e])
  for s = 1, ns do
    e = e + 1
    if ns > 1 then e = e + 1 + 2 * tonumber(ARGV[e]) end
  end
  local closed = tonumber(redis.call('GET', KEYS[k]) or '-1')
  local kk = k + 3
  local nh = tonumber(ARGV[e])
  e = e + 1
  for h = 1, nh do
    local hour = tonumber(ARGV[e])
    local nu = tonumber(ARGV[e + 3])
    local late = hour <= closed
    local hk, lk, ik = KEYS[kk], KEYS[kk + 1], KEYS[kk + 2]
    kk = kk + 3
    -- Late figures: one hash, fields named per unit.
    local fields, inc, mins, maxs = {'|pool|w', '|pool|a'}, {tonumber(ARGV[e + 1]), tonumber(ARGV[e + 2])}, {}, {}
    if late then
      redis.call('ZADD', KEYS[k + 2], hour, ARGV[e])
    else
      redis.call('ZADD', KEYS[k + 1], hour, ARGV[e])
      if ARGV[e + 2] ~= '0' then
        redis.call('HINCRBYFLOAT', hk, '|pool|w', ARGV[e + 1])
        redis.call('HINCRBY', hk, '|pool|a', ARGV[e + 2])
      end
    end
    e = e + 4
    local newUnits = {}
    for u = 1, nu do
      local n = ARGV[e]
      local first, last = tonumber(ARGV[e + 5]), tonumber(ARGV[e + 6])
      local nw = tonumber(ARGV[e + 8])
      local worth = tonumber(ARGV[e + 9])
      local uk = KEYS[kk]
      kk = kk + 1
      local sk = nil
      if nw > 0 then sk = KEYS[kk]; kk = kk + 1 end
      if late then
        local b = #fields
        if first > 0 then
          fields[b + 1] = n .. '|w'; inc[b + 1] = tonumber(ARGV[e + 1])
          fields[b + 2] = n .. '|a'; inc[b + 2] = tonumber(ARGV[e + 2])
          fields[b + 3] = n .. '|q'; inc[b + 3] = tonumber(ARGV[e + 4])
          fields[b + 4] = n .. '|f'; mins[b + 4] = first
          fields[b + 5] = n .. '|l'; maxs[b + 5] = last
          b = b + 5
          if worth > 0 then fields[b + 1] = n .. '|v'; inc[b + 1] = worth; b = b + 1 end
        end
        if ARGV[e + 3] ~= '0' then fields[b + 1] = n .. '|r'; inc[b + 1] = tonumber(ARGV[e + 3]) end
      else
        if ARGV[e + 7] == '1' then newUnits[#newUnits + 1] = n end
        local cur = redis.call('HMGET', uk, 'w', 'a', 'q', 'f', 'l', 'r', 'v')
        local t = {}
        if first > 0 then
          local f, l = tonumber(cur[4]), tonumber(cur[5])
          if (not f) or first < f then f = first end
          if (not l) or last > l then l = last end
          t = {'w', (tonumber(cur[1]) or 0) + tonumber(ARGV[e + 1]), 'a', (tonumber(cur[2]) or 0) + tonumber(ARGV[e + 2]),
            'q', (tonumber(cur[3]) or 0) + tonumber(ARGV[e + 4]), 'f', f, 'l', l}
          if worth > 0 then t[#t + 1] = 'v'; t[#t + 1] = (tonumber(cur[7]) or 0) + worth end
        end
        if ARGV[e + 3] ~= '0' then
          t[#t + 1] = 'r'
          t[#t + 1] = (tonumber(cur[6]) or 0) + tonumber(ARGV[e + 3])
        end
        if #t > 0 then redis.call('HSET', uk, unpack(t)) end
        if sk then
          local s = e + 10
          for c = s, s + nw - 1, 500 do
            redis.call('SADD', sk, unpack(ARGV, c, math.min(s + nw - 1, c + 499)))
          end
        end
      end
      e = e + 10 + nw
    end
    if #newUnits > 0 then redis.call('SADD', ik, unpack(newUnits)) end
    if late then
      local cur = redis.call('HMGET', lk, unpack(fields))
      local t = {}
      for f = 1, #fields do
        local v = tonumber(cur[f])
        if inc[f] then
          v = (v or 0) + inc[f]
        elseif mins[f] then
          if (not v) or mins[f] < v then v = mins[f] end
        elseif maxs[f] then
          if (not v) or maxs[f] > v then v = maxs[f] end
        end
        t[2 * f - 1] = fields[f]
        t[2 * f] = v
      end
      redis.call('HSET', lk, unpack(t))
    end
  end
  local nm = tonumber(ARGV[e])
  local ttl = ARGV[e + 1]
  e = e + 2
  for m = 1, nm do
    local n = tonumber(ARGV[e + 1])
    local fields, inc = {}, {}
    for p = 1, n do
      fields[p] = ARGV[e + 2 * p]
      inc[p] = tonumber(ARGV[e + 2 * p + 1])
    end
    if n > 0 then
      local cur = redis.call('HMGET', KEYS[kk], unpack(fields))
      local t = {}
      for p = 1, n do
        t[2 * p - 1] = fields[p]
        t[2 * p] = inc[p] + (tonumber(cur[p]) or 0)
      end
      redis.call('HSET', KEYS[kk], unpack(t))
      redis.call('EXPIRE', KEYS[kk], ttl)
      -- Indexed with the hashrate buckets (hr:idx) by its deadline, so
      -- it expires by the shares' clock too, like them.
      redis.call('ZADD', KEYS[18], tonumber(ARGV[e]) + 1000 * tonumber(ttl), KEYS[kk])
    end
    kk = kk + 1
    e = e + 2 + 2 * n
  end
end
`

// SiteWorkField prefixes the fields that hold a site's work in a round's
// meta hash (round:<r>:meta), in a PPLNS slice and in the window a block
// froze (round:<hash>:pplns): "|s|<site>". No account is named so (names
// with '|' are refused), and readers of accounts skip these fields.
const SiteWorkField = "|s|"

// energyRoundLua is the part of the energy section that must run before the
// batch script's block section (it is spliced in just before it): it adds
// the batch's work per site to the open round's meta hash and to the
// batch's PPLNS slices, in fields SiteWorkField<site>. The block section
// then freezes them with the accounts' work: the meta hash is renamed to
// the block's, and freeze() copies every field of the newest slices, pro
// rata for the oldest, into round:<hash>:pplns; trimming drops them with
// the slices. So a block's per-site work (PROP: the round's; PPLNS: the
// window's) is as exact as its per-account work, and the payout run splits
// the block's credit by it (BlockCredit.Sites). A block recorded as found
// and later rejected gives its round's site work back here, before the
// block section drops the frozen meta hash.
//
// ARGV, from the energy section's start (after its KEYS index): the
// batch's (site, work) pairs, counted; then per PPLNS slice of the batch
// (S, in KEYS order) its start ms and, when S > 1, its counted (site,
// work) pairs (when S is 1 they are the batch's). A slice no longer in
// the index (trimmed: a very old batch replayed) gets nothing, so no slice
// hash is left behind.
const energyRoundLua = `
do
  local e = i
  if ARGV[e] == '1' then e = e + 7 + 2 * tonumber(ARGV[e + 6]) else e = e + 1 end
  e = e + 1
  local function addSites(key, first, n)
    if n == 0 then return end
    local f = {}
    for p = 1, n do f[p] = '` + SiteWorkField + `' .. ARGV[first + 2*p - 2] end
    local cur = redis.call('HMGET', key, unpack(f))
    local t = {}
    for p = 1, n do
      t[2*p - 1] = f[p]
      t[2*p] = tonumber(ARGV[first + 2*p - 1]) + (tonumber(cur[p]) or 0)
    end
    redis.call('HSET', key, unpack(t))
  end
  local nsite = tonumber(ARGV[e])
  local first = e + 1
  addSites(KEYS[4], first, nsite)
  e = e + 1 + 2 * nsite
  for s = 0, ns - 1 do
    local start = ARGV[e]
    local f, n = first, nsite
    e = e + 1
    if ns > 1 then
      f, n = e + 1, tonumber(ARGV[e])
      e = e + 1 + 2 * n
    end
    if redis.call('ZSCORE', KEYS[5], start) then addSites(KEYS[sk + s], f, n) end
  end
  if ARGV[i] == '1' and ARGV[i + 3] == 'rejected' and redis.call('HGET', KEYS[10], 'round') then
    local kv = redis.call('HGETALL', KEYS[13])
    local back = {}
    for p = 1, #kv, 2 do
      if string.sub(kv[p], 1, 3) == '` + SiteWorkField + `' then
        back[#back + 1] = kv[p]
        back[#back + 1] = kv[p + 1]
      end
    end
    if #back > 0 then
      local f = {}
      for p = 1, #back, 2 do f[#f + 1] = back[p] end
      local cur = redis.call('HMGET', KEYS[4], unpack(f))
      for p = 1, #f do back[2*p] = tonumber(back[2*p]) + (tonumber(cur[p]) or 0) end
      redis.call('HSET', KEYS[4], unpack(back))
    end
  end
end
`

// siteHour keys a unit's aggregate in one hour (or one minute bucket).
type siteHour struct {
	unit  string
	start int64
}

// unitAgg is one unit's figures in one hour of a batch.
type unitAgg struct {
	siteHour
	work, sq float64
	// worth is the PPS/FPPS worth of the shares in satoshis (what the
	// batch adds to pps:owed for them).
	worth            float64
	accepted, reject int64
	first, last      int64
	names            []string
	// isNew says no earlier batch of this encoder had the unit in this
	// hour: the unit goes to the hour's unit index.
	isNew bool
}

// hourAgg is the pool's figures in one hour of a batch.
type hourAgg struct {
	start    int64
	work     float64
	accepted int64
	units    []int // indexes into energyEnc.units
}

// sentKey is a worker name sent in a worker set of one unit-hour.
type sentKey struct {
	unit, worker string
}

// energyEnc sums a batch per site-hour and per site-minute for energyLua.
// It is part of an encoder, so one goroutine owns it; its maps are reused.
type energyEnc struct {
	idx     map[siteHour]int
	units   []unitAgg
	hours   []hourAgg
	minIdx  map[siteHour]int
	minutes []siteHour
	minWork []float64
	order   []int
	// sent remembers, per hour, the worker names this encoder has put in
	// a batch (the sets are idempotent, so a name sent twice costs only
	// Redis time; a name's first batch that fails goes to the journal,
	// whose replayer has its own encoder and sends it again). Hours
	// older than the previous one are forgotten.
	sent map[int64]map[sentKey]struct{}
	// sites is the batch's work per site, part one PPLNS slice's when
	// the batch spans several (energyRoundLua).
	sites, part sums
}

func newEnergyEnc() *energyEnc {
	return &energyEnc{idx: map[siteHour]int{}, minIdx: map[siteHour]int{}, sent: map[int64]map[sentKey]struct{}{},
		sites: sums{idx: map[string]int{}}, part: sums{idx: map[string]int{}}}
}

func unitOf(site string) string {
	if site == "" {
		return UnassignedSite
	}
	return site
}

func (e *energyEnc) unit(unit string, hour int64) *unitAgg {
	k := siteHour{unit, hour}
	i, ok := e.idx[k]
	if !ok {
		i = len(e.units)
		e.idx[k] = i
		sent := e.sentIn(hour)
		_, seen := sent[sentKey{unit, ""}]
		if !seen {
			sent[sentKey{unit, ""}] = struct{}{}
		}
		e.units = append(e.units, unitAgg{siteHour: k, isNew: !seen})
		h := -1
		for j := range e.hours {
			if e.hours[j].start == hour {
				h = j
			}
		}
		if h < 0 {
			h = len(e.hours)
			e.hours = append(e.hours, hourAgg{start: hour})
		}
		e.hours[h].units = append(e.hours[h].units, i)
	}
	return &e.units[i]
}

// sentIn returns the names (and units, with an empty worker) sent in hour,
// forgetting hours before the previous one.
func (e *energyEnc) sentIn(hour int64) map[sentKey]struct{} {
	sent := e.sent[hour]
	if sent == nil {
		sent = map[sentKey]struct{}{}
		e.sent[hour] = sent
		for h := range e.sent {
			if h < hour-EnergyHour {
				delete(e.sent, h)
			}
		}
	}
	return sent
}

// siteOf is the site of a unit ("site" or "site/fleet").
func siteOf(unit string) string {
	if i := strings.IndexByte(unit, '/'); i >= 0 {
		return unit[:i]
	}
	return unit
}

// sum fills e from b; bucketMs is the minute bucket's width; accrue says
// shares have a PPS/FPPS worth (Options.Scheme pps or fpps).
func (e *energyEnc) sum(b *batch, bucketMs int64, o *Options, accrue bool) {
	clear(e.idx)
	clear(e.minIdx)
	e.units = e.units[:0]
	e.hours = e.hours[:0]
	e.minutes = e.minutes[:0]
	e.minWork = e.minWork[:0]
	e.sites.reset()
	var last *unitAgg
	lastMin := -1
	for i := range b.shares {
		r := &b.shares[i]
		ms := r.Time.UnixMilli()
		unit := unitOf(r.Site)
		hour := periodStart(ms, EnergyHour)
		u := last
		if u == nil || u.unit != unit || u.start != hour {
			u = e.unit(unit, hour)
			last = u
		}
		d := r.Difficulty
		u.work += d
		u.sq += d * d
		if accrue {
			if v := worth(r, o); v > 0 {
				u.worth += v
			}
		}
		u.accepted++
		if u.first == 0 || ms < u.first {
			u.first = ms
		}
		u.last = max(u.last, ms)
		sent := e.sentIn(hour)
		if _, ok := sent[sentKey{unit, r.Worker}]; !ok {
			sent[sentKey{unit, r.Worker}] = struct{}{}
			u.names = append(u.names, r.Worker)
		}
		m := siteHour{unit, periodStart(ms, bucketMs)}
		if lastMin < 0 || e.minutes[lastMin] != m {
			j, ok := e.minIdx[m]
			if !ok {
				j = len(e.minutes)
				e.minIdx[m] = j
				e.minutes = append(e.minutes, m)
				e.minWork = append(e.minWork, 0)
			}
			lastMin = j
		}
		e.minWork[lastMin] += d
	}
	for _, rj := range b.rejects {
		e.unit(unitOf(rj.site), rj.hour).reject += int64(rj.n)
	}
	for h := range e.hours {
		for _, i := range e.hours[h].units {
			u := &e.units[i]
			e.hours[h].work += u.work
			e.hours[h].accepted += u.accepted
			if u.accepted > 0 {
				e.sites.add(siteOf(u.unit), u.work, 0)
			}
		}
	}
}

// sliceSites sums the shares of b in the PPLNS slice [start, start+width)
// per site into e.part.
func (e *energyEnc) sliceSites(b *batch, start, width int64) {
	e.part.reset()
	for i := range b.shares {
		r := &b.shares[i]
		if periodStart(r.Time.UnixMilli(), width) == start {
			e.part.add(siteOf(unitOf(r.Site)), r.Difficulty, 0)
		}
	}
}

// encode appends the energy section's keys and arguments to ks and args;
// slices are the starts of the batch's PPLNS slices, in KEYS order.
func (e *energyEnc) encode(k keys, o *Options, b *batch, pplns []int64, ks []string, args []any) ([]string, []any) {
	bucketMs := o.EnergyBucket.Milliseconds()
	e.sum(b, bucketMs, o, o.Scheme == "pps" || o.Scheme == "fpps")
	args = append(args, strconv.Itoa(len(ks)+1))
	// energyRoundLua's section.
	sitePairs := func(m *sums) {
		args = append(args, strconv.Itoa(len(m.list)))
		for i := range m.list {
			args = append(args, m.list[i].name, fmtFloat(m.list[i].work))
		}
	}
	sitePairs(&e.sites)
	for _, start := range pplns {
		args = append(args, fmtInt(start))
		if len(pplns) > 1 {
			e.sliceSites(b, start, o.PPLNSSlice.Milliseconds())
			sitePairs(&e.part)
		}
	}
	args = append(args, strconv.Itoa(len(e.hours)))
	ks = append(ks, k.energyClosed(), k.energyOpen(), k.energyLateIndex())
	for h := range e.hours {
		ha := &e.hours[h]
		ks = append(ks, k.energyHour(ha.start), k.energyLate(ha.start), k.energyUnits(ha.start))
		args = append(args, fmtInt(ha.start), fmtFloat(ha.work), fmtInt(ha.accepted), strconv.Itoa(len(ha.units)))
		for _, i := range ha.units {
			u := &e.units[i]
			isNew := "0"
			if u.isNew {
				isNew = "1"
			}
			args = append(args, u.unit, fmtFloat(u.work), fmtInt(u.accepted), fmtInt(u.reject),
				fmtFloat(u.sq), fmtInt(u.first), fmtInt(u.last), isNew, strconv.Itoa(len(u.names)), fmtFloat(u.worth))
			for _, n := range u.names {
				args = append(args, n)
			}
			ks = append(ks, k.energyUnitHour(ha.start, u.unit))
			if len(u.names) > 0 {
				ks = append(ks, k.energyWorkers(ha.start, u.unit))
			}
			u.names = nil
		}
	}
	// Minute buckets in order of start, each with its units.
	order := e.order[:0]
	for j := range e.minutes {
		order = append(order, j)
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(e.minutes[a].start, e.minutes[b].start) })
	e.order = order
	groups := 0
	for j := range order {
		if j == 0 || e.minutes[order[j]].start != e.minutes[order[j-1]].start {
			groups++
		}
	}
	args = append(args, strconv.Itoa(groups), fmtInt(int64(o.EnergyBucketTTL/time.Second)))
	for j := 0; j < len(order); {
		start := e.minutes[order[j]].start
		n := 1
		for j+n < len(order) && e.minutes[order[j+n]].start == start {
			n++
		}
		ks = append(ks, k.energyMinute(start))
		args = append(args, fmtInt(start), strconv.Itoa(n))
		for _, m := range order[j : j+n] {
			args = append(args, e.minutes[m].unit, fmtFloat(e.minWork[m]))
		}
		j += n
	}
	return ks, args
}

// maxRejectBatches bounds the batches waiting for Redis that a reject may
// add to (each reject-only batch is small, but without a bound an outage
// without a journal would queue one per BatchInterval for as long as
// rejects come).
const maxRejectBatches = 4096

// RejectsDropped returns how many rejects AddReject dropped for backlog.
func (s *Store) RejectsDropped() uint64 { return s.rejectsDropped.Load() }

// rejectCount is a batch's rejected shares of one site in one hour.
type rejectCount struct {
	site string
	hour int64
	n    uint32
}

// AddReject counts one rejected share of a worker of site (share.Worker.Site;
// empty is unassigned) at time at. Rejects ride on the share batches: the
// count is added to the current batch (one is opened if none is), never a
// Redis command per reject. After Stop they are dropped, and so are
// rejects that would open a batch while maxRejectBatches batches already
// wait (Redis down without a journal, and rejects only): they are counted
// by RejectsDropped. It satisfies share.RejectStore.
func (s *Store) AddReject(site string, at time.Time) {
	hour := periodStart(at.UnixMilli(), EnergyHour)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.closing {
		return
	}
	b := s.cur
	if b == nil && len(s.ready) >= maxRejectBatches {
		s.rejectsDropped.Add(1)
		return
	}
	if b == nil {
		b = s.newBatch()
		s.cur = b
		s.signal()
	}
	for i := range b.rejects {
		if rc := &b.rejects[i]; rc.site == site && rc.hour == hour {
			rc.n++
			return
		}
	}
	b.rejects = append(b.rejects, rejectCount{site: site, hour: hour, n: 1})
}

// The energy keys (docs/energy.md); they carry the store's hash tag, so the
// batch script may touch them with the ledger's keys.
func (k keys) energyClosed() string    { return k.base + "en:closed" }
func (k keys) energyOpen() string      { return k.base + "en:open" }
func (k keys) energyLateIndex() string { return k.base + "en:lateidx" }
func (k keys) energyHour(hour int64) string {
	return k.base + "en:h:" + strconv.FormatInt(hour, 10)
}
func (k keys) energyLate(hour int64) string {
	return k.base + "en:late:" + strconv.FormatInt(hour, 10)
}
func (k keys) energyUnits(hour int64) string {
	return k.base + "en:hu:" + strconv.FormatInt(hour, 10)
}
func (k keys) energyUnitHour(hour int64, unit string) string {
	return k.energyHour(hour) + ":" + unit
}
func (k keys) energyWorkers(hour int64, unit string) string {
	return k.base + "en:u:" + strconv.FormatInt(hour, 10) + ":" + unit
}
func (k keys) energyMinute(start int64) string {
	return k.base + "en:m:" + strconv.FormatInt(start, 10)
}
