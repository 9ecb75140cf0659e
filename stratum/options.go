package stratum

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/share"
)

// Defaults applied by NewServer to zero-valued Options fields.
const (
	DefaultExtranonce2Size  = 8
	DefaultVersionMask      = 0x1fffe000
	DefaultMaxLineBytes     = 4096
	DefaultIdleTimeout      = 10 * time.Minute
	DefaultHandshakeTimeout = 60 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultSendQueue        = 64

	DefaultMaxConnections = 100000
	DefaultBanMinRejects  = 100
	DefaultBanRejectRatio = 0.9
	DefaultBanWindow      = time.Minute
	DefaultIPv6Prefix     = 64

	DefaultInitialDifficulty = 1024
	DefaultMinDifficulty     = 1
	DefaultMaxDifficulty     = 1 << 52
	DefaultTargetInterval    = 10 * time.Second
	DefaultRetargetInterval  = 60 * time.Second
	DefaultVariance          = 0.3
)

// minIPv6Prefix is the shortest accepted IPv6Prefix: a /32 is typically a
// whole ISP's allocation, so a shorter prefix would put strangers under one
// limit and one ban.
const minIPv6Prefix = 32

// minLineBytes is the smallest accepted MaxLineBytes: a mining.submit with a
// long worker name must still fit.
const minLineBytes = 256

// Authorizer validates miner usernames. Package pool satisfies it; it is
// declared here, where it is consumed, so that stratum does not import pool.
type Authorizer interface {
	// Authorize validates a username ("address" or "address.worker") and
	// returns the worker; the error text is sent to the miner.
	Authorize(username string) (*share.Worker, error)
}

// DifficultyOptions configures per-session difficulty. Zero fields take the
// Default* values; fractional difficulties (far below 1) are allowed because
// CPU miners and regtest need them.
type DifficultyOptions struct {
	// Initial is the difficulty a session starts at (default 1024).
	Initial float64
	// Min and Max bound vardiff, suggestions and d=N passwords (defaults 1
	// and 2^52; Min defaults to Initial when Initial is below 1).
	Min, Max float64
	// TargetInterval is the share interval vardiff steers toward
	// (default 10s).
	TargetInterval time.Duration
	// RetargetInterval is how long a session's shares are observed before
	// vardiff decides (default 60s). A session that sends many shares
	// quickly is retargeted earlier.
	RetargetInterval time.Duration
	// Variance is the hysteresis: no change while the observed interval is
	// within TargetInterval·(1±Variance) (default 0.3, range [0,1)).
	Variance float64
}

