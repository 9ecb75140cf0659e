package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Defaults of CacheOptions.
const (
	DefaultCacheTTL        = 2 * time.Second
	DefaultCacheEntries    = 4096
	DefaultCacheConcurrent = 4
)

// CacheOptions configures NewCache.
type CacheOptions struct {
	// TTL is how long an answer is served again (default 2 s).
	TTL time.Duration
	// MaxEntries bounds the answers kept (default 4096); past it, new
	// answers are not kept until old ones expire.
	MaxEntries int
	// MaxConcurrent bounds the reads of the Pool under way at once
	// (default 4); a request beyond it waits, within its own deadline.
	MaxConcurrent int
	// Timeout bounds one read of the Pool (default 10 s): a read is shared
	// by every request that waits for it, so it does not end with the
	// request that started it.
	Timeout time.Duration
}

// Cache is a Pool in front of another that reads it at most once per
// question per TTL, whatever the number of requests: concurrent requests
// for the same answer share one read (a single flight), and at most
// MaxConcurrent reads run at once. The public routes read Redis, where
// the share path writes, and some answers take thousands of commands (a
// day of hashrate buckets); a cache per process keeps what any number of
// dashboards and scripts cost Redis to a few reads a second.
//
// An answer is served up to TTL old. ErrNotFound is kept like an answer;
// other errors are not, so the next request reads again.
type Cache struct {
	next Pool
	o    CacheOptions
	now  func() time.Time
	sem  chan struct{}

	mu      sync.Mutex
	entries map[string]*cacheEntry
}

// cacheEntry is one question's answer, or the read under way for it
// (done open).
type cacheEntry struct {
	done    chan struct{}
	val     any
	err     error
	expires time.Time
}

// NewCache returns a cache in front of next.
func NewCache(next Pool, o CacheOptions) *Cache {
	if o.TTL <= 0 {
		o.TTL = DefaultCacheTTL
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultCacheEntries
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultCacheConcurrent
	}
	if o.Timeout <= 0 {
		o.Timeout = callTimeout
	}
	return &Cache{next: next, o: o, now: time.Now, sem: make(chan struct{}, o.MaxConcurrent),
		entries: map[string]*cacheEntry{}}
}

var _ Pool = (*Cache)(nil)

// Summary implements Pool.
func (c *Cache) Summary(ctx context.Context) (Summary, error) {
	v, err := c.get(ctx, "summary", func(ctx context.Context) (any, error) { return c.next.Summary(ctx) })
	s, _ := v.(Summary)
	return s, err
}

// Hashrate implements Pool.
func (c *Cache) Hashrate(ctx context.Context, account string, window, step time.Duration) ([]Point, error) {
	key := "hashrate " + account + " " + strconv.FormatInt(int64(window), 10) + " " + strconv.FormatInt(int64(step), 10)
	v, err := c.get(ctx, key, func(ctx context.Context) (any, error) { return c.next.Hashrate(ctx, account, window, step) })
	ps, _ := v.([]Point)
	return slices.Clone(ps), err
}

// WorkerHashrate implements Pool. A worker's name is whatever the miner
// authorized with, so the key gives its length first: no two questions
// share a key, whatever bytes a name holds.
func (c *Cache) WorkerHashrate(ctx context.Context, worker string, window, step time.Duration) (Series, error) {
	key := "worker " + strconv.Itoa(len(worker)) + " " + worker + " " + strconv.FormatInt(int64(window), 10) + " " + strconv.FormatInt(int64(step), 10)
	v, err := c.get(ctx, key, func(ctx context.Context) (any, error) { return c.next.WorkerHashrate(ctx, worker, window, step) })
	se, _ := v.(Series)
	se.Points = slices.Clone(se.Points)
	return se, err
}

// Blocks implements Pool.
func (c *Cache) Blocks(ctx context.Context, limit int) ([]Block, error) {
	v, err := c.get(ctx, "blocks "+strconv.Itoa(limit), func(ctx context.Context) (any, error) { return c.next.Blocks(ctx, limit) })
	bs, _ := v.([]Block)
	return slices.Clone(bs), err
}

// Account implements Pool.
func (c *Cache) Account(ctx context.Context, address string) (Account, error) {
	v, err := c.get(ctx, "account "+address, func(ctx context.Context) (any, error) { return c.next.Account(ctx, address) })
	a, _ := v.(Account)
	// The handlers rewrite the lists' elements: each request gets its own.
	a.Workers, a.Payments = slices.Clone(a.Workers), slices.Clone(a.Payments)
	return a, err
}

// get returns key's answer: the one kept if it is fresh, the one being
// read if a read is under way, else a new read's. The caller copies what
// it hands out.
func (c *Cache) get(ctx context.Context, key string, read func(context.Context) (any, error)) (any, error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok {
		select {
		case <-e.done:
			if c.now().Before(e.expires) {
				c.mu.Unlock()
				return e.val, e.err
			}
			ok = false // expired: read again
		default:
		}
	}
	if !ok {
		e = &cacheEntry{done: make(chan struct{})}
		c.store(key, e)
		c.mu.Unlock()
		c.fill(ctx, key, e, read)
		return e.val, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.val, e.err
	case <-ctx.Done():
		// As a read of Redis cut short: 503, a warning.
		return nil, fmt.Errorf("%w: waiting for a shared read: %w", ErrUnavailable, ctx.Err())
	}
}

// fill reads an answer into e on the goroutine of the request that found
// none, within the concurrency bound, and keeps it for TTL unless it is an
// error other than ErrNotFound. The read belongs to every request that
// waits for it, so it does not end with its own request's context: it has
// its own deadline (Timeout). A read that panics still releases its slot
// and its waiters (with an error) before the panic goes on to the HTTP
// server's recovery.
func (c *Cache) fill(ctx context.Context, key string, e *cacheEntry, read func(context.Context) (any, error)) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.o.Timeout)
	defer cancel()
	e.err = errReadFailed // until the read returns
	defer c.settle(key, e)
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
		e.val, e.err = read(ctx)
	case <-ctx.Done():
		e.err = ctx.Err()
	}
}

// errReadFailed is the answer of a read that did not return.
var errReadFailed = errors.New("api: reading the pool's data failed")

// settle publishes e's answer to its waiters and keeps it for TTL, or
// drops it when it is an error other than ErrNotFound.
func (c *Cache) settle(key string, e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.expires = c.now().Add(c.o.TTL)
	if e.err != nil && !errors.Is(e.err, ErrNotFound) && c.entries[key] == e {
		delete(c.entries, key)
	}
	close(e.done)
}

// store keeps e under key (c.mu held). A full cache first drops what has
// expired; if it is still full, e is not kept: its read serves the
// request that started it alone.
func (c *Cache) store(key string, e *cacheEntry) {
	if _, replace := c.entries[key]; !replace && len(c.entries) >= c.o.MaxEntries {
		now := c.now()
		for k, old := range c.entries {
			select {
			case <-old.done:
				if !now.Before(old.expires) {
					delete(c.entries, k)
				}
			default:
			}
		}
		if len(c.entries) >= c.o.MaxEntries {
			return
		}
	}
	c.entries[key] = e
}
