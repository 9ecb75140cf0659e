package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// EnergyLedger reads and closes the per-site hourly work the batch script
// writes (energy_script.go) and keeps the energy audit's records: the
// closed-hour chain, meter readings and curtailment requests. It holds no
// energy logic (internal/energy does); every write that must be atomic is
// one script. Keys: docs/energy.md.
type EnergyLedger struct {
	rdb redis.UniversalClient
	k   keys
}

// NewEnergyLedger returns the ledger under prefix ("tarbela" when empty).
func NewEnergyLedger(rdb redis.UniversalClient, prefix string) *EnergyLedger {
	if prefix == "" {
		prefix = "tarbela"
	}
	return &EnergyLedger{rdb: rdb, k: newKeys(prefix)}
}

func (k keys) energyChain() string     { return k.base + "en:chain" }
func (k keys) energyChainHour() string { return k.base + "en:chain:hour" }
func (k keys) energyChainHead() string { return k.base + "en:chain:head" }
func (k keys) energyLateTaken(h int64) string {
	return k.base + "en:lateq:" + strconv.FormatInt(h, 10)
}
func (k keys) energyMeter(site string) string { return k.base + "en:meter:" + site }
func (k keys) energyCurtail() string          { return k.base + "en:curtail" }
func (k keys) energyKept(id int64) string {
	return k.base + "en:cm:" + strconv.FormatInt(id, 10)
}

// UnitHour is one unit's (site's, or a site fleet's) figures in one hour.
type UnitHour struct {
	Unit string
	// Work is the sum of the credited difficulty of its accepted shares,
	// SumSq the sum of their squares (for the estimate's interval).
	Work, SumSq float64
	// Accepted and Rejected count shares; Workers counts distinct worker
	// names with an accepted share (known once the hour is frozen; -1
	// before).
	Accepted, Rejected, Workers int64
	// First and Last are the first and last accepted share (unix ms; 0
	// none).
	First, Last int64
	// Worth is the PPS/FPPS worth of its accepted shares in satoshis
	// (Σ d/D × v, what the batches added to pps:owed for them; 0 under
	// the block schemes).
	Worth float64
}

// HourFigures is one hour's figures: the pool's and each unit's.
type HourFigures struct {
	Hour         int64 // start, unix ms
	PoolWork     float64
	PoolAccepted int64
	Units        []UnitHour // by unit name
}

func parseHour(hour int64, m map[string]string) HourFigures {
	f := HourFigures{Hour: hour}
	units := map[string]*UnitHour{}
	for field, v := range m {
		i := strings.LastIndexByte(field, '|')
		if i < 0 {
			continue
		}
		name, kind := field[:i], field[i+1:]
		if name == "|pool" {
			switch kind {
			case "w":
				f.PoolWork, _ = strconv.ParseFloat(v, 64)
			case "a":
				f.PoolAccepted = parseInt(v)
			}
			continue
		}
		u := units[name]
		if u == nil {
			u = &UnitHour{Unit: name, Workers: -1}
			units[name] = u
		}
		switch kind {
		case "w":
			u.Work, _ = strconv.ParseFloat(v, 64)
		case "q":
			u.SumSq, _ = strconv.ParseFloat(v, 64)
		case "a":
			u.Accepted = parseInt(v)
		case "r":
			u.Rejected = parseInt(v)
		case "n":
			u.Workers = parseInt(v)
		case "f":
			u.First = parseInt(v)
		case "l":
			u.Last = parseInt(v)
		case "v":
			u.Worth, _ = strconv.ParseFloat(v, 64)
		}
	}
	for _, u := range units {
		f.Units = append(f.Units, *u)
	}
	sort.Slice(f.Units, func(i, j int) bool { return f.Units[i].Unit < f.Units[j].Unit })
	return f
}