// Options configures a Server. Zero fields take the documented defaults;
// Listen, Validator and Auth are required.
type Options struct {
	// Listen is the TCP address to listen on ("127.0.0.1:0" in tests).
	Listen string
	// TLSListen, when not empty, is a second address to listen on, for
	// Stratum over TLS (stratum+ssl://); its miners share everything
	// with Listen's (sessions, limits, bans, extranonce1s). See tls.go.
	TLSListen string
	// TLSConfig is the TLS listener's configuration (its certificate);
	// required with TLSListen. MinVersion is raised to TLS 1.2.
	TLSConfig *tls.Config
	// NodeID is the first byte of every extranonce1, so that several pool
	// nodes behind one load balancer never hand out the same one.
	NodeID byte
	// Extranonce2Size is the extranonce2 length in bytes (default 8,
	// range 1..32); it must match the jobs' Extranonce2Size.
	Extranonce2Size int
	// Validator judges shares.
	Validator *share.Validator
	// Auth validates usernames.
	Auth Authorizer
	// Site, when set, names the energy site of a worker as it authorizes:
	// its account, its full username and the connection's remote address
	// (invalid when the connection has none, e.g. a pipe). It is called
	// once per authorize, never per share; the name goes into the share
	// records (share.Worker.Site). Nil leaves every worker "unassigned".
	Site func(account, worker string, addr netip.Addr) string
	// VersionMask is the server's BIP310 mask (default 0x1fffe000); a
	// miner gets VersionMask & its own mask.
	VersionMask uint32
	// DisableVersionRolling turns version rolling off: mining.configure
	// answers "version-rolling": false and VersionMask is not used. (A zero
	// VersionMask means the default mask, so it cannot say this.)
	DisableVersionRolling bool
	// Difficulty configures vardiff.
	Difficulty DifficultyOptions
	// MaxLineBytes caps one request line including its newline (default
	// 4096, at least 256); a longer line closes the connection.
	MaxLineBytes int
	// IdleTimeout closes a connection that sends no complete line for this
	// long (default 10m).
	IdleTimeout time.Duration
	// HandshakeTimeout closes a connection that has not both subscribed
	// and authorized this long after connecting (default 60s), so that
	// idle sockets cannot hold connection slots for the full IdleTimeout.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one socket write (default 10s); a miner that
	// does not read is dropped when it expires.
	WriteTimeout time.Duration
	// SendQueue is the outbound queue length per connection (default 64);
	// when it is full the connection is dropped as a slow consumer.
	SendQueue int
	// MaxConnections caps the open connections of this server (default
	// 100000); a connection over it is closed at once. Keep it below the
	// process's open-file limit so that the pool refuses cheaply instead of
	// failing accept.
	MaxConnections int
	// MaxConnectionsPerIP caps the open connections from one remote
	// address; 0 is unlimited (the zero value, as in the config file).
	// Mining sites put thousands of ASICs behind one address: set it
	// generously and list site addresses in AllowIPs.
	MaxConnectionsPerIP int
	// IPv6Prefix is how many leading bits of an IPv6 remote address make
	// the "address" that MaxConnectionsPerIP and bans apply to (default
	// 64, range 32..128; 128 is the exact address). An ISP hands each
	// customer at least a /64, so keyed by exact address one host could
	// open unlimited connections and dodge a ban by changing address.
	// IPv4 addresses, also IPv4-mapped ones, are always taken exactly.
	// It is fixed for the server's life (see Reload).
	IPv6Prefix int
	// AllowIPs are site addresses exempt from MaxConnectionsPerIP and from
	// bans (they still count toward MaxConnections, and a flooding
	// connection from them is still disconnected).
	AllowIPs []netip.Prefix
	// BanDuration is how long an address whose connections flood rejected
	// shares is refused; 0 (the zero value, as in the config file) disables
	// bans. A flooding connection is disconnected first; its address is
	// banned only when the address as a whole floods (see BanMinRejects).
	BanDuration time.Duration
	// BanMinRejects and BanRejectRatio define a flood: within BanWindow, at
	// least BanMinRejects rejected shares (invalid, duplicate, stale,
	// unauthorized...) that are more than BanRejectRatio of all its shares.
	// A connection that floods is disconnected; an address whose
	// connections together flood is banned for BanDuration and its
	// connections closed. A broken machine behind a site's NAT is thus
	// dropped while the site's honest shares keep its address below the
	// ratio. Defaults: 100 rejects, ratio 0.9 (range [0,1)).
	BanMinRejects  int
	BanRejectRatio float64
	// BanWindow is the tally window of the flood rule (default 1m); it
	// starts at a rejected share.
	BanWindow time.Duration
	// Log receives the server's logs (zap.NewNop() by default); per-share
	// logs are at debug level only.
	Log *zap.Logger
}

