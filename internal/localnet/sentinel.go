package localnet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"
)

// SentinelSetOptions configures StartSentinelSet. The zero value starts a
// primary, one replica and three Sentinels with quorum 2 that declare the
// primary down after 1 s.
type SentinelSetOptions struct {
	// Binary is the redis-server executable (see RedisOptions.Binary).
	Binary string
	// Master is the name the Sentinels monitor the primary under
	// ("tarbela" by default).
	Master string
	// Replicas and Sentinels are how many of each to start (1 and 3 by
	// default); Quorum is the Sentinels that must agree the primary is
	// down (a majority by default).
	Replicas, Sentinels, Quorum int
	// DownAfter is how long the primary may not answer before a Sentinel
	// calls it down (1 s by default).
	DownAfter time.Duration
	// Password, when set, is required by the data nodes (and used by the
	// replicas and Sentinels to reach them).
	Password string
}

// SentinelSet is a primary, its replicas and the Sentinels that watch them,
// each a redis-server process on a free loopback port, as production runs
// them for failover.
type SentinelSet struct {
	// Master is the monitored name.
	Master string
	// Data holds the data nodes: Data[0] was started as the primary, the
	// others as its replicas. After a failover another one is the
	// primary (PrimaryAddr says which).
	Data []*Redis
	// Sentinels are the Sentinel processes.
	Sentinels []*Redis
	opts      SentinelSetOptions
}

