package cpuminer

import (
	"errors"
	"fmt"
	"math"
	"net"
	"runtime"
	"strings"
	"time"

	"go.uber.org/zap"
)

// UserAgent is what the miner sends as the first mining.subscribe
// parameter, so pool operators can tell its shares apart.
const UserAgent = "tarbela-miner/0.1"

// Options configures a Miner. The zero value of every field but URL and User
// has a usable default.
type Options struct {
	// URL is the pool: stratum+tcp://host:port, tcp://host:port or plain
	// host:port.
	URL string
	// User and Pass are the mining.authorize credentials; Pass defaults
	// to "x", the customary placeholder.
	User, Pass string
	// Threads is the number of mining threads; 0 means one per usable
	// core (GOMAXPROCS).
	Threads int
	// VersionRolling asks the pool for BIP310 version rolling.
	VersionRolling bool
	// SuggestDifficulty, when positive, is sent as
	// mining.suggest_difficulty before authorizing.
	SuggestDifficulty float64
	// Log receives the miner's logs; nil means zap.NewNop().
	Log *zap.Logger

	// IdleTimeout drops a connection on which the pool sent nothing for
	// this long; 0 means 5 minutes. Pools send a job at least every
	// minute or so, so silence this long means a dead link.
	IdleTimeout time.Duration
	// RetryMin and RetryMax bound the reconnect backoff; 0 means 250 ms
	// and 30 s.
	RetryMin, RetryMax time.Duration
}

// Option defaults.
const (
	defaultIdleTimeout = 5 * time.Minute
	defaultRetryMin    = 250 * time.Millisecond
	defaultRetryMax    = 30 * time.Second
)

// withDefaults validates o and fills in its defaults. It reports every bad
// field at once.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if _, err := ParseURL(o.URL); err != nil {
		errs = append(errs, err)
	}
	if o.User == "" {
		errs = append(errs, errors.New("miner: user is required"))
	}
	if o.Threads < 0 {
		errs = append(errs, fmt.Errorf("miner: threads %d is negative", o.Threads))
	}
	if o.SuggestDifficulty < 0 || math.IsNaN(o.SuggestDifficulty) || math.IsInf(o.SuggestDifficulty, 0) {
		errs = append(errs, fmt.Errorf("miner: suggested difficulty %v is not a positive finite number", o.SuggestDifficulty))
	}
	if o.IdleTimeout < 0 || o.RetryMin < 0 || o.RetryMax < 0 {
		errs = append(errs, errors.New("miner: timeouts must not be negative"))
	}
	if len(errs) > 0 {
		return o, errors.Join(errs...)
	}
	if o.Pass == "" {
		o.Pass = "x"
	}
	if o.Threads == 0 {
		o.Threads = runtime.GOMAXPROCS(0)
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = defaultIdleTimeout
	}
	if o.RetryMin == 0 {
		o.RetryMin = defaultRetryMin
	}
	if o.RetryMax == 0 {
		o.RetryMax = defaultRetryMax
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = o.RetryMin
	}
	return o, nil
}

// ParseURL turns a pool URL (stratum+tcp://host:port, tcp://host:port or
// host:port) into the host:port to dial. TLS schemes are refused rather than
// silently spoken in clear.
func ParseURL(u string) (string, error) {
	addr := strings.TrimSpace(u)
	if i := strings.Index(addr, "://"); i >= 0 {
		switch scheme := strings.ToLower(addr[:i]); scheme {
		case "stratum+tcp", "stratum", "tcp":
			addr = addr[i+3:]
		default:
			return "", fmt.Errorf("miner: pool URL %q: unsupported scheme %q (want stratum+tcp)", u, scheme)
		}
	}
	addr = strings.TrimSuffix(addr, "/")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("miner: pool URL %q: want host:port: %w", u, err)
	}
	if host == "" || port == "" {
		return "", fmt.Errorf("miner: pool URL %q: want host:port", u)
	}
	return addr, nil
}
