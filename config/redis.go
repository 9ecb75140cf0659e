package config

import (
	"fmt"
	"time"
)

// Bounds of the Redis connection settings.
const (
	// minNodeLeaseTTL keeps the lease's renewal (a third of it) above a
	// few hundred milliseconds.
	minNodeLeaseTTL = time.Second
	// maxWaitReplicas is far above any replica count Redis is run with;
	// a larger value is a typo.
	maxWaitReplicas = 100
)

// dropDefaultAddr clears the default redis.addr when the file selects
// Sentinel or Cluster without naming addr itself, so that the default
// does not count as a second connection mode. raw is the decoded file.
func (r *Redis) dropDefaultAddr(raw map[string]any) {
	if len(r.SentinelAddrs) == 0 && r.MasterName == "" && len(r.ClusterAddrs) == 0 {
		return
	}
	if t, ok := raw["redis"].(map[string]any); ok {
		if _, set := t["addr"]; set {
			return
		}
	}
	r.Addr = ""
}

// validateConnection checks that exactly one way to reach Redis is set
// (addr, sentinel_addrs with master_name, or cluster_addrs), each address,
// and the WAIT settings.
func (r *Redis) validateConnection(p *problems) {
	sentinel := len(r.SentinelAddrs) > 0 || r.MasterName != ""
	cluster := len(r.ClusterAddrs) > 0
	switch {
	case sentinel && cluster:
		p.add("redis.cluster_addrs", "cannot be set with redis.sentinel_addrs: choose Sentinel (sentinel_addrs and master_name) or Cluster (cluster_addrs), not both")
	case (sentinel || cluster) && r.Addr != "":
		field, finder := "redis.sentinel_addrs", "Sentinels"
		if cluster {
			field, finder = "redis.cluster_addrs", "seed nodes"
		}
		p.add("redis.addr", "cannot be set with %s: remove addr (the %s find the primary), or remove %s to use one server", field, finder, field)
	case !sentinel && !cluster:
		checkHostPort(p, "redis.addr", r.Addr, `"127.0.0.1:6379"`, false)
	}
	if sentinel {
		if len(r.SentinelAddrs) == 0 {
			p.add("redis.sentinel_addrs", "is required with redis.master_name: list the Sentinels, such as [\"10.0.0.1:26379\", \"10.0.0.2:26379\", \"10.0.0.3:26379\"]")
		}
		if r.MasterName == "" {
			p.add("redis.master_name", "is required with redis.sentinel_addrs: the name the Sentinels monitor the primary under (their `sentinel monitor <name> ...` line), such as \"tarbela\"")
		}
		for i, a := range r.SentinelAddrs {
			checkHostPort(p, joinIndex("redis.sentinel_addrs", i), a, `"10.0.0.1:26379"`, false)
		}
	} else if r.SentinelPassword != "" {
		p.add("redis.sentinel_password", "is only used with redis.sentinel_addrs: remove it, or configure the Sentinels")
	}
	for i, a := range r.ClusterAddrs {
		checkHostPort(p, joinIndex("redis.cluster_addrs", i), a, `"10.0.0.1:6379"`, false)
	}
	if cluster && r.DB != 0 {
		p.add("redis.db", "must be 0 with redis.cluster_addrs: Redis Cluster has only database 0 (got %d)", r.DB)
	}
	if r.WaitReplicas < WaitAuto || r.WaitReplicas > maxWaitReplicas {
		p.add("redis.wait_replicas", "must be -1 (one replica when the primary has any), 0 (do not wait) or 1..%d replicas (got %d)", maxWaitReplicas, r.WaitReplicas)
	}
	checkPositive(p, "redis.wait_timeout", r.WaitTimeout)
}

// joinIndex is the problem path of element i of the array at path.
func joinIndex(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}
