package ledgerscale

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// Options is one scale run.
type Options struct {
	// Store is the share store's options; Addr names the Redis to drive.
	// Observer is set by Run.
	Store redisstore.Options
	// Workers and Accounts are the distinct workers and the accounts they
	// mine to (worker i to account i mod Accounts).
	Workers, Accounts int
	// Rate is the programme's share rate (shares/s of simulated time) and
	// Difficulty each share's difficulty at that rate: together the work
	// per second the history and the PPLNS window record.
	Rate, Difficulty float64
	// Period is how often each worker sends a share in the run (simulated
	// time). Workers/Rate (10 s for the programme) sends the programme's
	// shares; a longer period sends fewer shares of proportionally higher
	// difficulty, the same work. Zero means Workers/Rate.
	Period time.Duration
	// Start is the simulated time of the first share; Duration how much
	// simulated time the run covers.
	Start    time.Time
	Duration time.Duration
	// Sample is the simulated time between two samples of Redis.
	Sample time.Duration
	// BlockEvery is the simulated time between two blocks found by the
	// pool (0: none). A block freezes the round and its PPLNS window; the
	// rounds of the blocks before the last KeepRounds are released, as the
	// payout job does once it paid them.
	BlockEvery time.Duration
	KeepRounds int
	// Pace, when positive, sends at most this many shares per wall second
	// (the batches' latency at a given load); zero sends as fast as the
	// store takes them (the shares/s one Redis takes).
	Pace float64
	// Report, when set, receives each sample as it is taken.
	Report func(Sample)
}

// Sample is Redis as the run found it at one point of simulated time; the
// rates are over the interval since the previous sample.
type Sample struct {
	Sim    time.Duration `json:"sim"`  // simulated time since Start
	Real   time.Duration `json:"real"` // wall time since the run began
	Shares int64         `json:"shares"`
	// UsedMemory and Dataset are INFO memory's used_memory and
	// used_memory_dataset; Keys is DBSIZE.
	UsedMemory int64 `json:"used_memory"`
	Dataset    int64 `json:"used_memory_dataset"`
	// RSS is INFO memory's used_memory_rss: what the machine gives Redis.
	RSS  int64 `json:"used_memory_rss"`
	Keys int64 `json:"keys"`
	// SharesPerSec is shares recorded per wall second over the interval;
	// RedisCPU and RedisMainCPU are redis-server's CPU time over it (all
	// threads, and its main thread alone, from INFO cpu).
	SharesPerSec float64       `json:"shares_per_sec"`
	RedisCPU     time.Duration `json:"redis_cpu"`
	RedisMainCPU time.Duration `json:"redis_main_cpu"`
	// BatchP50 and BatchP99 are percentiles of the batches' latency (seal
	// to Redis's reply) over the interval; Batches how many there were.
	BatchP50 time.Duration `json:"batch_p50"`
	BatchP99 time.Duration `json:"batch_p99"`
	Batches  int           `json:"batches"`
	// RedisErrors counts failed Redis round trips (each batch is sent
	// again; the script applies it once).
	RedisErrors int `json:"redis_errors"`
}

// Family is the memory of one kind of key at the end of a run, as Redis's
// MEMORY USAGE sizes it (every element counted).
type Family struct {
	Name  string `json:"name"`
	Keys  int    `json:"keys"`
	Bytes int64  `json:"bytes"`
	// Elements is the fields or members of the family's keys.
	Elements int64 `json:"elements"`
}

// Result is a whole run.
type Result struct {
	Samples  []Sample `json:"samples"`
	Families []Family `json:"families"`
	// Shares is every share sent; Backlogged counts the times AddShare
	// said the queue was full and the share was sent again.
	Shares     int64 `json:"shares"`
	Backlogged int64 `json:"backlogged"`
	Blocks     int   `json:"blocks"`
}

