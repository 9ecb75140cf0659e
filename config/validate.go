package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/address/v2"
)

// Problem is one bad field: its path in the file ("stratum.difficulty.min",
// "nodes[0].rpc_url") and what is wrong with it and how to fix it.
type Problem struct {
	Field   string
	Message string
}

// String renders the problem as "field: message".
func (p Problem) String() string { return p.Field + ": " + p.Message }

// ValidationError lists every problem found in a configuration, so that an
// operator fixes the file in one pass instead of one error per restart.
type ValidationError struct {
	Problems []Problem
}

// Error lists the problems one per line under a count.
func (e *ValidationError) Error() string {
	var b strings.Builder
	n := len(e.Problems)
	fmt.Fprintf(&b, "invalid config, %d problem", n)
	if n != 1 {
		b.WriteByte('s')
	}
	b.WriteByte(':')
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p.String())
	}
	return b.String()
}

// problems collects Problems while decoding and validating.
type problems []Problem

// add records a problem at field.
func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Limits that validation enforces. The scriptSig bounds come from consensus
// (2..100 bytes) and from what the coinbase builder puts there besides the
// tag: the BIP34 height push and the two extranonces.
const (
	MaxCoinbaseTagBytes   = 40
	MinExtranonce2Size    = 2
	MaxExtranonce2Size    = 16
	Extranonce1Size       = 4
	MaxHeightPushBytes    = 5
	MaxScriptSigBytes     = 100
	MinMaxLineBytes       = 256
	MaxMaxLineBytes       = 65536
	MaxSendQueue          = 1 << 20
	generalPurposeMask    = 0x1fffe000 // BIP320 bits a miner may roll
	maxRedisPrefixBytes   = 64
	maxNodeNameBytes      = 64
	maxRedisBatchSize     = 1 << 20
	maxRedisQueueSize     = 1 << 26
	maxMaxConnections     = 10_000_000
	maxConnectionsPerAddr = maxMaxConnections
	MinIPv6Prefix         = 32
	MaxIPv6Prefix         = 128
)

var (
	// redisPrefixRE keeps the prefix free of spaces and of the braces that
	// would break the Redis Cluster hash tags built after it.
	redisPrefixRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)
	// nodeNameRE keeps node names usable as metric label values and log fields.
	nodeNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
)

