package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BlockCredit is what a matured block adds to the ledger.
type BlockCredit struct {
	Hash string
	// Credits are the accounts' shares of the block's net reward.
	Credits map[string]int64
	// Fee is the pool's cut; ReserveIn is what goes to the PPS/FPPS
	// variance reserve (the whole reward under those schemes).
	Fee       int64
	ReserveIn int64
	// Reward is what the ledger takes in from the block:
	// Σ Credits + Fee + ReserveIn must equal it, to the satoshi.
	Reward int64
	// Outputs are the block's coinbase outputs to payout_address; they
	// join the spendable outputs. An output's Block defaults to Hash.
	Outputs []Outpoint
	// Status is the block's status afterwards ("credited" when empty).
	Status string
	// Sites, when set, is Σ Credits split over the energy sites whose
	// work the block paid (docs/energy.md, "BTC earned"): it must sum to
	// Σ Credits exactly, and is stored in en:earn:<hash> by the same
	// script as the credit, so it is written once with it.
	Sites map[string]int64
}

// BlockCredited is the block status CreditBlock sets by default.
const BlockCredited = "credited"

// validHash refuses a block hash that cannot be a key part.
func validHash(h string) bool { return validName(h) && !strings.ContainsAny(h, "{}:|") }

// CreditedRoundKeep is how long a credited block's frozen round (its work
// per account and its meta hash) is kept after the credit: long enough to
// answer a miner's question about a payment, bounded so that rounds do not
// pile up (docs/redis.md, "Memory budget").
const CreditedRoundKeep = 30 * 24 * time.Hour

// CreditBlock credits a matured block, at most once: the first call adds
// each credit to bal, the totals (credited += Σ credits, fee, reserve_in),
// the outputs to utxo, the sites' parts (c.Sites) to en:earn:<hash>, sets
// the block's status and deletes the block's frozen PPLNS window
// (round:<hash>:pplns: the credits are made) and the round's work per
// worker (round:<hash>:w: no scheme credits workers, and at 570,000
// workers it holds ~76 MB; docs/redis.md, "Memory budget"), and gives the
// round's accounts and meta CreditedRoundKeep more to live (they show what
// the block paid for; without it every credited block would leave them
// for good); a later call for the same block
// returns applied=false and changes nothing. The block record
// must exist (ErrNoBlock); an orphaned or rejected block is refused
// (ErrState).
func (l *Ledger) CreditBlock(ctx context.Context, lease Lease, c BlockCredit) (applied bool, err error) {
	what := "credit block " + c.Hash
	if !validHash(c.Hash) {
		return false, invalid(what, "block hash")
	}
	if c.Status == "" {
		c.Status = BlockCredited
	}
	accounts := make([]string, 0, len(c.Credits))
	sum := c.Fee + c.ReserveIn
	for a, v := range c.Credits {
		if !validName(a) || v < 0 || v > maxSatoshi {
			return false, invalid(what, "credit %q %d", a, v)
		}
		if v > 0 {
			accounts = append(accounts, a)
			sum += v
		}
	}
	if c.Fee < 0 || c.ReserveIn < 0 || c.Fee > maxSatoshi || c.ReserveIn > maxSatoshi || sum != c.Reward {
		return false, invalid(what, "credits %d + fee %d + reserve %d do not make the reward %d",
			sum-c.Fee-c.ReserveIn, c.Fee, c.ReserveIn, c.Reward)
	}
	slices.Sort(accounts)
	args := make([]any, 0, 9+2*len(accounts)+2*len(c.Outputs))
	args = append(args, lease.arg(), fmtInt(time.Now().UnixMilli()), c.Status, fmtInt(sum-c.Fee-c.ReserveIn),
		fmtInt(c.Fee), fmtInt(c.ReserveIn), strconv.Itoa(len(accounts)))
	for _, a := range accounts {
		args = append(args, a, fmtInt(c.Credits[a]))
	}
	args = append(args, strconv.Itoa(len(c.Outputs)))
	seen := make(map[string]bool, len(c.Outputs))
	for _, o := range c.Outputs {
		if o.Block == "" {
			o.Block = c.Hash
		}
		if err := o.check(); err != nil {
			return false, invalid(what, "%v", err)
		}
		if seen[o.field()] {
			return false, invalid(what, "output %s twice", o.field())
		}
		seen[o.field()] = true
		args = append(args, o.field(), o.value())
	}
	if args, err = appendSiteEarnings(args, c, sum-c.Fee-c.ReserveIn); err != nil {
		return false, invalid(what, "%v", err)
	}
	args = append(args, fmtInt(CreditedRoundKeep.Milliseconds()))
	k := l.k
	v, err := l.run(ctx, creditScript, what, "", []string{k.lock(), k.block(c.Hash), k.bal(), k.totals(), k.utxo(),
		k.frozenWindow(c.Hash), k.energyEarn(c.Hash), k.frozenWorkers(c.Hash), k.roundAccounts(c.Hash), k.roundMeta(c.Hash)}, args...)
	if err != nil {
		return false, err
	}
	return v == int64(1), nil
}