// Run drives a Store on o.Store.Addr with o's shares, samples Redis every
// o.Sample of simulated time through c (a client of the same server), and
// returns the samples and, at the end, the memory of each kind of key.
func Run(ctx context.Context, c *redis.Client, o Options) (*Result, error) {
	if o.Workers <= 0 || o.Accounts <= 0 || o.Rate <= 0 || o.Difficulty <= 0 || o.Duration <= 0 || o.Sample <= 0 {
		return nil, fmt.Errorf("ledgerscale: workers %d, accounts %d, rate %v, difficulty %v, duration %v and sample %v must be positive",
			o.Workers, o.Accounts, o.Rate, o.Difficulty, o.Duration, o.Sample)
	}
	full := time.Duration(float64(o.Workers) / o.Rate * float64(time.Second))
	if o.Period == 0 {
		o.Period = full
	}
	if o.Period < full {
		return nil, fmt.Errorf("ledgerscale: period %v is shorter than the programme's %v (workers/rate)", o.Period, full)
	}
	// Each share carries the work of Period/full shares of the programme.
	d := o.Difficulty * float64(o.Period) / float64(full)
	// The network difficulty D: the pool finds a block every BlockEvery
	// on average, so D is the work it does meanwhile.
	netDiff := 0.0
	if o.BlockEvery > 0 {
		netDiff = o.Rate * o.Difficulty * o.BlockEvery.Seconds()
	}
	lat := &latencies{}
	so := o.Store
	so.Observer = lat
	st, err := redisstore.New(so)
	if err != nil {
		return nil, err
	}
	if err := st.Start(ctx); err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_ = st.Stop(sctx)
			cancel()
		}
	}()
	accounts := make([]string, o.Accounts)
	for i := range accounts {
		accounts[i] = account(i)
	}
	workers := make([]string, o.Workers)
	for i := range workers {
		workers[i] = accounts[i%o.Accounts] + ".rig" + strconv.Itoa(i/o.Accounts)
	}
	res := &Result{}
	began := time.Now()
	prev := sampleBase{real: began}
	if prev.cpu, prev.main, err = redisCPU(ctx, c); err != nil {
		return nil, err
	}
	nextSample, nextBlock := o.Sample, o.BlockEvery
	var frozen []string
	w := int64(o.Workers)
	for j := int64(0); ; j++ {
		// Share j at Start + j·Period/Workers, worker j mod Workers.
		sim := time.Duration(j/w)*o.Period + time.Duration(j%w)*o.Period/time.Duration(w)
		if sim >= nextSample || sim >= o.Duration {
			if err := st.Flush(ctx); err != nil {
				return res, err
			}
			s, err := sample(ctx, c, &prev, lat, min(sim, nextSample), res.Shares)
			if err != nil {
				return res, err
			}
			res.Samples = append(res.Samples, s)
			if o.Report != nil {
				o.Report(s)
			}
			nextSample += o.Sample
			if sim >= o.Duration {
				break
			}
		}
		if o.BlockEvery > 0 && sim >= nextBlock {
			res.Blocks++
			hash := fmt.Sprintf("%064x", res.Blocks)
			b := &share.BlockRecord{Height: int64(res.Blocks), Hash: hash, Worker: workers[0], Account: accounts[0],
				Status: share.BlockAccepted, NetDifficulty: netDiff, Time: o.Start.Add(sim), Reward: 312_500_000}
			if err := st.AddBlockWait(ctx, b); err != nil {
				return res, err
			}
			frozen = append(frozen, hash)
			for len(frozen) > o.KeepRounds {
				if err := st.SetBlockStatus(ctx, frozen[0], "paid"); err != nil {
					return res, err
				}
				if err := st.ReleaseRound(ctx, frozen[0], 0); err != nil {
					return res, err
				}
				frozen = frozen[1:]
			}
			nextBlock += o.BlockEvery
		}
		i := int(j % w)
		r := share.Record{Node: 1, Seq: uint64(j + 1), Worker: workers[i], Account: accounts[i%o.Accounts],
			Difficulty: d, ShareDifficulty: d, NetDifficulty: netDiff, Time: o.Start.Add(sim), Height: 900_000, JobID: "1"}
		for {
			err := st.AddShare(r)
			if err == nil {
				break
			}
			if !errors.Is(err, redisstore.ErrBacklog) {
				return res, err
			}
			res.Backlogged++
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
		res.Shares++
		if j%256 == 0 {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			if o.Pace > 0 {
				ahead := time.Duration(float64(res.Shares)/o.Pace*float64(time.Second)) - time.Since(began)
				if ahead > 0 {
					time.Sleep(ahead)
				}
			}
		}
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = st.Stop(sctx)
	cancel()
	stopped = true
	if err != nil {
		return res, err
	}
	if res.Families, err = Families(ctx, c); err != nil {
		return res, err
	}
	return res, nil
}

// account is the i-th account: a 42-character name shaped like a bech32
// (P2WPKH) address, as the pool's accounts are.
func account(i int) string {
	s := fmt.Sprintf("bc1qscale%033d", i)
	return s[:42]
}

// latencies collects the batches' latencies between two samples; it is the
// store's Observer.
type latencies struct {
	mu     sync.Mutex
	lat    []time.Duration
	errors int
}

func (l *latencies) Recorded(shares int, latency time.Duration) {
	l.mu.Lock()
	l.lat = append(l.lat, latency)
	l.mu.Unlock()
}
func (l *latencies) RedisError(error) {
	l.mu.Lock()
	l.errors++
	l.mu.Unlock()
}
func (l *latencies) Journaled(int) {}
func (l *latencies) Refused(error) {}

// take returns the latencies since the last take, sorted, and the number
// of failed Redis round trips (a batch over the store's Timeout, sent again).
func (l *latencies) take() ([]time.Duration, int) {
	l.mu.Lock()
	out, n := l.lat, l.errors
	l.lat, l.errors = nil, 0
	l.mu.Unlock()
	slices.Sort(out)
	return out, n
}

// percentile is the p-th percentile (0..1) of sorted, 0 when empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// sampleBase is what the previous sample saw, for the next one's rates.
type sampleBase struct {
	real      time.Time
	shares    int64
	cpu, main time.Duration
}

func sample(ctx context.Context, c *redis.Client, prev *sampleBase, lat *latencies, sim time.Duration, shares int64) (Sample, error) {
	now := time.Now()
	mem, err := info(ctx, c, "memory")
	if err != nil {
		return Sample{}, err
	}
	cpu, main, err := redisCPU(ctx, c)
	if err != nil {
		return Sample{}, err
	}
	keys, err := c.DBSize(ctx).Result()
	if err != nil {
		return Sample{}, fmt.Errorf("ledgerscale: DBSIZE: %w", err)
	}
	l, failed := lat.take()
	s := Sample{Sim: sim, Real: now.Sub(prev.real), Shares: shares, UsedMemory: int64(mem["used_memory"]),
		Dataset: int64(mem["used_memory_dataset"]), RSS: int64(mem["used_memory_rss"]), Keys: keys, RedisCPU: cpu - prev.cpu, RedisMainCPU: main - prev.main,
		BatchP50: percentile(l, 0.5), BatchP99: percentile(l, 0.99), Batches: len(l), RedisErrors: failed}
	if dt := now.Sub(prev.real).Seconds(); dt > 0 {
		s.SharesPerSec = float64(shares-prev.shares) / dt
	}
	*prev = sampleBase{real: now, shares: shares, cpu: cpu, main: main}
	return s, nil
}

// info returns the numeric fields of one INFO section.
func info(ctx context.Context, c *redis.Client, section string) (map[string]float64, error) {
	text, err := c.Info(ctx, section).Result()
	if err != nil {
		return nil, fmt.Errorf("ledgerscale: INFO %s: %w", section, err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out[k] = f
		}
	}
	return out, nil
}

// redisCPU is redis-server's CPU time so far, all threads and the main
// thread (user + system).
func redisCPU(ctx context.Context, c *redis.Client) (all, main time.Duration, err error) {
	m, err := info(ctx, c, "cpu")
	if err != nil {
		return 0, 0, err
	}
	sec := func(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }
	return sec(m["used_cpu_sys"] + m["used_cpu_user"]), sec(m["used_cpu_sys_main_thread"] + m["used_cpu_user_main_thread"]), nil
}

// families names the kinds of key by the part of the name after the hash
// tag; the first prefix that matches wins.
var families = []struct{ name, prefix string }{
	{"hr:w (workers, fine)", "hr:w:"},
	{"hr:wc (workers, coarse)", "hr:wc:"},
	{"hr:a (accounts and pool)", "hr:a:"},
	{"hr:idx", "hr:idx"},
	{"last:w", "last:w"},
	{"names:w", "names:w"},
	{"last:a", "last:a"},
	{"round:current:w", "round:current:w"},
	{"round:current:a, :meta", "round:current:"},
	{"round:<hash>:w (frozen)", "round:*:w"},
	{"round:<hash>:a, :meta, :pplns (frozen)", "round:"},
	{"pplns:s (slices)", "pplns:s:"},
	{"pplns:idx, pplns:tot", "pplns:"},
	{"block records", "block"},
	{"en:m (energy minute buckets)", "en:m:"},
	{EnergyHours, "en:"},
}

// EnergyHours is the family of the energy audit's hourly keys: the open
// hours' figures and worker sets, which the energy closer seals into the
// chain and drops (internal/energy; the driver does not run it), and the
// sealed chain, which grows by design until archived (docs/energy.md).
const EnergyHours = "en:h, en:hu, en:u, en:open, en:chain (energy hours)"

// Families sizes every key on c's server by kind, with MEMORY USAGE
// counting every element, and the fields or members of each.
func Families(ctx context.Context, c *redis.Client) ([]Family, error) {
	byName := map[string]*Family{}
	iter := c.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		name := "other"
		_, rest, _ := strings.Cut(key, "}:")
		for _, f := range families {
			if p, s, ok := strings.Cut(f.prefix, "*"); ok {
				if strings.HasPrefix(rest, p) && strings.HasSuffix(rest, s) {
					name = f.name
					break
				}
			} else if strings.HasPrefix(rest, f.prefix) {
				name = f.name
				break
			}
		}
		n, err := c.MemoryUsage(ctx, key, 0).Result()
		if errors.Is(err, redis.Nil) {
			continue // deleted between SCAN and MEMORY USAGE
		}
		if err != nil {
			return nil, fmt.Errorf("ledgerscale: MEMORY USAGE %s: %w", key, err)
		}
		el, err := elements(ctx, c, key)
		if err != nil {
			return nil, err
		}
		f, ok := byName[name]
		if !ok {
			f = &Family{Name: name}
			byName[name] = f
		}
		f.Keys++
		f.Bytes += n
		f.Elements += el
	}
	if err := iter.Err(); err != nil {
		return nil, fmt.Errorf("ledgerscale: SCAN: %w", err)
	}
	out := make([]Family, 0, len(byName))
	for _, f := range families {
		if x, ok := byName[f.name]; ok {
			out = append(out, *x)
		}
	}
	if x, ok := byName["other"]; ok {
		out = append(out, *x)
	}
	return out, nil
}

