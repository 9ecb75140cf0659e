package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// The sealed chain's archive (docs/energy.md, "Archive"): `tarbela energy
// archive` appends the oldest records to a file and then trims them from
// en:chain and en:chain:hour. The head (en:chain:head: seq, hash, hour)
// stays, so new records still link; its field "archived" is the last seq
// trimmed (records 1..archived are only in the archive file).

// ChainArchived returns the last seq trimmed from Redis into an archive
// (0: none); Redis holds the records after it.
func (l *EnergyLedger) ChainArchived(ctx context.Context) (uint64, error) {
	s, err := l.rdb.HGet(ctx, l.k.energyChainHead(), "archived").Result()
	if err == redis.Nil {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: read the energy chain's archived mark: %w", err)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("redisstore: the energy chain's archived mark %q is not a seq", s)
	}
	return n, nil
}

// ChainRange returns the records (canonical lines) with seq from..to, in
// order; a seq Redis does not hold (trimmed, or beyond the head) is
// missing from the result.
func (l *EnergyLedger) ChainRange(ctx context.Context, from, to uint64) ([]string, error) {
	if to < from {
		return nil, nil
	}
	fields := make([]string, 0, to-from+1)
	for s := from; s <= to; s++ {
		fields = append(fields, strconv.FormatUint(s, 10))
	}
	return l.chainRecords(ctx, fields)
}

// trimChainScript drops the records after the archived mark up to a seq
// whose record has the given hash (the archive's last record), and raises
// the mark. KEYS: 1 chain, 2 hour index, 3 head. ARGV: 1 seq, 2 its
// record's hash. Returns the mark afterwards; a seq at or below the mark
// changes nothing (a rerun).
var trimChainScript = redis.NewScript(`
local done = tonumber(redis.call('HGET', KEYS[3], 'archived') or '0')
local upto = tonumber(ARGV[1])
if upto <= done then return done end
local head = tonumber(redis.call('HGET', KEYS[3], 'seq') or '0')
if upto > head then return redis.error_reply('CHAIN seq ' .. ARGV[1] .. ' is beyond the head ' .. head) end
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return redis.error_reply('CHAIN record ' .. ARGV[1] .. ' is not in Redis') end
local ok, r = pcall(cjson.decode, rec)
if not ok or r.hash ~= ARGV[2] then
  return redis.error_reply('CHAIN record ' .. ARGV[1] .. ' in Redis is not the archive\'s (hash differs)')
end
local f = {}
for s = done + 1, upto do
  f[#f + 1] = tostring(s)
  if #f == 1000 or s == upto then
    redis.call('HDEL', KEYS[1], unpack(f))
    redis.call('ZREM', KEYS[2], unpack(f))
    f = {}
  end
end
redis.call('HSET', KEYS[3], 'archived', upto)
return upto
`)

// maxTrim is how many records one trim script call drops (a call blocks
// Redis: 10,000 fields take a few milliseconds).
const maxTrim = 10_000

// TrimChain drops the records up to seq from Redis once they are in an
// archive, whose record seq has hash (checked in the script, so a trim
// never drops records another archive holds). It goes maxTrim records per
// atomic call, each raising the archived mark, so a trim stopped half-way
// is resumed by the next. A seq at or below the mark changes nothing.
func (l *EnergyLedger) TrimChain(ctx context.Context, seq uint64, hash string) error {
	done, err := l.ChainArchived(ctx)
	if err != nil {
		return err
	}
	ks := []string{l.k.energyChain(), l.k.energyChainHour(), l.k.energyChainHead()}
	for done < seq {
		upto := min(seq, done+maxTrim)
		h := hash
		if upto != seq {
			// An intermediate step: the record at upto must be the
			// archive's too; the caller checked the lines match, so
			// read its hash from Redis.
			lines, err := l.ChainRange(ctx, upto, upto)
			if err != nil {
				return err
			}
			if len(lines) != 1 {
				return fmt.Errorf("redisstore: trim the energy chain: record %d is not in Redis", upto)
			}
			if h, err = recordHash(lines[0]); err != nil {
				return err
			}
		}
		v, err := trimChainScript.Run(ctx, l.rdb, ks, upto, h).Uint64()
		if err != nil {
			return fmt.Errorf("redisstore: trim the energy chain to %d: %w", upto, err)
		}
		done = v
	}
	return nil
}

// recordHash reads the hash field of a sealed record's line.
func recordHash(line string) (string, error) {
	var r struct {
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal([]byte(line), &r); err != nil || r.Hash == "" {
		return "", fmt.Errorf("redisstore: an energy chain record without a hash: %.80s", line)
	}
	return r.Hash, nil
}