// Validate checks every field and returns a *ValidationError listing all
// problems, or nil.
func (c *Config) Validate() error {
	if c == nil {
		return &ValidationError{Problems: []Problem{{Field: "(config)", Message: "is nil"}}}
	}
	var p problems
	c.validate(&p)
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

// validate appends every problem of c to p.
func (c *Config) validate(p *problems) {
	c.Pool.validate(p)
	c.Stratum.validate(p)
	if len(c.Nodes) == 0 {
		p.add("nodes", "at least one [[nodes]] entry is required")
	}
	names := make(map[string]int, len(c.Nodes))
	for i := range c.Nodes {
		path := fmt.Sprintf("nodes[%d]", i)
		c.Nodes[i].validate(p, path, i)
		if first, dup := names[c.Nodes[i].Name]; dup {
			p.add(path+".name", "duplicates nodes[%d].name %q; names must be unique", first, c.Nodes[i].Name)
		} else {
			names[c.Nodes[i].Name] = i
		}
	}
	c.Template.validate(p)
	c.Redis.validate(p)
	c.Log.validate(p)
	c.Payout.validate(p)
	validateSites(c.Sites, p)
	c.Energy.validate(p)
	if c.Metrics.Listen != "" {
		checkListen(p, "metrics.listen", c.Metrics.Listen, `"127.0.0.1:9100", or "" to disable`)
	}
	if c.API.Listen != "" {
		checkListen(p, "api.listen", c.API.Listen, `"127.0.0.1:8080", or "" to disable`)
	}
	if strings.ContainsAny(c.API.TokenFile, "\x00\r\n") {
		p.add("api.token_file", "must be a file path without control characters")
	}
}

// validate checks the pool section, including the payout address against
// the network and the scriptSig room the tag and extranonce2 leave.
func (pl *Pool) validate(p *problems) {
	if pl.NodeID < 0 || pl.NodeID > 255 {
		p.add("pool.node_id", "must be 0..255, unique per pool node sharing one Redis (got %d)", pl.NodeID)
	}
	if pl.NodeLeaseTTL < minNodeLeaseTTL {
		p.add("pool.node_lease_ttl", "must be at least %v, so that its renewal every third of it is not a busy loop (got %v)", minNodeLeaseTTL, pl.NodeLeaseTTL)
	}
	if pl.Mode != ModePool && pl.Mode != ModeSolo {
		p.add("pool.mode", "must be %q or %q (got %q)", ModePool, ModeSolo, pl.Mode)
	}
	_, knownNet := networks[pl.Network]
	if !knownNet {
		p.add("pool.network", "must be one of %s (got %q)", quoteList(networkNames), pl.Network)
	}
	switch {
	case pl.PayoutAddress == "" && pl.Mode == ModePool:
		p.add("pool.payout_address", "is required in pool mode: the coinbase pays it")
	case pl.PayoutAddress != "" && knownNet:
		if msg := checkAddress(pl.PayoutAddress, pl.Network); msg != "" {
			p.add("pool.payout_address", "%s", msg)
		}
	}
	switch fee := pl.PoolFeePercent; {
	case math.IsNaN(fee) || fee < 0 || fee > 100:
		p.add("pool.pool_fee_percent", "must be 0..100 (got %v)", fee)
	case fee > 0 && pl.PayoutAddress == "":
		p.add("pool.pool_fee_percent", "is %v but pool.payout_address is empty; set the address that receives the fee", fee)
	}
	tagOK := true
	if n := len(pl.CoinbaseTag); n > MaxCoinbaseTagBytes {
		p.add("pool.coinbase_tag", "must be at most %d bytes (got %d)", MaxCoinbaseTagBytes, n)
		tagOK = false
	}
	for i := 0; i < len(pl.CoinbaseTag); i++ {
		if c := pl.CoinbaseTag[i]; c < 0x20 || c > 0x7e {
			p.add("pool.coinbase_tag", "must be printable ASCII; byte %d is 0x%02x", i, c)
			tagOK = false
			break
		}
	}
	en2OK := pl.Extranonce2Size >= MinExtranonce2Size && pl.Extranonce2Size <= MaxExtranonce2Size
	if !en2OK {
		p.add("pool.extranonce2_size", "must be %d..%d (got %d)", MinExtranonce2Size, MaxExtranonce2Size, pl.Extranonce2Size)
	}
	// With both limits above respected the scriptSig always fits; the check
	// stays so that raising a limit can never produce an invalid coinbase.
	if tagOK && en2OK {
		if n := ScriptSigBytes(len(pl.CoinbaseTag), pl.Extranonce2Size); n > MaxScriptSigBytes {
			p.add("pool.coinbase_tag", "coinbase scriptSig would be %d bytes, over the %d-byte limit; shorten the tag or pool.extranonce2_size", n, MaxScriptSigBytes)
		}
	}
}

// ScriptSigBytes is the largest coinbase scriptSig the pool builds for a tag
// of tagLen bytes and an extranonce2 of en2 bytes.
func ScriptSigBytes(tagLen, en2 int) int {
	return MaxHeightPushBytes + Extranonce1Size + en2 + tagLen
}

// checkAddress returns why addr cannot receive coinbase outputs on network,
// or "".
func checkAddress(addr, network string) string {
	netParams := networks[network]
	a, err := address.DecodeAddress(addr, netParams)
	if err != nil {
		return fmt.Sprintf("is not a valid %s address (%v): %q", network, err, addr)
	}
	if !a.IsForNet(netParams) {
		return fmt.Sprintf("is not a %s address; pool.network is %q (got %q)", network, network, addr)
	}
	if _, anchor := a.(*address.AddressPayToAnchor); anchor {
		return fmt.Sprintf("is a pay-to-anchor address, which anyone can spend (got %q)", addr)
	}
	return ""
}

// validate checks the stratum section and its difficulty table.
func (s *Stratum) validate(p *problems) {
	checkListen(p, "stratum.listen", s.Listen, `"0.0.0.0:3333"`)
	s.validateTLS(p)
	if s.MaxLineBytes < MinMaxLineBytes || s.MaxLineBytes > MaxMaxLineBytes {
		p.add("stratum.max_line_bytes", "must be %d..%d (got %d)", MinMaxLineBytes, MaxMaxLineBytes, s.MaxLineBytes)
	}
	checkPositive(p, "stratum.idle_timeout", s.IdleTimeout)
	checkPositive(p, "stratum.handshake_timeout", s.HandshakeTimeout)
	checkPositive(p, "stratum.write_timeout", s.WriteTimeout)
	checkPositive(p, "stratum.shutdown_timeout", s.ShutdownTimeout)
	if s.SendQueue < 1 || s.SendQueue > MaxSendQueue {
		p.add("stratum.send_queue", "must be 1..%d messages (got %d)", MaxSendQueue, s.SendQueue)
	}
	if s.VersionMask&^generalPurposeMask != 0 {
		p.add("stratum.version_mask", "must only contain the BIP320 general-purpose bits %08x, or be 00000000 to disable version rolling (got %08x)", generalPurposeMask, s.VersionMask)
	}
	if s.MaxConnections < 1 || s.MaxConnections > maxMaxConnections {
		p.add("stratum.max_connections", "must be 1..%d (got %d)", maxMaxConnections, s.MaxConnections)
	}
	if s.MaxConnectionsPerIP < 0 || s.MaxConnectionsPerIP > maxConnectionsPerAddr {
		p.add("stratum.max_connections_per_ip", "must be 0 (unlimited)..%d (got %d)", maxConnectionsPerAddr, s.MaxConnectionsPerIP)
	}
	if s.IPv6Prefix < MinIPv6Prefix || s.IPv6Prefix > MaxIPv6Prefix {
		p.add("stratum.ipv6_prefix", "must be %d..%d, %d being the exact address (got %d)", MinIPv6Prefix, MaxIPv6Prefix, MaxIPv6Prefix, s.IPv6Prefix)
	}
	for i, pfx := range s.AllowIPs {
		if !pfx.IsValid() {
			p.add(fmt.Sprintf("stratum.allow_ips[%d]", i), "must be a CIDR such as \"203.0.113.0/24\"")
		}
	}
	if s.BanMinRejects < 1 {
		p.add("stratum.ban_min_rejects", "must be >= 1 (got %d)", s.BanMinRejects)
	}
	if !(s.BanRejectRatio >= 0 && s.BanRejectRatio < 1) {
		p.add("stratum.ban_reject_ratio", "must be in [0, 1) (got %v)", s.BanRejectRatio)
	}
	if s.BanWindow <= 0 {
		p.add("stratum.ban_window", "must be > 0 (got %s)", s.BanWindow)
	}
	if s.BanDuration < 0 {
		p.add("stratum.ban_duration", "must be >= 0, 0 disables bans (got %s)", s.BanDuration)
	}
	s.Difficulty.validate(p)
}

// validateTLS checks the TLS listener's keys: an address unlike listen's,
// and both files named. The files themselves are read by the daemon.
func (s *Stratum) validateTLS(p *problems) {
	if s.TLSListen == "" {
		for _, f := range []struct{ key, v string }{{"tls_cert_file", s.TLSCertFile}, {"tls_key_file", s.TLSKeyFile}} {
			if f.v != "" {
				p.add("stratum."+f.key, "is set but stratum.tls_listen is empty: set tls_listen (e.g. \"0.0.0.0:3334\") to serve Stratum over TLS, or remove %s", f.key)
			}
		}
		return
	}
	checkListen(p, "stratum.tls_listen", s.TLSListen, `"0.0.0.0:3334", or "" for no TLS listener`)
	if _, port, err := net.SplitHostPort(s.TLSListen); err == nil && port != "0" && s.TLSListen == s.Listen {
		p.add("stratum.tls_listen", "must differ from stratum.listen (both %q): TLS needs a port of its own, e.g. 3334", s.Listen)
	}
	if s.TLSCertFile == "" {
		p.add("stratum.tls_cert_file", "is required with stratum.tls_listen: the PEM certificate (with its chain) the TLS listener serves")
	}
	if s.TLSKeyFile == "" {
		p.add("stratum.tls_key_file", "is required with stratum.tls_listen: the PEM private key of stratum.tls_cert_file")
	}
}

// validate checks vardiff bounds; min <= initial <= max is checked only when
// all three are usable numbers, so one bad value yields one problem.
func (d *Difficulty) validate(p *problems) {
	ok := true
	for _, f := range []struct {
		name string
		v    float64
	}{{"initial", d.Initial}, {"min", d.Min}, {"max", d.Max}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v <= 0 {
			p.add("stratum.difficulty."+f.name, "must be > 0 and finite (got %v)", f.v)
			ok = false
		}
	}
	if ok {
		if d.Min > d.Max {
			p.add("stratum.difficulty.min", "must be <= stratum.difficulty.max (got min %v, max %v)", d.Min, d.Max)
		} else if d.Initial < d.Min || d.Initial > d.Max {
			p.add("stratum.difficulty.initial", "must be between min %v and max %v (got %v)", d.Min, d.Max, d.Initial)
		}
	}
	checkPositive(p, "stratum.difficulty.target_share_seconds", d.TargetShareSeconds)
	checkPositive(p, "stratum.difficulty.retarget_interval", d.RetargetInterval)
	if math.IsNaN(d.Variance) || d.Variance < 0 || d.Variance > 1 {
		p.add("stratum.difficulty.variance", "must be 0..1 (got %v)", d.Variance)
	}
}

// validate checks nodes[i]; exactly one way to authenticate must be set, and
// a missing password names the environment variables that can supply it.
func (n *Node) validate(p *problems, path string, i int) {
	if !nodeNameRE.MatchString(n.Name) || len(n.Name) > maxNodeNameBytes {
		p.add(path+".name", "must be 1..%d letters, digits, '_', '.' or '-' (got %q)", maxNodeNameBytes, n.Name)
	}
	if msg := checkURL(n.RPCURL, []string{"http", "https"}); msg != "" {
		p.add(path+".rpc_url", "%s, e.g. \"http://127.0.0.1:8332\" (got %q)", msg, redactURL(n.RPCURL))
	} else if u, _ := url.Parse(n.RPCURL); n.WebsocketNotify && u.Port() == "" {
		p.add(path+".rpc_url", "must have a port with websocket_notify (the websocket dials host:port), e.g. \"http://127.0.0.1:18334\" (got %q)", redactURL(n.RPCURL))
	}
	switch {
	case n.RPCCookieFile != "" && (n.RPCUser != "" || n.RPCPassword != ""):
		p.add(path+".rpc_cookie_file", "set either rpc_cookie_file or rpc_user/rpc_password, not both")
	case n.RPCCookieFile != "":
	case n.RPCUser == "":
		p.add(path+".rpc_user", "is required unless rpc_cookie_file is set")
	case n.RPCPassword == "":
		p.add(path+".rpc_password", "is required with rpc_user: set it in the file or in $%s or $%s", EnvNodePassword(i), EnvNodeRPCPassword)
	}
	if n.ZMQHashBlock != "" {
		if msg := checkURL(n.ZMQHashBlock, []string{"tcp"}); msg != "" {
			p.add(path+".zmq_hashblock", "%s, e.g. \"tcp://127.0.0.1:28332\", or \"\" for none (got %q)", msg, n.ZMQHashBlock)
		}
	}
}

// checkURL returns why raw is not a URL with one of schemes and a host:port
// (or host) and nothing else, or "".
func checkURL(raw string, schemes []string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "must be a URL with scheme " + strings.Join(schemes, " or ")
	}
	schemeOK := false
	for _, s := range schemes {
		schemeOK = schemeOK || u.Scheme == s
	}
	switch {
	case !schemeOK:
		return "must be a URL with scheme " + strings.Join(schemes, " or ")
	case u.User != nil:
		return "must not carry credentials; use rpc_user and rpc_password"
	case u.Hostname() == "":
		return "must name a host"
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "must have a port 1..65535"
		}
	} else if u.Scheme == "tcp" {
		return "must have a port"
	}
	if u.Scheme == "tcp" && (u.Path != "" && u.Path != "/" || u.RawQuery != "") {
		return "must be tcp://host:port only"
	}
	return ""
}

