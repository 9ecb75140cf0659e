package loadgen

import (
	"slices"
	"sync"
	"time"
)

// maxRounds bounds the fan-out rounds a run keeps (a regtest pool at a share
// difficulty near the network's finds blocks by the thousand). Later rounds
// still feed the arrival histogram; only their per-round record is dropped.
const maxRounds = 512

// Round is one new-block event as this process saw it: the clean_jobs
// notifies that carried the same prevhash.
type Round struct {
	// PrevHash is the notify's prevhash field, as sent.
	PrevHash string `json:"prevhash"`
	// First and Last are the arrival times (Unix ns) of the first and last
	// miner's notify.
	First int64 `json:"first_unix_ns"`
	Last  int64 `json:"last_unix_ns"`
	// Miners is how many miners received it.
	Miners int `json:"miners"`
	// Block is when the tool's own generate call returned (Unix ns), when
	// the tool made this block; 0 otherwise.
	Block int64 `json:"block_unix_ns,omitempty"`
}

// Spread is the time from the first to the last miner's notify.
func (r *Round) Spread() time.Duration { return time.Duration(r.Last - r.First) }

// fanout records clean_jobs notify arrivals per prevhash. Every reader
// goroutine calls arrive; one mutex is enough at notify rates.
type fanout struct {
	mu      sync.Mutex
	rounds  map[string]*Round
	order   []string
	dropped int
	// arrivals holds each miner's arrival relative to its round's first
	// arrival in this process.
	arrivals Histogram
	// blocks maps the stratum prevhash of blocks the tool generated to when
	// generate returned.
	blocks map[string]int64
}

func newFanout() *fanout {
	return &fanout{rounds: make(map[string]*Round), blocks: make(map[string]int64)}
}

// arrive records that a miner got a clean notify for prevhash at t. The
// first miner ever to see a prevhash starts its round; a miner's first
// notify after connecting is not a fan-out and is not reported here.
func (f *fanout) arrive(prevhash string, t time.Time) {
	ns := t.UnixNano()
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rounds[prevhash]
	if !ok {
		if len(f.order) >= maxRounds {
			f.dropped++
			return
		}
		r = &Round{PrevHash: prevhash, First: ns, Last: ns, Block: f.blocks[prevhash]}
		f.rounds[prevhash] = r
		f.order = append(f.order, prevhash)
	}
	// Readers take the lock in roughly arrival order; one that read its
	// line a moment before another may still come second, so the first
	// arrival is the minimum, not the first caller.
	r.First = min(r.First, ns)
	r.Last = max(r.Last, ns)
	r.Miners++
	f.arrivals.RecordMicros(uint64(max(ns-r.First, 0)) / 1000)
}

// block notes that the tool generated a block whose notify prevhash is
// prevhash, at t.
func (f *fanout) block(prevhash string, t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocks[prevhash] = t.UnixNano()
	if r, ok := f.rounds[prevhash]; ok {
		r.Block = t.UnixNano()
	}
}

// snapshot returns the rounds in order of first arrival and the arrival
// histogram.
func (f *fanout) snapshot() ([]Round, HistData) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Round, 0, len(f.order))
	for _, p := range f.order {
		out = append(out, *f.rounds[p])
	}
	slices.SortFunc(out, func(a, b Round) int { return int(min(max(a.First-b.First, -1), 1)) })
	return out, f.arrivals.Snapshot()
}
