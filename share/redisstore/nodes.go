package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// NodeStats is one pool node's own counters, which it writes to Redis
// every few seconds so that every node can answer for the whole pool
// (rejected shares are never recorded in Redis otherwise).
type NodeStats struct {
	// Node is the pool node id (pool.node_id).
	Node uint8
	// Accepted and Rejected count the shares the node judged since it
	// started; RejectedBy splits Rejected by reason.
	Accepted, Rejected uint64
	RejectedBy         map[string]uint64
	// Connections is the node's open miner connections.
	Connections int
	// Updated is when the node wrote the figures.
	Updated time.Time
}

func (k keys) nodeStats(node uint8) string {
	return k.base + "node:" + strconv.Itoa(int(node)) + ":stats"
}
func (k keys) nodes() string { return k.base + "nodes" }

// rejectedPrefix starts the fields of NodeStats.RejectedBy.
const rejectedPrefix = "rejected:"

// SetNodeStats writes st as node st.Node's figures, to live ttl: the hash
// node:<id>:stats (fields accepted, rejected, rejected:<reason>,
// connections, updated ms) with that TTL, and the node in the index nodes
// (score: when its figures expire), from which the nodes whose figures
// expired are dropped.
func (s *Reader) SetNodeStats(ctx context.Context, st NodeStats, ttl time.Duration) error {
	key := s.k.nodeStats(st.Node)
	fields := []any{"accepted", fmtInt(int64(st.Accepted)), "rejected", fmtInt(int64(st.Rejected)),
		"connections", strconv.Itoa(st.Connections), "updated", fmtInt(st.Updated.UnixMilli())}
	for reason, n := range st.RejectedBy {
		fields = append(fields, rejectedPrefix+reason, fmtInt(int64(n)))
	}
	expires := st.Updated.Add(ttl).UnixMilli()
	pipe := s.rdb.TxPipeline()
	pipe.Del(ctx, key)
	pipe.HSet(ctx, key, fields...)
	pipe.PExpire(ctx, key, ttl)
	pipe.ZAdd(ctx, s.k.nodes(), redis.Z{Score: float64(expires), Member: strconv.Itoa(int(st.Node))})
	pipe.ZRemRangeByScore(ctx, s.k.nodes(), "-inf", "("+fmtInt(st.Updated.UnixMilli()))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redisstore: write node %d stats: %w", st.Node, err)
	}
	return nil
}

// DeleteNodeStats removes node's figures (a node that stops says so rather
// than leaving them to expire).
func (s *Reader) DeleteNodeStats(ctx context.Context, node uint8) error {
	pipe := s.rdb.TxPipeline()
	pipe.Del(ctx, s.k.nodeStats(node))
	pipe.ZRem(ctx, s.k.nodes(), strconv.Itoa(int(node)))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redisstore: delete node %d stats: %w", node, err)
	}
	return nil
}

// NodeStats returns the figures of the nodes whose figures have not
// expired at now, by node id.
func (s *Reader) NodeStats(ctx context.Context, now time.Time) ([]NodeStats, error) {
	ids, err := s.rdb.ZRangeByScore(ctx, s.k.nodes(), &redis.ZRangeBy{Min: "(" + fmtInt(now.UnixMilli()), Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: read the nodes: %w", err)
	}
	var nodes []uint8
	pipe := s.rdb.Pipeline()
	var cmds []*redis.MapStringStringCmd
	for _, id := range ids {
		if n, err := strconv.ParseUint(id, 10, 8); err == nil {
			nodes = append(nodes, uint8(n))
			cmds = append(cmds, pipe.HGetAll(ctx, s.k.nodeStats(uint8(n))))
		}
	}
	if len(cmds) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("redisstore: read the nodes' stats: %w", err)
		}
	}
	var out []NodeStats
	for i, n := range nodes {
		m := cmds[i].Val()
		if len(m) == 0 {
			continue // expired since the index was read
		}
		st := NodeStats{Node: n, Accepted: uint64(parseInt(m["accepted"])), Rejected: uint64(parseInt(m["rejected"])),
			Connections: int(parseInt(m["connections"])), Updated: time.UnixMilli(parseInt(m["updated"])),
			RejectedBy: map[string]uint64{}}
		for f, v := range m {
			if reason, ok := strings.CutPrefix(f, rejectedPrefix); ok {
				st.RejectedBy[reason] = uint64(parseInt(v))
			}
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b NodeStats) int { return int(a.Node) - int(b.Node) })
	return out, nil
}
