package redisstore

import "testing"

// TestOnlineReplicas reads INFO replication replies captured from
// redis-server 7.0.15 (a primary during its replica's first sync; a primary
// with its replica online; that replica; "two, one syncing" joins the two
// primaries' replica lines) and counts only the replicas that acknowledge
// WAIT.
func TestOnlineReplicas(t *testing.T) {
	for _, c := range []struct {
		name, info string
		want       int
	}{
		{"first sync", "# Replication\r\nrole:master\r\nconnected_slaves:1\r\nslave0:ip=127.0.0.1,port=39495,state=wait_bgsave,offset=0,lag=0\r\nmaster_failover_state:no-failover\r\nmaster_repl_offset:486\r\n", 0},
		{"online", "# Replication\r\nrole:master\r\nconnected_slaves:1\r\nslave0:ip=127.0.0.1,port=17412,state=online,offset=0,lag=1\r\nmaster_failover_state:no-failover\r\nmaster_replid:4d78b9d5c432e7eba093f1f3f0902265f9d09ae3\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\n", 1},
		{"two, one syncing", "# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=127.0.0.1,port=17412,state=online,offset=0,lag=1\r\nslave1:ip=127.0.0.1,port=39495,state=wait_bgsave,offset=0,lag=0\r\n", 1},
		{"a replica", "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:17411\r\nmaster_link_status:up\r\nmaster_last_io_seconds_ago:2\r\nmaster_sync_in_progress:0\r\nslave_read_repl_offset:0\r\nslave_repl_offset:0\r\nslave_priority:100\r\nslave_read_only:1\r\nreplica_announced:1\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n", 0},
		{"empty", "", 0},
	} {
		if got := onlineReplicas(c.info); got != c.want {
			t.Errorf("%s: %d online replicas, want %d", c.name, got, c.want)
		}
	}
}
