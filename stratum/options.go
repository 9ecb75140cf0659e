package stratum

import (
	"errors"
	"fmt"
	"math"
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

	DefaultInitialDifficulty = 1024
	DefaultMinDifficulty     = 1
	DefaultMaxDifficulty     = 1 << 52
	DefaultTargetInterval    = 10 * time.Second
	DefaultRetargetInterval  = 60 * time.Second
	DefaultVariance          = 0.3
)

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
	// VersionMask is the server's BIP310 mask (default 0x1fffe000); a
	// miner gets VersionMask & its own mask.
	VersionMask uint32
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
