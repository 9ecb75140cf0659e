package loadgen

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"go.uber.org/zap"
)

// Defaults for zero Options fields.
const (
	DefaultDuration    = 30 * time.Second
	DefaultMiners      = 100
	DefaultRate        = 1.0
	DefaultSources     = 16
	DefaultUser        = "bench.{i}"
	DefaultPass        = "x"
	DefaultMaxHashes   = 1 << 22
	DefaultDrain       = 2 * time.Second
	DefaultDialTimeout = 10 * time.Second
	DefaultIOTimeout   = 10 * time.Second
)

// MaxSources caps Options.Sources: 127.0.0.2 up to 127.0.255.255.
const MaxSources = 1<<16 - 2

// Options configures a Run. Zero fields take the Default* values.
type Options struct {
	// Pool is the pool's host:port (a stratum+tcp:// prefix is allowed).
	Pool string
	// AllowRemote permits a pool address outside the loopback range. The
	// tool is a load generator: by default it refuses to aim at another
	// machine.
	AllowRemote bool
	// Duration is how long the run lasts from the first dial to the stop
	// (default 30s). Submitting stops then; replies are awaited for Drain
	// more.
	Duration time.Duration
	// Drain is how long pending submits may wait for replies after the
	// run (default 2s); those still unanswered are counted as lost.
	Drain time.Duration
	// Miners is the number of simulated miners (default 100).
	Miners int
	// FirstIndex is the index of the first miner, so that several
	// processes use distinct worker names ({i} in User).
	FirstIndex int
	// Rate is shares per second per miner (default 1; a negative rate
	// means none: the miners only connect and follow work).
	Rate float64
	// Ramp is new connections per second (0: as fast as the dialers go).
	Ramp float64
	// Sources is how many loopback source addresses the miners are spread
	// over, starting at SourceBase (default 16). 0 with a non-loopback pool
	// lets the kernel choose.
	Sources int
	// SourceBase is the first source address (default 127.0.0.2).
	SourceBase netip.Addr
	// User is the username template: {i} is replaced by the miner's index
	// (default "bench.{i}").
	User string
	// Pass is the password (default "x"; e.g. "d=1e-9" asks Tarbela for a
	// fixed difficulty).
	Pass string
	// VersionRolling sends mining.configure with version-rolling.
	VersionRolling bool
	// SuggestDifficulty, when positive, is sent as mining.suggest_difficulty
	// before authorizing.
	SuggestDifficulty float64
	// MaxHashes caps the nonce search of one share (default 2^22); a share
	// that needs more is skipped and counted, so a pool at a difficulty too
	// high for a load test cannot turn the tool into a CPU miner.
	MaxHashes uint64
	// Workers is the number of share-building goroutines (default
	// GOMAXPROCS); each owns a nonce scanner.
	Workers int
	// DialTimeout and IOTimeout bound one dial and each handshake reply or
	// write (default 10s each).
	DialTimeout time.Duration
	IOTimeout   time.Duration

	// RPC, when URL is set, makes the tool generate blocks on a btcd or
	// Bitcoin Core regtest node to time notify fan-out.
	RPC RPCOptions
	// BlockEvery is the interval between generated blocks (default 5s when
	// RPC.URL is set); the first comes after the ramp.
	BlockEvery time.Duration

	// PoolPID, when positive, is the pool's process id: its VmRSS is read
	// from /proc before the first dial and at the end of the run.
	PoolPID int

	// Progress, when positive, is the interval of progress lines written
	// to the logger at info level.
	Progress time.Duration
	// Log receives the tool's logs (zap.NewNop() by default).
	Log *zap.Logger
}

// RPCOptions reaches a node's JSON-RPC.
type RPCOptions struct {
	URL, User, Pass string
}

// withDefaults fills zero fields.
func (o Options) withDefaults() Options {
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Drain == 0 {
		o.Drain = DefaultDrain
	}
	if o.Miners == 0 {
		o.Miners = DefaultMiners
	}
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.User == "" {
		o.User = DefaultUser
	}
	if o.Pass == "" {
		o.Pass = DefaultPass
	}
	if o.MaxHashes == 0 {
		o.MaxHashes = DefaultMaxHashes
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.IOTimeout == 0 {
		o.IOTimeout = DefaultIOTimeout
	}
	if !o.SourceBase.IsValid() {
		o.SourceBase = netip.AddrFrom4([4]byte{127, 0, 0, 2})
	}
	if o.RPC.URL != "" && o.BlockEvery == 0 {
		o.BlockEvery = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	o.Pool = strings.TrimPrefix(o.Pool, "stratum+tcp://")
	return o
}

// validate names every bad field at once.
func (o *Options) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	host, _, err := net.SplitHostPort(o.Pool)
	if err != nil {
		bad("pool: %q is not host:port", o.Pool)
	} else if !o.AllowRemote && !isLoopback(host) {
		bad("pool: %s is not a loopback address (the tool only loads this machine unless remote targets are allowed)", host)
	}
	if o.Duration < 0 || o.Drain < 0 || o.DialTimeout < 0 || o.IOTimeout < 0 || o.BlockEvery < 0 || o.Progress < 0 {
		bad("durations must not be negative")
	}
	if o.Miners < 0 {
		bad("miners: %d is negative", o.Miners)
	}
	if o.FirstIndex < 0 {
		bad("first index: %d is negative", o.FirstIndex)
	}
	if o.Rate > 1000 {
		bad("rate: %g shares/s per miner is past the tool's 1000/s cap", o.Rate)
	}
	if o.Ramp < 0 {
		bad("ramp: %g is negative", o.Ramp)
	}
	if o.Sources < 0 || o.Sources > MaxSources {
		bad("sources: %d is outside 0..%d", o.Sources, MaxSources)
	}
	if o.Sources > 0 && (!o.SourceBase.Is4() || !o.SourceBase.IsLoopback()) {
		bad("source base: %s is not an IPv4 loopback address", o.SourceBase)
	}
	if o.Sources > 0 && o.SourceBase.Is4() {
		last := o.SourceBase.As4()
		if (uint32(last[2])<<8|uint32(last[3]))+uint32(o.Sources-1) > 0xffff {
			bad("sources: %d addresses from %s leave 127.0.0.0/16", o.Sources, o.SourceBase)
		}
	}
	if o.Workers < 0 {
		bad("workers: %d is negative", o.Workers)
	}
	if o.SuggestDifficulty < 0 {
		bad("suggest difficulty: %g is negative", o.SuggestDifficulty)
	}
	return errors.Join(errs...)
}

// isLoopback reports whether host is a loopback IP or "localhost".
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// sourceAddr returns the source address of miner n (0-based within the
// run), or nil when the kernel chooses.
func (o *Options) sourceAddr(n int) *net.TCPAddr {
	if o.Sources == 0 {
		return nil
	}
	b := o.SourceBase.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n % o.Sources)
	return &net.TCPAddr{IP: net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v))}
}

// userFor returns miner n's username.
func (o *Options) userFor(n int) string {
	return strings.ReplaceAll(o.User, "{i}", fmt.Sprint(o.FirstIndex+n))
}