// redactURL hides a password someone put in a URL before it is echoed back.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// validate checks the template section.
func (t *Template) validate(p *problems) {
	checkPositive(p, "template.refresh_interval", t.RefreshInterval)
	checkPositive(p, "template.poll_interval", t.PollInterval)
	checkPositive(p, "template.rpc_timeout", t.RPCTimeout)
}

// validate checks the redis section.
func (r *Redis) validate(p *problems) {
	r.validateConnection(p)
	if r.DB < 0 {
		p.add("redis.db", "must be >= 0 (got %d)", r.DB)
	}
	if !redisPrefixRE.MatchString(r.Prefix) || len(r.Prefix) > maxRedisPrefixBytes {
		p.add("redis.prefix", "must be 1..%d letters, digits, '_', '.', ':' or '-' (got %q)", maxRedisPrefixBytes, r.Prefix)
	}
	if r.BatchSize < 1 || r.BatchSize > maxRedisBatchSize {
		p.add("redis.batch_size", "must be 1..%d (got %d)", maxRedisBatchSize, r.BatchSize)
	}
	checkPositive(p, "redis.batch_interval", r.BatchInterval)
	if r.QueueSize < r.BatchSize || r.QueueSize > maxRedisQueueSize {
		p.add("redis.queue_size", "must be redis.batch_size (%d)..%d (got %d)", r.BatchSize, maxRedisQueueSize, r.QueueSize)
	}
}