// freezeScript closes an hour: it raises the closed mark to the hour (so
// later batches for it go to its late hash), counts each unit's worker set
// into the unit's hash (field n) and drops the set, and returns the pool
// hash and each unit's hash: {pool fields and values, unit, {fields and
// values}, unit, …}. It is idempotent: a count already taken is kept.
//
// KEYS: 1 closed mark, 2 the hour's pool hash, 3 its unit index. ARGV: 1
// hour ms, 2 the unit hash key prefix, 3 the worker set key prefix (the
// unit hashes and sets carry the same hash tag).
var freezeScript = redis.NewScript(`
local c = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > c then redis.call('SET', KEYS[1], ARGV[1]) end
local out = {redis.call('HGETALL', KEYS[2])}
for _, u in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local uk = ARGV[2] .. u
  if redis.call('HEXISTS', uk, 'n') == 0 then
    local set = ARGV[3] .. u
    redis.call('HSET', uk, 'n', redis.call('SCARD', set))
    redis.call('DEL', set)
  end
  out[#out + 1] = u
  out[#out + 1] = redis.call('HGETALL', uk)
end
return out
`)

// unitHour reads one unit's hash (fields w a q f l r n v).
func unitHour(unit string, m map[string]string) UnitHour {
	u := UnitHour{Unit: unit, Workers: -1}
	u.Work, _ = strconv.ParseFloat(m["w"], 64)
	u.SumSq, _ = strconv.ParseFloat(m["q"], 64)
	u.Accepted, u.Rejected = parseInt(m["a"]), parseInt(m["r"])
	u.First, u.Last = parseInt(m["f"]), parseInt(m["l"])
	u.Worth, _ = strconv.ParseFloat(m["v"], 64)
	if n, ok := m["n"]; ok {
		u.Workers = parseInt(n)
	}
	return u
}

func stringPairs(v any) map[string]string {
	list, _ := v.([]any)
	m := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		k, _ := list[i].(string)
		s, _ := list[i+1].(string)
		m[k] = s
	}
	return m
}

// hourFrom builds an hour's figures from its pool hash and unit hashes.
func hourFrom(hour int64, pool map[string]string, units map[string]map[string]string) HourFigures {
	f := parseHour(hour, pool)
	for u, m := range units {
		f.Units = append(f.Units, unitHour(u, m))
	}
	sort.Slice(f.Units, func(i, j int) bool { return f.Units[i].Unit < f.Units[j].Unit })
	return f
}

// OpenHours returns the hours (start ms, ascending) with figures that are
// not yet in the chain and start before before.
func (l *EnergyLedger) OpenHours(ctx context.Context, before int64) ([]int64, error) {
	v, err := l.rdb.ZRangeByScore(ctx, l.k.energyOpen(), &redis.ZRangeBy{Min: "-inf", Max: "(" + strconv.FormatInt(before, 10)}).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read open energy hours: %w", err)
	}
	return int64s(v), nil
}

