package cpuminer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tarbela-pool/tarbela/share"
)

// DefaultBenchmarkDuration is how long tarbela-miner --benchmark runs when
// no duration is given.
const DefaultBenchmarkDuration = 10 * time.Second

// BenchResult is what Benchmark measured.
type BenchResult struct {
	// Elapsed is how long the threads ran, from start until the last one
	// stopped.
	Elapsed time.Duration
	// Hashes is the number of headers hashed, per thread.
	Hashes []uint64
	// PerThread is each thread's rate in hashes per second; Total is
	// their sum.
	PerThread []float64
	Total     float64
}

// Benchmark mines a synthetic job without a pool on threads threads (0: one
// per usable core) for d and reports the hash rates. It runs the same
// thread loop as real mining (coinbase, merkle root over a 12-node branch,
// version rolling per chunk, nonce scan), against a target no hash meets,
// so miners and hashers can be compared on one machine.
func Benchmark(ctx context.Context, threads int, d time.Duration) (BenchResult, error) {
	if d <= 0 {
		return BenchResult{}, errors.New("miner: benchmark duration must be positive")
	}
	if threads < 0 {
		return BenchResult{}, errors.New("miner: benchmark threads must not be negative")
	}
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	m := newMiner(Options{Threads: threads})
	job := syntheticJob()
	w := newWork(job, nil, 0, []byte{0x00, 0x00, 0x00, 0x01}, job.Extranonce2Size, 0x1fffe000,
		&goal{difficulty: math.Inf(1)}, new(atomic.Uint64)) // a zero target: nothing is ever found
	m.board.set(w)

	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for i := range threads {
		wg.Go(func() { m.mine(ctx, i) })
	}
	wg.Wait()
	res := BenchResult{Elapsed: time.Since(start), Hashes: m.ThreadHashes(), PerThread: make([]float64, threads)}
	for i, h := range res.Hashes {
		res.PerThread[i] = float64(h) / res.Elapsed.Seconds()
		res.Total += res.PerThread[i]
	}
	return res, nil
}

// WriteText writes r as tarbela-miner --benchmark prints it: one line per
// thread, then the total, in MH/s.
func (r BenchResult) WriteText(w io.Writer) error {
	for i, h := range r.PerThread {
		if _, err := fmt.Fprintf(w, "thread %d: %.3f MH/s\n", i, h/1e6); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "total: %.3f MH/s (threads=%d, %.1fs)\n", r.Total/1e6, len(r.PerThread), r.Elapsed.Seconds())
	return err
}

// syntheticJob is a job shaped like a mainnet one: a coinbase of typical
// size, a 12-level merkle branch (a block of a few thousand transactions),
// the current version and a mainnet-like nbits.
func syntheticJob() *share.Job {
	j := &share.Job{
		ID:              "bench",
		Version:         0x20000000,
		Bits:            0x17034219,
		CurTime:         1700000000,
		Coinb1:          make([]byte, 60),
		Coinb2:          make([]byte, 120),
		Extranonce2Size: 8,
		Branch:          make([][32]byte, 12),
	}
	for i := range j.PrevHash {
		j.PrevHash[i] = byte(i * 7)
	}
	for i := range j.Branch {
		for k := range j.Branch[i] {
			j.Branch[i][k] = byte(i + k)
		}
	}
	for i := range j.Coinb1 {
		j.Coinb1[i] = byte(i)
	}
	for i := range j.Coinb2 {
		j.Coinb2[i] = byte(255 - i)
	}
	return j
}