// StartSentinelSet starts the data nodes and the Sentinels and waits until
// every Sentinel sees the primary with all its replicas and the other
// Sentinels. Stop it with Stop.
func StartSentinelSet(ctx context.Context, o SentinelSetOptions) (_ *SentinelSet, err error) {
	if o.Master == "" {
		o.Master = "tarbela"
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.Sentinels == 0 {
		o.Sentinels = 3
	}
	if o.Quorum == 0 {
		o.Quorum = o.Sentinels/2 + 1
	}
	if o.DownAfter == 0 {
		o.DownAfter = time.Second
	}
	set := &SentinelSet{Master: o.Master, opts: o}
	defer func() {
		if err != nil {
			set.Stop()
		}
	}()
	// A replica's first copy is sent without waiting for more replicas
	// (Redis waits 5 s by default), so the set is ready in a moment.
	auth := func() []string {
		args := []string{"--repl-diskless-sync-delay", "0"}
		if o.Password == "" {
			return args
		}
		return append(args, "--masterauth", o.Password)
	}
	primary, err := StartRedis(ctx, RedisOptions{Binary: o.Binary, Password: o.Password, Args: auth()})
	if err != nil {
		return nil, fmt.Errorf("localnet: sentinel set primary: %w", err)
	}
	set.Data = append(set.Data, primary)
	host, port, _ := strings.Cut(primary.Addr, ":")
	for i := range o.Replicas {
		r, err := StartRedis(ctx, RedisOptions{Binary: o.Binary, Password: o.Password,
			Args: append([]string{"--replicaof", host, port}, auth()...)})
		if err != nil {
			return nil, fmt.Errorf("localnet: sentinel set replica %d: %w", i, err)
		}
		set.Data = append(set.Data, r)
	}
	conf := fmt.Sprintf("sentinel monitor %s %s %s %d\nsentinel down-after-milliseconds %s %d\nsentinel failover-timeout %s %d\n",
		o.Master, host, port, o.Quorum, o.Master, o.DownAfter.Milliseconds(), o.Master, max(10*o.DownAfter.Milliseconds(), 5000))
	if o.Password != "" {
		conf += fmt.Sprintf("sentinel auth-pass %s %s\n", o.Master, o.Password)
	}
	for i := range o.Sentinels {
		s, err := StartRedis(ctx, RedisOptions{Binary: o.Binary, SentinelConfig: conf})
		if err != nil {
			return nil, fmt.Errorf("localnet: sentinel %d: %w", i, err)
		}
		set.Sentinels = append(set.Sentinels, s)
	}
	want := fmt.Sprintf("status=ok,address=%s,slaves=%d,sentinels=%d", primary.Addr, o.Replicas, o.Sentinels)
	if err := set.waitAll(ctx, 30*time.Second, want); err != nil {
		return nil, err
	}
	if err := primary.WaitReplicasOnline(ctx, o.Replicas, 30*time.Second); err != nil {
		return nil, err
	}
	return set, nil
}

// SentinelAddrs are the Sentinels' addresses, for a client's seed list.
func (s *SentinelSet) SentinelAddrs() []string {
	out := make([]string, len(s.Sentinels))
	for i, r := range s.Sentinels {
		out[i] = r.Addr
	}
	return out
}

// PrimaryAddr is the primary's address as the Sentinels agree on it: every
// running Sentinel names the same address, else an error.
func (s *SentinelSet) PrimaryAddr(ctx context.Context) (string, error) {
	addr := ""
	for _, sen := range s.Sentinels {
		select {
		case <-sen.Exited():
			continue
		default:
		}
		m, err := s.masterLine(ctx, sen)
		if err != nil {
			return "", err
		}
		a := field(m, "address")
		if addr != "" && a != addr {
			return "", fmt.Errorf("localnet: Sentinels disagree on the primary: %s and %s", addr, a)
		}
		addr = a
	}
	if addr == "" {
		return "", errors.New("localnet: no Sentinel is running")
	}
	return addr, nil
}

// Node returns the data node listening on addr, or nil.
func (s *SentinelSet) Node(addr string) *Redis {
	for _, r := range s.Data {
		if r.Addr == addr {
			return r
		}
	}
	return nil
}

// WaitFailover waits until every running Sentinel names a primary other
// than old, with status ok, and that primary answers as a primary.
func (s *SentinelSet) WaitFailover(ctx context.Context, old string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		addr, err := s.PrimaryAddr(ctx)
		if err == nil && addr != old {
			if n := s.Node(addr); n != nil {
				if role, rerr := n.role(ctx); rerr == nil && role == "master" {
					return addr, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("localnet: no failover away from %s: %w (last: %v, %s)", old, ctx.Err(), err, addr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Kill ends the server with SIGKILL, as a crashed machine would, without
// waiting for it.
func (r *Redis) Kill() error { return r.signal(syscall.SIGKILL) }

// role is the server's INFO replication role ("master" or "slave").
func (r *Redis) role(ctx context.Context) (string, error) {
	var role string
	err := r.talk(ctx, func(c net.Conn, br *bufio.Reader) error {
		info, err := respBulk(c, br, "INFO", "replication")
		if err != nil {
			return err
		}
		for line := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "role:"); ok {
				role = v
				return nil
			}
		}
		return errors.New("redis INFO replication: no role")
	})
	return role, err
}

// WaitReplicasOnline waits until the server, a primary, lists n replicas
// as online (their first copy loaded, so they acknowledge WAIT).
func (r *Redis) WaitReplicasOnline(ctx context.Context, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		err := r.talk(ctx, func(c net.Conn, br *bufio.Reader) error {
			info, err := respBulk(c, br, "INFO", "replication")
			last = info
			return err
		})
		if err == nil && strings.Count(last, ",state=online,") >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("localnet: %s: %d replicas not online: %w (last: %v %q)", r.Addr, n, ctx.Err(), err, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop ends every process of the set; safe twice.
func (s *SentinelSet) Stop() {
	for _, r := range s.Sentinels {
		r.Stop()
	}
	for _, r := range s.Data {
		r.Stop()
	}
}

// waitAll waits until every Sentinel's view of the master contains want.
func (s *SentinelSet) waitAll(ctx context.Context, timeout time.Duration, want string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		ok := true
		for _, sen := range s.Sentinels {
			m, err := s.masterLine(ctx, sen)
			if err != nil || !strings.Contains(m, want) {
				ok, last = false, m
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("localnet: Sentinels not ready: want %q, got %q: %w", want, last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// masterLine is sen's INFO sentinel line about the monitored master
// ("name=...,status=ok,address=...,slaves=1,sentinels=3").
func (s *SentinelSet) masterLine(ctx context.Context, sen *Redis) (string, error) {
	var out string
	err := sen.talk(ctx, func(c net.Conn, br *bufio.Reader) error {
		info, err := respBulk(c, br, "INFO", "sentinel")
		if err != nil {
			return err
		}
		for line := range strings.Lines(info) {
			if _, v, ok := strings.Cut(strings.TrimSpace(line), ":name="+s.Master+","); ok {
				out = "name=" + s.Master + "," + v
				return nil
			}
		}
		return fmt.Errorf("sentinel %s does not monitor %q", sen.Addr, s.Master)
	})
	return out, err
}

// field is the value of key in a "k=v,k=v" line.
func field(line, key string) string {
	for kv := range strings.SplitSeq(line, ",") {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}