// elements is the number of fields or members of key (1 for a string).
func elements(ctx context.Context, c *redis.Client, key string) (int64, error) {
	t, err := c.Type(ctx, key).Result()
	if err != nil {
		return 0, fmt.Errorf("ledgerscale: TYPE %s: %w", key, err)
	}
	var n int64
	switch t {
	case "hash":
		n, err = c.HLen(ctx, key).Result()
	case "zset":
		n, err = c.ZCard(ctx, key).Result()
	case "set":
		n, err = c.SCard(ctx, key).Result()
	default:
		n = 1
	}
	if err != nil {
		return 0, fmt.Errorf("ledgerscale: size of %s: %w", key, err)
	}
	return n, nil
}

// MeasureSets writes n sets of members names each (worker-like names of
// about 50 bytes) under key prefix, sizes them with MEMORY USAGE, deletes
// them and returns their bytes: an estimate, by Redis itself, of what the
// open hour's distinct-worker sets of an energy report hold.
func MeasureSets(ctx context.Context, c *redis.Client, prefix string, n, members int) (int64, error) {
	var total int64
	for i := range n {
		key := prefix + strconv.Itoa(i)
		for lo := 0; lo < members; lo += 1000 {
			batch := make([]any, 0, 1000)
			for m := lo; m < min(members, lo+1000); m++ {
				batch = append(batch, account(m%200)+".rig"+strconv.Itoa(i*members+m))
			}
			if err := c.SAdd(ctx, key, batch...).Err(); err != nil {
				return 0, fmt.Errorf("ledgerscale: SADD %s: %w", key, err)
			}
		}
		b, err := c.MemoryUsage(ctx, key, 0).Result()
		if err != nil {
			return 0, fmt.Errorf("ledgerscale: MEMORY USAGE %s: %w", key, err)
		}
		total += b
		if err := c.Unlink(ctx, key).Err(); err != nil {
			return 0, fmt.Errorf("ledgerscale: UNLINK %s: %w", key, err)
		}
	}
	return total, nil
}

// Slope is the slope of the least-squares line through (i, y[i]): how a
// series of samples moves per sample, so that one noisy sample does not
// decide whether memory is flat.
func Slope(y []float64) float64 {
	n := float64(len(y))
	var sx, sy, sxx, sxy float64
	for i, v := range y {
		x := float64(i)
		sx += x
		sy += v
		sxx += x * x
		sxy += x * v
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}
