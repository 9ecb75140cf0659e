package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Connection says how to reach the ledger's Redis: one server (Addr), a
// primary that Sentinels manage (SentinelAddrs and MasterName), or a Redis
// Cluster (ClusterAddrs). Exactly one of the three is set.
type Connection struct {
	// Addr is one Redis server, host:port.
	Addr string
	// SentinelAddrs are the Sentinels (host:port) asked for the primary
	// monitored as MasterName; SentinelPassword is their own requirepass.
	SentinelAddrs    []string
	MasterName       string
	SentinelPassword string
	// ClusterAddrs are seed nodes of a Redis Cluster.
	ClusterAddrs []string
	// Password and DB select the data nodes' account and database (DB 0
	// in a Cluster).
	Password string
	DB       int

	// Timeout bounds dialing, reading and writing (go-redis' defaults when
	// 0); PoolSize is the connections per node (go-redis' default when
	// 0); MaxRetries is go-redis' retry count (-1: none).
	Timeout    time.Duration
	PoolSize   int
	MaxRetries int
}

// Mode names which of the three ways c uses: "server", "sentinel" or
// "cluster".
func (c Connection) Mode() string {
	switch {
	case len(c.SentinelAddrs) > 0 || c.MasterName != "":
		return "sentinel"
	case len(c.ClusterAddrs) > 0:
		return "cluster"
	}
	return "server"
}

// check lists what is wrong with c, by Options field name.
func (c Connection) check() []string {
	var bad []string
	sentinel := len(c.SentinelAddrs) > 0 || c.MasterName != ""
	cluster := len(c.ClusterAddrs) > 0
	switch {
	case sentinel && cluster:
		bad = append(bad, "ClusterAddrs: set with SentinelAddrs; use one of them")
	case (sentinel || cluster) && c.Addr != "":
		bad = append(bad, "Addr: set with SentinelAddrs or ClusterAddrs; use one of them")
	case !sentinel && !cluster && c.Addr == "":
		bad = append(bad, "Addr: empty (set Addr, SentinelAddrs with MasterName, or ClusterAddrs)")
	}
	if sentinel && (len(c.SentinelAddrs) == 0 || c.MasterName == "") {
		bad = append(bad, "SentinelAddrs and MasterName: both are needed for Sentinel")
	}
	if cluster && c.DB != 0 {
		bad = append(bad, fmt.Sprintf("DB: %d, but a Cluster has only database 0", c.DB))
	}
	return bad
}

// NewClient returns a go-redis universal client for c: a *redis.Client for
// one server, a Sentinel-backed failover *redis.Client that follows the
// primary across failovers, or a *redis.ClusterClient. It does not connect;
// the first command does. Every part of Tarbela that talks to Redis (the
// share store, the payout job, the API's readers) builds its client here,
// so they all follow the same primary.
func NewClient(c Connection) (redis.UniversalClient, error) {
	if bad := c.check(); len(bad) > 0 {
		return nil, &OptionsError{Fields: bad}
	}
	u := &redis.UniversalOptions{
		Password: c.Password, DB: c.DB,
		MaxRetries:  c.MaxRetries,
		DialTimeout: c.Timeout, ReadTimeout: c.Timeout, WriteTimeout: c.Timeout,
		PoolSize: c.PoolSize,
	}
	switch c.Mode() {
	case "sentinel":
		u.Addrs, u.MasterName, u.SentinelPassword = c.SentinelAddrs, c.MasterName, c.SentinelPassword
	case "cluster":
		u.Addrs, u.IsClusterMode = c.ClusterAddrs, true
	default:
		u.Addrs = []string{c.Addr}
	}
	return redis.NewUniversalClient(u), nil
}

// primaryFor returns the client of the primary that holds key: rdb itself
// for one server or Sentinel (its connections go to the current primary),
// the slot's primary in a Cluster. Commands sent through one pipeline of the
// returned client share one connection, which WAIT needs.
func primaryFor(ctx context.Context, rdb redis.UniversalClient, key string) (*redis.Client, error) {
	switch c := rdb.(type) {
	case *redis.Client:
		return c, nil
	case *redis.ClusterClient:
		n, err := c.MasterForKey(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("redisstore: find the primary of the ledger's slot: %w", err)
		}
		return n, nil
	}
	return nil, errors.New("redisstore: unsupported Redis client type")
}
