package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRedisConnectionModes(t *testing.T) {
	for _, c := range []struct {
		name  string
		redis string
		// want are the problem fields, sorted; nil means valid.
		want []string
		// mention is a fix the first problem's message must name.
		mention string
		check   func(t *testing.T, r Redis)
	}{
		{name: "default addr", redis: "",
			check: func(t *testing.T, r Redis) {
				if r.Addr != defaultRedisAddr || r.WaitReplicas != WaitAuto || r.WaitTimeout != time.Second {
					t.Errorf("got %+v, want the default addr, wait_replicas -1, wait_timeout 1s", r)
				}
			}},
		{name: "sentinel without addr", redis: `sentinel_addrs = ["127.0.0.1:26379", "127.0.0.1:26380"]
master_name = "tarbela"
sentinel_password = "s"`,
			check: func(t *testing.T, r Redis) {
				if r.Addr != "" || r.MasterName != "tarbela" || len(r.SentinelAddrs) != 2 || r.SentinelPassword != "s" {
					t.Errorf("got %+v, want Sentinel mode with addr cleared", r)
				}
			}},
		{name: "cluster without addr", redis: `cluster_addrs = ["127.0.0.1:7000"]`,
			check: func(t *testing.T, r Redis) {
				if r.Addr != "" || !slices.Equal(r.ClusterAddrs, []string{"127.0.0.1:7000"}) {
					t.Errorf("got %+v, want Cluster mode with addr cleared", r)
				}
			}},
		{name: "addr and sentinel", redis: `addr = "127.0.0.1:6379"
sentinel_addrs = ["127.0.0.1:26379"]
master_name = "m"`, want: []string{"redis.addr"}, mention: "remove addr"},
		{name: "sentinel and cluster", redis: `sentinel_addrs = ["127.0.0.1:26379"]
master_name = "m"
cluster_addrs = ["127.0.0.1:7000"]`, want: []string{"redis.cluster_addrs"}, mention: "not both"},
		{name: "master name missing", redis: `sentinel_addrs = ["127.0.0.1:26379"]`,
			want: []string{"redis.master_name"}, mention: "sentinel monitor"},
		{name: "sentinels missing", redis: `master_name = "m"`,
			want: []string{"redis.sentinel_addrs"}, mention: "list the Sentinels"},
		{name: "bad sentinel address", redis: `sentinel_addrs = ["127.0.0.1:26379", "nohost"]
master_name = "m"`, want: []string{"redis.sentinel_addrs[1]"}, mention: "host:port"},
		{name: "sentinel password alone", redis: `sentinel_password = "s"`,
			want: []string{"redis.sentinel_password"}, mention: "sentinel_addrs"},
		{name: "cluster db", redis: `cluster_addrs = ["127.0.0.1:7000"]
db = 2`, want: []string{"redis.db"}, mention: "database 0"},
		{name: "wait replicas", redis: `wait_replicas = -2
wait_timeout = "0s"`, want: []string{"redis.wait_replicas", "redis.wait_timeout"}, mention: "-1 (one replica"},
		{name: "explicit wait", redis: `wait_replicas = 2
wait_timeout = "250ms"`, check: func(t *testing.T, r Redis) {
			if r.WaitReplicas != 2 || r.WaitTimeout != 250*time.Millisecond {
				t.Errorf("got %+v", r)
			}
		}},
		{name: "lease too short", redis: "", want: []string{"pool.node_lease_ttl"}, mention: "at least 1s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pool := poolBase
			if c.name == "lease too short" {
				pool += "node_lease_ttl = \"100ms\"\n"
			}
			cfg, err := Parse([]byte(pool+nodesBase+"[redis]\n"+c.redis+"\n"), nil)
			if c.want == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				c.check(t, cfg.Redis)
				return
			}
			ps := problemsOf(t, err)
			if got := fields(ps); !slices.Equal(got, c.want) {
				t.Fatalf("problems at %v, want %v: %v", got, c.want, ps)
			}
			if p := findProblem(t, ps, c.want[0]); !strings.Contains(p.Message, c.mention) {
				t.Errorf("%s: %q does not say %q", p.Field, p.Message, c.mention)
			}
		})
	}
}
