package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/redisconn"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// leaseStartTimeout bounds taking the node id's lease at start while Redis
// does not answer; the node then starts and takes it when Redis returns.
const leaseStartTimeout = 5 * time.Second

// nodeLease is the node id's lease and the Redis client it alone uses: the
// lease is released after the share store has flushed and closed its own.
type nodeLease struct {
	*redisstore.NodeLease
	rdb redis.UniversalClient
}

// Stop releases the lease and closes its client.
func (l *nodeLease) Stop(ctx context.Context) error {
	return errors.Join(l.NodeLease.Stop(ctx), l.rdb.Close())
}

// startLease takes pool.node_id's lease in Redis (redisstore.NodeLease): a
// second node started with the same id (a copied config) fails here, and
// the error names the node that holds it.
func (d *Daemon) startLease(ctx context.Context, cfg *config.Config, log *zap.Logger) error {
	c := redisconn.Connection(cfg.Redis)
	c.Timeout, c.MaxRetries, c.PoolSize = 2*time.Second, -1, 2
	rdb, err := redisstore.NewClient(c)
	if err != nil {
		return err
	}
	l, err := redisstore.NewNodeLease(rdb, redisstore.NodeLeaseOptions{Prefix: cfg.Redis.Prefix,
		Node: uint8(cfg.Pool.NodeID), TTL: cfg.Pool.NodeLeaseTTL, Log: log.Named("lease")})
	if err != nil {
		rdb.Close()
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, leaseStartTimeout)
	defer cancel()
	if err := l.Start(lctx); err != nil {
		rdb.Close()
		return err
	}
	d.lease = &nodeLease{NodeLease: l, rdb: rdb}
	return nil
}

// LeaseLost is closed when another node took this node's id while this one
// ran (its lease expired during a Redis outage longer than
// pool.node_lease_ttl, and a node with the same id started meanwhile). The
// node must stop: `tarbela run` then stops as on SIGTERM (miners are sent
// client.reconnect, the shares already accepted are flushed under this
// process's own stream, which no other node shares) and exits with status 1.
func (d *Daemon) LeaseLost() <-chan struct{} { return d.lease.Lost() }