func int64s(v []string) []int64 {
	out := make([]int64, 0, len(v))
	for _, s := range v {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// ClosedMark returns the start of the last closed hour (ms; -1 none).
func (l *EnergyLedger) ClosedMark(ctx context.Context) (int64, error) {
	v, err := l.rdb.Get(ctx, l.k.energyClosed()).Result()
	if errors.Is(err, redis.Nil) {
		return -1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: read the closed energy hour: %w", err)
	}
	return strconv.ParseInt(v, 10, 64)
}

// FreezeHour closes hour (start ms) and returns its final figures. Hours
// close in order: closing hour H closes every hour before it too, so a
// caller freezes the open hours oldest first.
func (l *EnergyLedger) FreezeHour(ctx context.Context, hour int64) (HourFigures, error) {
	v, err := freezeScript.Run(ctx, l.rdb, []string{l.k.energyClosed(), l.k.energyHour(hour), l.k.energyUnits(hour)},
		hour, l.k.energyUnitHour(hour, ""), l.k.energyWorkers(hour, "")).Slice()
	if err != nil {
		return HourFigures{}, fmt.Errorf("redisstore: freeze energy hour %d: %w", hour, err)
	}
	if len(v) == 0 {
		return HourFigures{Hour: hour}, nil
	}
	units := map[string]map[string]string{}
	for i := 1; i+1 < len(v); i += 2 {
		u, _ := v[i].(string)
		units[u] = stringPairs(v[i+1])
	}
	return hourFrom(hour, stringPairs(v[0]), units), nil
}

func pairs(v []string) map[string]string {
	m := make(map[string]string, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		m[v[i]] = v[i+1]
	}
	return m
}

// Hour returns an hour's figures as they are now (open or closed).
func (l *EnergyLedger) Hour(ctx context.Context, hour int64) (HourFigures, error) {
	pool, err := l.rdb.HGetAll(ctx, l.k.energyHour(hour)).Result()
	if err != nil {
		return HourFigures{}, fmt.Errorf("redisstore: read energy hour %d: %w", hour, err)
	}
	names, err := l.rdb.SMembers(ctx, l.k.energyUnits(hour)).Result()
	if err != nil {
		return HourFigures{}, fmt.Errorf("redisstore: read energy hour %d: %w", hour, err)
	}
	units := map[string]map[string]string{}
	if len(names) > 0 {
		pipe := l.rdb.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(names))
		for i, u := range names {
			cmds[i] = pipe.HGetAll(ctx, l.k.energyUnitHour(hour, u))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return HourFigures{}, fmt.Errorf("redisstore: read energy hour %d: %w", hour, err)
		}
		for i, u := range names {
			units[u] = cmds[i].Val()
		}
	}
	return hourFrom(hour, pool, units), nil
}

// LateHours returns the closed hours that received late batches not yet
// taken into the chain.
func (l *EnergyLedger) LateHours(ctx context.Context) ([]int64, error) {
	v, err := l.rdb.ZRange(ctx, l.k.energyLateIndex(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read late energy hours: %w", err)
	}
	return int64s(v), nil
}

// takeLateScript moves an hour's late hash aside for sealing: later late
// batches start a fresh one. A hash taken before and not yet sealed is
// returned again. KEYS: 1 late hash, 2 taken hash, 3 late index. ARGV: 1
// hour.
var takeLateScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 0 then
  if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('RENAME', KEYS[1], KEYS[2]) end
end
redis.call('ZREM', KEYS[3], ARGV[1])
return redis.call('HGETALL', KEYS[2])
`)

// TakeLate returns the late figures of a closed hour, set aside until
// AppendChain seals them (Workers is unknown, -1, for late figures).
func (l *EnergyLedger) TakeLate(ctx context.Context, hour int64) (HourFigures, error) {
	v, err := takeLateScript.Run(ctx, l.rdb, []string{l.k.energyLate(hour), l.k.energyLateTaken(hour), l.k.energyLateIndex()},
		hour).StringSlice()
	if err != nil {
		return HourFigures{}, fmt.Errorf("redisstore: take late energy hour %d: %w", hour, err)
	}
	return parseHour(hour, pairs(v)), nil
}

// ChainHead is the last record of the closed-hour chain.
type ChainHead struct {
	Seq  uint64
	Hash string
	// Hour is the last hour sealed (ms; -1 none).
	Hour int64
}

// Head returns the chain's head (Seq 0 and an empty Hash when empty).
func (l *EnergyLedger) Head(ctx context.Context) (ChainHead, error) {
	m, err := l.rdb.HGetAll(ctx, l.k.energyChainHead()).Result()
	if err != nil {
		return ChainHead{}, fmt.Errorf("redisstore: read the energy chain head: %w", err)
	}
	h := ChainHead{Hour: -1, Hash: m["hash"]}
	if s, ok := m["seq"]; ok {
		h.Seq, _ = strconv.ParseUint(s, 10, 64)
		h.Hour = parseInt(m["hour"])
	}
	return h, nil
}

// ErrChainMoved means the chain's head was not the one the records were
// built on: another closer appended first. Read the head and start again.
var ErrChainMoved = errors.New("redisstore: the energy chain moved")

// appendScript appends records to the chain if its head is still the one
// they were built on. KEYS: 1 chain, 2 hour index, 3 head, 4 open index, 5
// taken late hash (or the head again: nothing to drop), 6 the hour's pool
// hash, 7 its unit index (dropped, with the unit hashes, when the hour
// leaves the open index: the chain holds it now). ARGV 6 is the unit hash
// key prefix. ARGV: 1 expected
// head seq, 2 new head hash, 3 hour sealed, 4 open hour to drop ("" none),
// 5 number of records n, then n (seq, record) pairs, then the unit hash
// key prefix.
var appendScript = redis.NewScript(`
local seq = tonumber(redis.call('HGET', KEYS[3], 'seq') or '0')
if seq ~= tonumber(ARGV[1]) then return 0 end
local n = tonumber(ARGV[5])
for r = 0, n - 1 do
  local s, rec = ARGV[6 + 2*r], ARGV[7 + 2*r]
  redis.call('HSET', KEYS[1], s, rec)
  redis.call('ZADD', KEYS[2], ARGV[3], s)
  seq = tonumber(s)
end
local h = tonumber(redis.call('HGET', KEYS[3], 'hour') or '-1')
redis.call('HSET', KEYS[3], 'seq', seq, 'hash', ARGV[2], 'hour', math.max(h, tonumber(ARGV[3])))
if ARGV[4] ~= '' then
  redis.call('ZREM', KEYS[4], ARGV[4])
  for _, u in ipairs(redis.call('SMEMBERS', KEYS[7])) do redis.call('DEL', ARGV[6 + 2*n] .. u) end
  redis.call('DEL', KEYS[6], KEYS[7])
end
if KEYS[5] ~= KEYS[3] then redis.call('DEL', KEYS[5]) end
return 1
`)

// AppendChain appends records (their canonical lines, numbered from
// head.Seq+1) for hour. open drops the hour from the open index (its
// closed figures are sealed); late drops its taken late figures instead.
// It returns ErrChainMoved when the head is no longer head.
func (l *EnergyLedger) AppendChain(ctx context.Context, head ChainHead, newHash string, hour int64, late bool, records []string) error {
	open := strconv.FormatInt(hour, 10)
	taken := l.k.energyChainHead()
	if late {
		open, taken = "", l.k.energyLateTaken(hour)
	}
	args := []any{head.Seq, newHash, hour, open, len(records)}
	for i, r := range records {
		args = append(args, head.Seq+uint64(i)+1, r)
	}
	args = append(args, l.k.energyUnitHour(hour, ""))
	v, err := appendScript.Run(ctx, l.rdb, []string{l.k.energyChain(), l.k.energyChainHour(), l.k.energyChainHead(),
		l.k.energyOpen(), taken, l.k.energyHour(hour), l.k.energyUnits(hour)}, args...).Int()
	if err != nil {
		return fmt.Errorf("redisstore: append to the energy chain: %w", err)
	}
	if v == 0 {
		return ErrChainMoved
	}
	return nil
}

// Chain returns the chain's records (canonical lines) in sequence order
// whose hour lies in [from, to) ms.
func (l *EnergyLedger) Chain(ctx context.Context, from, to int64) ([]string, error) {
	seqs, err := l.rdb.ZRangeByScore(ctx, l.k.energyChainHour(), &redis.ZRangeBy{
		Min: strconv.FormatInt(from, 10), Max: "(" + strconv.FormatInt(to, 10)}).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read the energy chain index: %w", err)
	}
	ns := int64s(seqs)
	if len(ns) == 0 {
		return nil, nil
	}
	fields := make([]string, len(ns))
	for i, n := range ns {
		fields[i] = strconv.FormatInt(n, 10)
	}
	return l.chainRecords(ctx, fields)
}

// chainRecords returns the records of the chain's fields (seqs), in their
// order, 1,000 fields a call; a field Redis does not hold is left out.
func (l *EnergyLedger) chainRecords(ctx context.Context, fields []string) ([]string, error) {
	var out []string
	for i := 0; i < len(fields); i += 1000 {
		v, err := l.rdb.HMGet(ctx, l.k.energyChain(), fields[i:min(len(fields), i+1000)]...).Result()
		if err != nil {
			return nil, fmt.Errorf("redisstore: read the energy chain: %w", err)
		}
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// MeterHour is a site's metered energy in one hour: kWh, and the seconds
// of the hour the readings covered.
type MeterHour struct {
	KWh     float64
	Covered float64
}

// SetMeter stores a site's metered hours all at once (MULTI): each hour
// given replaces what an earlier import said for it.
func (l *EnergyLedger) SetMeter(ctx context.Context, site string, hours map[int64]MeterHour) error {
	if len(hours) == 0 {
		return nil
	}
	vals := make([]any, 0, 4*len(hours))
	for h, m := range hours {
		hs := strconv.FormatInt(h, 10)
		vals = append(vals, hs, fmtFloat(m.KWh), hs+"|s", fmtFloat(m.Covered))
	}
	_, err := l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, l.k.energyMeter(site), vals...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: store meter readings of site %q: %w", site, err)
	}
	return nil
}

// Meter returns a site's metered hours.
func (l *EnergyLedger) Meter(ctx context.Context, site string) (map[int64]MeterHour, error) {
	m, err := l.rdb.HGetAll(ctx, l.k.energyMeter(site)).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read meter readings of site %q: %w", site, err)
	}
	out := map[int64]MeterHour{}
	for f, v := range m {
		hs, cov := strings.CutSuffix(f, "|s")
		h, err := strconv.ParseInt(hs, 10, 64)
		if err != nil {
			continue
		}
		x, _ := strconv.ParseFloat(v, 64)
		mh := out[h]
		if cov {
			mh.Covered = x
		} else {
			mh.KWh = x
		}
		out[h] = mh
	}
	return out, nil
}

// AddCurtailment stores a curtailment request (its JSON) under the next
// id, which it returns.
func (l *EnergyLedger) AddCurtailment(ctx context.Context, build func(id int64) string) (int64, error) {
	id, err := l.rdb.HIncrBy(ctx, l.k.energyCurtail(), "next", 1).Result()
	if err != nil {
		return 0, fmt.Errorf("redisstore: number a curtailment request: %w", err)
	}
	if err := l.rdb.HSet(ctx, l.k.energyCurtail(), strconv.FormatInt(id, 10), build(id)).Err(); err != nil {
		return 0, fmt.Errorf("redisstore: store curtailment request %d: %w", id, err)
	}
	return id, nil
}

// Curtailments returns the stored requests (JSON) by id.
func (l *EnergyLedger) Curtailments(ctx context.Context) (map[int64]string, error) {
	m, err := l.rdb.HGetAll(ctx, l.k.energyCurtail()).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read curtailment requests: %w", err)
	}
	out := map[int64]string{}
	for f, v := range m {
		if id, err := strconv.ParseInt(f, 10, 64); err == nil {
			out[id] = v
		}
	}
	return out, nil
}

// Buckets returns the live per-unit work buckets (EnergyBucket wide) that
// start in [from, to) ms: start → unit → work.
func (l *EnergyLedger) Buckets(ctx context.Context, from, to, width int64) (map[int64]map[string]float64, error) {
	out := map[int64]map[string]float64{}
	pipe := l.rdb.Pipeline()
	var starts []int64
	var cmds []*redis.MapStringStringCmd
	for t := periodStart(from, width); t < to; t += width {
		if t < from {
			continue
		}
		starts = append(starts, t)
		cmds = append(cmds, pipe.HGetAll(ctx, l.k.energyMinute(t)))
	}
	if len(cmds) == 0 {
		return out, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redisstore: read energy buckets: %w", err)
	}
	for i, c := range cmds {
		if len(c.Val()) > 0 {
			out[starts[i]] = floats(c.Val())
		}
	}
	return out, nil
}

// KeepBuckets copies the live buckets of [from, to) into the permanent
// copy of curtailment request id (fields "<start>|<unit>"), so its report
// outlives the buckets' TTL. Copying again overwrites with the live value.
func (l *EnergyLedger) KeepBuckets(ctx context.Context, id, from, to, width int64) error {
	b, err := l.Buckets(ctx, from, to, width)
	if err != nil || len(b) == 0 {
		return err
	}
	vals := []any{}
	for t, units := range b {
		for u, w := range units {
			vals = append(vals, strconv.FormatInt(t, 10)+"|"+u, fmtFloat(w))
		}
	}
	if err := l.rdb.HSet(ctx, l.k.energyKept(id), vals...).Err(); err != nil {
		return fmt.Errorf("redisstore: keep the buckets of curtailment %d: %w", id, err)
	}
	return nil
}

// KeptBuckets returns the permanent copy of request id's buckets: start →
// unit → work.
func (l *EnergyLedger) KeptBuckets(ctx context.Context, id int64) (map[int64]map[string]float64, error) {
	m, err := l.rdb.HGetAll(ctx, l.k.energyKept(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read the kept buckets of curtailment %d: %w", id, err)
	}
	out := map[int64]map[string]float64{}
	for f, v := range m {
		ts, u, ok := strings.Cut(f, "|")
		t, err := strconv.ParseInt(ts, 10, 64)
		if !ok || err != nil {
			continue
		}
		w, _ := strconv.ParseFloat(v, 64)
		if out[t] == nil {
			out[t] = map[string]float64{}
		}
		out[t][u] = w
	}
	return out, nil
}
