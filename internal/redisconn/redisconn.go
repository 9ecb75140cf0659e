// Package redisconn turns the config's [redis] section into the share
// store's connection settings, so that the pool node, the payout job and
// the API reach the same Redis the same way: one server, a primary that
// Sentinels manage, or a Cluster.
package redisconn

import (
	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// Connection is r's connection settings for redisstore.NewClient.
func Connection(r config.Redis) redisstore.Connection {
	return redisstore.Connection{
		Addr: r.Addr, SentinelAddrs: r.SentinelAddrs, MasterName: r.MasterName,
		SentinelPassword: string(r.SentinelPassword), ClusterAddrs: r.ClusterAddrs,
		Password: string(r.Password), DB: r.DB,
	}
}

// StoreOptions fills the connection and WAIT fields of o from r.
func StoreOptions(r config.Redis, o redisstore.Options) redisstore.Options {
	c := Connection(r)
	o.Addr, o.SentinelAddrs, o.MasterName, o.SentinelPassword, o.ClusterAddrs = c.Addr, c.SentinelAddrs, c.MasterName, c.SentinelPassword, c.ClusterAddrs
	o.Password, o.DB = c.Password, c.DB
	o.WaitReplicas, o.WaitTimeout = r.WaitReplicas, r.WaitTimeout
	return o
}

// NewClient is a client for r with go-redis' default timeouts and
// retries, for the parts that are not the share store.
func NewClient(r config.Redis) (redis.UniversalClient, error) {
	return redisstore.NewClient(Connection(r))
}