// validate checks the log section against what the zap setup accepts.
func (l *Log) validate(p *problems) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", `must be "debug", "info", "warn" or "error" (got %q)`, l.Level)
	}
	if l.Format != "json" && l.Format != "console" {
		p.add("log.format", `must be "json" or "console" (got %q)`, l.Format)
	}
}

// checkPositive reports a duration that is not > 0.
func checkPositive[D ~int64](p *problems, field string, d D) {
	if d <= 0 {
		p.add(field, "must be a positive duration such as \"30s\" (got %s)", fmt.Sprint(d))
	}
}

// checkListen reports an address a listener cannot bind: host:port where
// the host may be empty (all interfaces) and the port may be 0 (any).
func checkListen(p *problems, field, addr, example string) {
	checkHostPort(p, field, addr, example, true)
}

// checkHostPort reports addr unless it is host:port; an empty host and port
// 0 are allowed only for listeners.
func checkHostPort(p *problems, field, addr, example string, listen bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(field, "must be host:port such as %s (got %q)", example, addr)
		return
	}
	n, err := strconv.Atoi(port)
	minPort := 1
	if listen {
		minPort = 0
	}
	if err != nil || n < minPort || n > 65535 {
		p.add(field, "port must be %d..65535 (got %q)", minPort, addr)
	}
	if host == "" && !listen {
		p.add(field, "must name a host such as %s (got %q)", example, addr)
	}
}

