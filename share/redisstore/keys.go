package redisstore

import "strconv"

// tag is the Redis Cluster hash tag on every key: the batch script touches
// rounds, the PPLNS window, hashrate buckets and block records together, so
// they must hash to one slot.
const tag = "{acct}"

// CurrentRound names the open round in RoundWork and in the round keys.
const CurrentRound = "current"

// keys builds the store's key names; see docs/redis.md for each key's type
// and lifetime.
type keys struct {
	base string // "<prefix>:{acct}:"
}

func newKeys(prefix string) keys { return keys{base: prefix + ":" + tag + ":"} }

// roundWorkers, roundAccounts and roundMeta are the hashes of a round:
// CurrentRound while it is open, the finding block's hash once frozen.
func (k keys) roundWorkers(round string) string  { return k.base + "round:" + round + ":w" }
func (k keys) roundAccounts(round string) string { return k.base + "round:" + round + ":a" }
func (k keys) roundMeta(round string) string     { return k.base + "round:" + round + ":meta" }

func (k keys) lastWorker() string      { return k.base + "last:w" }
func (k keys) workerNames() string     { return k.base + "names:w" }
func (k keys) lastAccount() string     { return k.base + "last:a" }
func (k keys) totals() string          { return k.base + "totals" }
func (k keys) blocks() string          { return k.base + "blocks" }
func (k keys) block(h string) string   { return k.base + "block:" + h }
func (k keys) stream(id string) string { return k.base + "seq:" + id }

// hashrateWorkers and hashrateAccounts are the buckets starting at unix
// second start. An account bucket also holds the bucket's whole work in
// field PoolField.
func (k keys) hashrateWorkers(start int64) string {
	return k.base + "hr:w:" + strconv.FormatInt(start, 10)
}
func (k keys) hashrateAccounts(start int64) string {
	return k.base + "hr:a:" + strconv.FormatInt(start, 10)
}

// hashrateWorkersCoarse is the workers' coarse tier's bucket starting at
// unix second start (Tiers.WorkerCoarseBucket wide).
func (k keys) hashrateWorkersCoarse(start int64) string {
	return k.base + "hr:wc:" + strconv.FormatInt(start, 10)
}

// hashrateIndex orders every hashrate bucket kept by the time (ms) from
// which it is deleted; clock is the newest share time recorded (ms), the
// time the batches delete buckets and trim last-share times by.
func (k keys) hashrateIndex() string { return k.base + "hr:idx" }
func (k keys) clock() string         { return k.base + "clock" }

// PoolField is the field of an account hashrate bucket (hr:a:<start>)
// that holds the work of every account in the bucket. No account is named
// so: AddShare refuses names with '|'.
const PoolField = "|pool"

// The PPLNS window's slices (see docs/payout.md): pplnsIndex orders the
// slices by start (ms), pplnsTotals holds each slice's work and, in field
// pplnsAll, the work of every slice kept; pplnsSlice is one slice's work per
// account. roundPPLNS is the window a block froze.
func (k keys) pplnsIndex() string       { return k.base + "pplns:idx" }
func (k keys) pplnsTotals() string      { return k.base + "pplns:tot" }
func (k keys) pplnsSlicePrefix() string { return k.base + "pplns:s:" }
func (k keys) pplnsSlice(start int64) string {
	return k.pplnsSlicePrefix() + strconv.FormatInt(start, 10)
}
func (k keys) roundPPLNS(round string) string {
	return k.base + "round:" + round + ":pplns"
}

// pplnsAll is the field of pplnsTotals that sums every slice kept.
const pplnsAll = "all"

// ppsOwed is what PPS/FPPS owes each account, in satoshis (a float: the
// fractions are kept until whole).
func (k keys) ppsOwed() string { return k.base + "pps:owed" }

// legacyWindow is the PPLNS share list of releases before the window was
// kept in slices; Start removes it.
func (k keys) legacyWindow() string { return k.base + "pplns" }