// withDefaults returns o with zero fields filled in.
func (o Options) withDefaults() Options {
	if o.Extranonce2Size == 0 {
		o.Extranonce2Size = DefaultExtranonce2Size
	}
	if o.VersionMask == 0 {
		o.VersionMask = DefaultVersionMask
	}
	if o.MaxLineBytes == 0 {
		o.MaxLineBytes = DefaultMaxLineBytes
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.SendQueue == 0 {
		o.SendQueue = DefaultSendQueue
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.BanMinRejects == 0 {
		o.BanMinRejects = DefaultBanMinRejects
	}
	if o.BanRejectRatio == 0 {
		o.BanRejectRatio = DefaultBanRejectRatio
	}
	if o.BanWindow == 0 {
		o.BanWindow = DefaultBanWindow
	}
	if o.IPv6Prefix == 0 {
		o.IPv6Prefix = DefaultIPv6Prefix
	}
	if len(o.AllowIPs) > 0 {
		o.AllowIPs = normalizePrefixes(o.AllowIPs)
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	d := &o.Difficulty
	if d.Initial == 0 {
		d.Initial = DefaultInitialDifficulty
	}
	if d.Min == 0 {
		d.Min = math.Min(DefaultMinDifficulty, d.Initial)
	}
	if d.Max == 0 {
		d.Max = math.Max(DefaultMaxDifficulty, d.Initial)
	}
	if d.TargetInterval == 0 {
		d.TargetInterval = DefaultTargetInterval
	}
	if d.RetargetInterval == 0 {
		d.RetargetInterval = DefaultRetargetInterval
	}
	if d.Variance == 0 {
		d.Variance = DefaultVariance
	}
	return o
}

// validate reports every bad field at once, each by its name.
func (o *Options) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("stratum: Options.%s: "+format, append([]any{field}, args...)...))
	}
	if o.Listen == "" {
		bad("Listen", "required")
	}
	if o.Validator == nil {
		bad("Validator", "required")
	}
	if o.Auth == nil {
		bad("Auth", "required")
	}
	o.validateTLS(bad)
	if o.Extranonce2Size < 1 || o.Extranonce2Size > 32 {
		bad("Extranonce2Size", "%d: want 1..32", o.Extranonce2Size)
	}
	if o.MaxLineBytes < minLineBytes {
		bad("MaxLineBytes", "%d: want at least %d", o.MaxLineBytes, minLineBytes)
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"IdleTimeout", o.IdleTimeout}, {"HandshakeTimeout", o.HandshakeTimeout}, {"WriteTimeout", o.WriteTimeout},
		{"BanDuration", o.BanDuration}, {"BanWindow", o.BanWindow},
		{"Difficulty.TargetInterval", o.Difficulty.TargetInterval},
		{"Difficulty.RetargetInterval", o.Difficulty.RetargetInterval},
	} {
		if f.v < 0 {
			bad(f.name, "%v: must be positive", f.v)
		}
	}
	if o.SendQueue < 2 {
		bad("SendQueue", "%d: want at least 2", o.SendQueue)
	}
	if o.MaxConnections < 1 {
		bad("MaxConnections", "%d: want at least 1", o.MaxConnections)
	}
	if o.MaxConnectionsPerIP < 0 {
		bad("MaxConnectionsPerIP", "%d: want 0 (unlimited) or more", o.MaxConnectionsPerIP)
	}
	if o.IPv6Prefix < minIPv6Prefix || o.IPv6Prefix > 128 {
		bad("IPv6Prefix", "%d: want %d..128", o.IPv6Prefix, minIPv6Prefix)
	}
	for i, p := range o.AllowIPs {
		if !p.IsValid() {
			bad(fmt.Sprintf("AllowIPs[%d]", i), "not a valid prefix")
		}
	}
	if o.BanMinRejects < 1 {
		bad("BanMinRejects", "%d: want at least 1", o.BanMinRejects)
	}
	if o.BanRejectRatio < 0 || o.BanRejectRatio >= 1 || math.IsNaN(o.BanRejectRatio) {
		bad("BanRejectRatio", "%v: want 0 <= ratio < 1", o.BanRejectRatio)
	}
	d := &o.Difficulty
	for _, f := range []struct {
		name string
		v    float64
	}{{"Difficulty.Initial", d.Initial}, {"Difficulty.Min", d.Min}, {"Difficulty.Max", d.Max}} {
		if !(f.v > 0) || math.IsInf(f.v, 0) {
			bad(f.name, "%v: want a positive finite number", f.v)
		} else if _, err := share.TargetFromDifficulty(f.v); err != nil {
			bad(f.name, "%w", err)
		}
	}
	if d.Min > d.Max {
		bad("Difficulty.Min", "%v is above Difficulty.Max %v", d.Min, d.Max)
	}
	if d.Initial < d.Min || d.Initial > d.Max {
		bad("Difficulty.Initial", "%v is outside [Min %v, Max %v]", d.Initial, d.Min, d.Max)
	}
	if d.Variance < 0 || d.Variance >= 1 || math.IsNaN(d.Variance) {
		bad("Difficulty.Variance", "%v: want 0 <= v < 1", d.Variance)
	}
	return errors.Join(errs...)
}

// normalizePrefixes returns a copy of ps with host bits cleared and IPv4 held
// as IPv4 (an IPv4-mapped IPv6 prefix such as ::ffff:10.0.0.0/104 becomes
// 10.0.0.0/8), because remote addresses are compared unmapped. Invalid
// prefixes are kept as they are for validate to report.
func normalizePrefixes(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, len(ps))
	for i, p := range ps {
		if !p.IsValid() {
			out[i] = p
			continue
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out[i] = p.Masked()
	}
	return out
}
