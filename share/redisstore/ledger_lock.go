package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// Lease is a run's hold on pay:lock. Its token, from INCR pay:fence, fences
// every ledger write: a script refuses (ErrFenced) unless pay:lock still
// holds the token, so a run paused past its TTL cannot write once another
// run took the lock. The zero Lease holds nothing and every write refuses
// it.
type Lease struct {
	l     *Ledger
	token int64
	ttl   time.Duration
}

// Token is the lease's fencing token.
func (s Lease) Token() int64 { return s.token }

func (s Lease) arg() string { return strconv.FormatInt(s.token, 10) }

// Lock takes pay:lock for ttl with a new fencing token. While another run
// holds it, it returns a *LockedError naming that run's token and the
// lock's remaining time.
func (l *Ledger) Lock(ctx context.Context, ttl time.Duration) (Lease, error) {
	if ttl < time.Millisecond {
		return Lease{}, invalid("take pay:lock", "TTL %s", ttl)
	}
	v, err := lockScript.Run(ctx, l.rdb, []string{l.k.lock(), l.k.fence()}, ttl.Milliseconds()).Slice()
	if err != nil {
		return Lease{}, fmt.Errorf("redisstore: take pay:lock: EVALSHA: %w", err)
	}
	if len(v) == 3 && v[0] == int64(0) {
		held, _ := v[1].(string)
		token, _ := strconv.ParseInt(held, 10, 64)
		ms, _ := v[2].(int64)
		return Lease{}, &LockedError{Token: token, ExpiresIn: time.Duration(ms) * time.Millisecond}
	}
	token, ok := v[1].(int64)
	if len(v) != 2 || !ok {
		return Lease{}, fmt.Errorf("redisstore: take pay:lock: unexpected reply %v", v)
	}
	return Lease{l: l, token: token, ttl: ttl}, nil
}

// Renew extends the lease by its TTL from now, only while pay:lock still
// holds its token; otherwise it returns ErrFenced.
func (s Lease) Renew(ctx context.Context) error {
	if s.l == nil {
		return fmt.Errorf("redisstore: renew pay:lock: %w: the zero lease", ErrFenced)
	}
	n, err := renewScript.Run(ctx, s.l.rdb, []string{s.l.k.lock()}, s.arg(), s.ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("redisstore: renew pay:lock (token %d): EVALSHA: %w", s.token, err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore: renew pay:lock (token %d): %w", s.token, ErrFenced)
	}
	return nil
}

// Release frees pay:lock if it holds the lease's token. Releasing a lease
// that expired is not an error; one that another run took since returns
// ErrFenced (and leaves that run's lock alone).
func (s Lease) Release(ctx context.Context) error {
	if s.l == nil {
		return nil
	}
	n, err := releaseScript.Run(ctx, s.l.rdb, []string{s.l.k.lock()}, s.arg()).Int()
	if err != nil {
		return fmt.Errorf("redisstore: release pay:lock (token %d): EVALSHA: %w", s.token, err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore: release pay:lock (token %d): %w", s.token, ErrFenced)
	}
	return nil
}