// quoteList renders names as "a", "b" or "c".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// validate checks the payout section. The key itself is checked by
// `tarbela config check` and the payout job, which read it.
func (po *Payout) validate(p *problems) {
	if !slices.Contains(payoutSchemes, po.Scheme) {
		p.add("payout.scheme", "must be one of %s (got %q)", quoteList(payoutSchemes), po.Scheme)
	}
	if math.IsNaN(po.PPLNSWindow) || po.PPLNSWindow <= 0 || po.PPLNSWindow > 100 {
		p.add("payout.pplns_window", "must be > 0 and at most 100 (N of N × network difficulty; got %v)", po.PPLNSWindow)
	}
	if po.MinPayout < 1 {
		p.add("payout.min_payout", "must be at least 1 satoshi (got %d)", po.MinPayout)
	}
	if po.Maturity < CoinbaseMaturity {
		p.add("payout.maturity", "must be at least %d: a coinbase cannot be spent earlier (got %d)", CoinbaseMaturity, po.Maturity)
	}
	if po.MaxOutputs < 1 || po.MaxOutputs > 2000 {
		p.add("payout.max_outputs", "must be 1..2000 (a transaction must stay standard; got %d)", po.MaxOutputs)
	}
	if math.IsNaN(po.FeeRateMin) || po.FeeRateMin < 1 {
		p.add("payout.fee_rate_min", "must be at least 1 sat/vB, the relay minimum (got %v)", po.FeeRateMin)
	}
	if math.IsNaN(po.FeeRateMax) || po.FeeRateMax < po.FeeRateMin {
		p.add("payout.fee_rate_max", "must be at least fee_rate_min %v sat/vB (got %v)", po.FeeRateMin, po.FeeRateMax)
	}
	if po.ConfTarget < 1 || po.ConfTarget > 1008 {
		p.add("payout.conf_target", "must be 1..1008 blocks (got %d)", po.ConfTarget)
	}
	switch po.Mode {
	case PayoutHot:
	case PayoutCold:
		if po.PSBTDir == "" {
			p.add("payout.psbt_dir", "is required in cold mode: the directory the unsigned PSBTs are written to")
		}
	default:
		p.add("payout.mode", "must be %q or %q (got %q)", PayoutHot, PayoutCold, po.Mode)
	}
	if po.LockTTL < time.Second {
		p.add("payout.lock_ttl", "must be at least 1s (got %v)", po.LockTTL)
	}
}
