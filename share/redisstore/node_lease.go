package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// LeaseHolder is the pool node that holds a node id's lease.
type LeaseHolder struct {
	Host  string    `json:"host"`
	PID   int       `json:"pid"`
	Since time.Time `json:"since"`
}

// LeaseHeldError is NodeLease.Start's refusal: another running node holds the
// id.
type LeaseHeldError struct {
	Node   uint8
	Holder LeaseHolder
	// ExpiresIn is the lease's time to live as Redis reported it.
	ExpiresIn time.Duration
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("pool.node_id %d is in use by the node on host %q (pid %d, running since %s): give this node its own pool.node_id; if that node has crashed, its lease expires in %v and this one can start then",
		e.Node, e.Holder.Host, e.Holder.PID, e.Holder.Since.UTC().Format(time.RFC3339), e.ExpiresIn.Round(time.Second))
}

// NodeLease is a pool node's claim on its node id in Redis, the key
// node:<id>:lease: two nodes with one id would hand miners the same
// extranonce1 values, so a second one refuses to start. The value is a
// random token and the holder (host, pid, start time); Start sets it with
// SET NX PX, an owned goroutine renews it every third of its TTL, and Stop
// deletes it. A node that crashes leaves it to expire.
//
// A renewal that finds another node's token means this node's lease
// expired (Redis was out of reach for longer than the TTL, or a failover
// lost the key) and another node took the id: the lease closes Lost and
// stops renewing, and the node is expected to stop (cmd/tarbela does).
// A renewal that finds no key takes it again: nobody else uses the id.
type NodeLease struct {
	rdb   redis.UniversalClient
	key   string
	node  uint8
	ttl   time.Duration
	token string
	value string
	// holder is who this lease names (this process, unless a test says).
	holder LeaseHolder
	log    *zap.Logger

	lost     chan struct{}
	quit     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	started  bool
	stopOnce sync.Once
}

// NodeLeaseOptions configures NewNodeLease.
type NodeLeaseOptions struct {
	// Prefix is the key prefix ("tarbela" by default); Node the id.
	Prefix string
	Node   uint8
	// TTL is how long the lease lives without renewal; it is renewed
	// every third of it.
	TTL time.Duration
	// Holder names this node in the lease; the zero value is this
	// process (host name, pid, now). Tests name other processes.
	Holder LeaseHolder
	Log    *zap.Logger
}

// NewNodeLease returns the lease o describes. It does not talk to Redis;
// Start does.
func NewNodeLease(rdb redis.UniversalClient, o NodeLeaseOptions) (*NodeLease, error) {
	if o.TTL < 3*time.Millisecond {
		return nil, fmt.Errorf("redisstore: lease TTL %v is too short", o.TTL)
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Prefix == "" {
		o.Prefix = "tarbela"
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("redisstore: lease token: %w", err)
	}
	if o.Holder == (LeaseHolder{}) {
		host, err := os.Hostname()
		if err != nil {
			host = "unknown"
		}
		o.Holder = LeaseHolder{Host: host, PID: os.Getpid(), Since: time.Now().UTC().Truncate(time.Millisecond)}
	}
	holder, _ := json.Marshal(o.Holder)
	token := hex.EncodeToString(b[:])
	return &NodeLease{rdb: rdb, key: newKeys(o.Prefix).lease(o.Node), node: o.Node, ttl: o.TTL, token: token,
		value: token + " " + string(holder), holder: o.Holder, log: o.Log,
		lost: make(chan struct{}), quit: make(chan struct{}), done: make(chan struct{})}, nil
}

func (k keys) lease(node uint8) string { return k.base + "node:" + strconv.Itoa(int(node)) + ":lease" }

// Start takes the lease and starts renewing it. It returns a
// *LeaseHeldError when another node holds it. When Redis does not answer
// within ctx, Start logs so and renews in the background, taking the lease
// when Redis answers (a pool keeps mining through a Redis outage, its
// shares in the journal); finding it held then counts as lost.
func (l *NodeLease) Start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		return errors.New("redisstore: lease started twice")
	}
	ok, err := l.rdb.SetNX(ctx, l.key, l.value, l.ttl).Result()
	switch {
	case err != nil:
		l.log.Warn("redis did not answer; the node id's lease is taken when it does", zap.Uint8("node", l.node), zap.Error(err))
	case !ok:
		took, err := l.takeStale(ctx)
		if err != nil {
			return err
		}
		if !took {
			return l.heldError(ctx)
		}
	}
	l.started = true
	go l.run()
	return nil
}