// OrphanBlock marks a block orphaned, at most once, and ends its frozen
// round: with returnRound (PROP) the round's work per worker and account,
// its shares and work go back into the open round; either way the frozen
// round's keys and its frozen PPLNS window are deleted. A later call
// returns applied=false and changes nothing. A credited block is refused
// (ErrState): its credits are spent or spendable.
func (l *Ledger) OrphanBlock(ctx context.Context, lease Lease, hash string, returnRound bool) (applied bool, err error) {
	what := "orphan block " + hash
	if !validHash(hash) || hash == CurrentRound {
		return false, invalid(what, "block hash")
	}
	give := "0"
	if returnRound {
		give = "1"
	}
	k := l.k
	keys := []string{k.lock(), k.block(hash),
		k.roundWorkers(hash), k.roundAccounts(hash), k.roundMeta(hash),
		k.roundWorkers(CurrentRound), k.roundAccounts(CurrentRound), k.roundMeta(CurrentRound),
		k.frozenWindow(hash)}
	v, err := l.run(ctx, orphanScript, what, "", keys, lease.arg(), fmtInt(time.Now().UnixMilli()), give)
	if err != nil {
		return false, err
	}
	return v == int64(1), nil
}

// ppsChunk is how many accounts one PPS script call moves.
const ppsChunk = 1000

// CreditPPS moves the whole satoshis owed under PPS/FPPS (pps:owed, a
// float per account that the batch script raises) to the balances, keeping
// each fraction in pps:owed, and counts them in the totals (credited and
// reserve_out). The floor is taken inside the script, which reads what is
// owed at that instant, so shares recorded meanwhile are neither lost nor
// counted twice, and a second call credits only what was added since. The
// accounts go 1,000 per script call (HSCAN pages), each call atomic and
// fenced: a run stopped between calls has moved some accounts whole and
// left the others for the next run. It returns what it credited.
func (l *Ledger) CreditPPS(ctx context.Context, lease Lease) (map[string]int64, error) {
	credited := map[string]int64{}
	keys := []string{l.k.lock(), l.k.owed(), l.k.bal(), l.k.totals()}
	var cursor uint64
	for {
		kv, next, err := l.rdb.HScan(ctx, l.k.owed(), cursor, "*", ppsChunk).Result()
		if err != nil {
			return credited, fmt.Errorf("redisstore: credit PPS: HSCAN pps:owed: %w", err)
		}
		// The script reads the values itself: what HSCAN saw may be stale.
		fields := make([]string, 0, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			fields = append(fields, kv[i])
		}
		for len(fields) > 0 {
			n := min(len(fields), ppsChunk)
			args := make([]any, 0, n+1)
			args = append(args, lease.arg())
			for _, f := range fields[:n] {
				args = append(args, f)
			}
			fields = fields[n:]
			v, err := l.run(ctx, ppsScript, "credit PPS", "", keys, args...)
			if err != nil {
				return credited, err
			}
			list, _ := v.([]any)
			for i := 0; i+1 < len(list); i += 2 {
				a, _ := list[i].(string)
				s, _ := list[i+1].(string)
				n, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return credited, fmt.Errorf("redisstore: credit PPS: %w: credited %q to %s", ErrInvariant, s, a)
				}
				credited[a] += n
			}
		}
		cursor = next
		if cursor == 0 {
			return credited, nil
		}
	}
}