// takeStale takes over a lease left by an earlier run on this host whose
// process is gone (a node restarted after a crash need not wait for the
// TTL): same host name, and that pid is this process's own (a container
// restarted with the same pid) or no process at all. Two machines with one
// host name defeat this check; give each node's host its own name.
// The swap is atomic, so a lease renewed meanwhile is not taken.
func (l *NodeLease) takeStale(ctx context.Context) (bool, error) {
	old, err := l.rdb.Get(ctx, l.key).Result()
	if errors.Is(err, redis.Nil) {
		// Expired since SET NX: take it the ordinary way.
		return l.rdb.SetNX(ctx, l.key, l.value, l.ttl).Result()
	}
	if err != nil {
		return false, fmt.Errorf("redisstore: read node %d's lease: %w", l.node, err)
	}
	h, _ := parseLease(old)
	if h.Host == "" || h.Host != l.holder.Host || (h.PID != l.holder.PID && processExists(h.PID)) {
		return false, nil
	}
	n, err := nodeLeaseSwap.Run(ctx, l.rdb, []string{l.key}, old, l.value, l.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("redisstore: take over node %d's lease: %w", l.node, err)
	}
	if n == 1 {
		l.log.Info("took over the node id's lease from an earlier run on this host that is no longer running",
			zap.Uint8("node", l.node), zap.Int("earlier_pid", h.PID), zap.Time("earlier_since", h.Since))
	}
	return n == 1, nil
}

// nodeLeaseSwap replaces the lease when it still holds ARGV[1].
var nodeLeaseSwap = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`)

// heldError reads the lease's holder for Start's refusal.
func (l *NodeLease) heldError(ctx context.Context) error {
	pipe := l.rdb.Pipeline()
	get := pipe.Get(ctx, l.key)
	ttl := pipe.PTTL(ctx, l.key)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: pool.node_id %d is leased by another node; reading who holds it: %w", l.node, err)
	}
	h, _ := parseLease(get.Val())
	return &LeaseHeldError{Node: l.node, Holder: h, ExpiresIn: max(ttl.Val(), 0)}
}

// parseLease reads a lease value: "<token> <holder JSON>".
func parseLease(v string) (LeaseHolder, string) {
	token, js, _ := strings.Cut(v, " ")
	var h LeaseHolder
	_ = json.Unmarshal([]byte(js), &h)
	return h, token
}

// nodeLeaseRenew renews the lease when the token is ours, takes it when the
// key is gone, and returns the other holder's value otherwise.
var nodeLeaseRenew = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
if string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return v
`)

// nodeLeaseRelease deletes the lease when the token is ours.
var nodeLeaseRelease = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// run renews the lease every third of its TTL until Stop, or until
// another node holds it.
func (l *NodeLease) run() {
	defer close(l.done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-l.quit:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
		v, err := nodeLeaseRenew.Run(ctx, l.rdb, []string{l.key}, l.token, l.value, l.ttl.Milliseconds()).Result()
		cancel()
		if err != nil {
			if !failing {
				l.log.Warn("cannot renew the node id's lease; retrying", zap.Uint8("node", l.node), zap.Error(err))
				failing = true
			}
			continue
		}
		if failing {
			l.log.Info("node id's lease renewed again", zap.Uint8("node", l.node))
			failing = false
		}
		if other, ok := v.(string); ok {
			h, _ := parseLease(other)
			l.log.Error("another node holds this node's id: this node stops recording shares as it",
				zap.Uint8("node", l.node), zap.String("other_host", h.Host), zap.Int("other_pid", h.PID),
				zap.Time("other_since", h.Since))
			close(l.lost)
			return
		}
	}
}

// Lost is closed when a renewal found another node holding the id.
func (l *NodeLease) Lost() <-chan struct{} { return l.lost }

// Stop stops the renewal and deletes the lease if it is still this
// node's, within ctx. Safe twice and without Start.
func (l *NodeLease) Stop(ctx context.Context) error {
	var err error
	l.stopOnce.Do(func() {
		l.mu.Lock()
		started := l.started
		l.mu.Unlock()
		close(l.quit)
		if !started {
			return
		}
		<-l.done
		select {
		case <-l.lost:
			return // not ours to delete
		default:
		}
		if rerr := nodeLeaseRelease.Run(ctx, l.rdb, []string{l.key}, l.token).Err(); rerr != nil {
			err = fmt.Errorf("redisstore: release the node id's lease (it expires by itself in %v): %w", l.ttl, rerr)
		}
	})
	return err
}

// ReadLease returns the holder of node's lease under prefix and its time
// to live; ok is false when nobody holds it.
func ReadLease(ctx context.Context, rdb redis.UniversalClient, prefix string, node uint8) (h LeaseHolder, ttl time.Duration, ok bool, err error) {
	if prefix == "" {
		prefix = "tarbela"
	}
	key := newKeys(prefix).lease(node)
	pipe := rdb.Pipeline()
	get := pipe.Get(ctx, key)
	pttl := pipe.PTTL(ctx, key)
	if _, err := pipe.Exec(ctx); err != nil {
		if errors.Is(err, redis.Nil) {
			return LeaseHolder{}, 0, false, nil
		}
		return LeaseHolder{}, 0, false, fmt.Errorf("redisstore: read node %d's lease: %w", node, err)
	}
	h, _ = parseLease(get.Val())
	return h, pttl.Val(), true, nil
}
