package cpuminer

import (
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
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
	// host:port; stratum+ssl://host:port (or stratum+tls://) for Stratum
	// over TLS, whose certificate is checked against the system's roots
	// unless TLSCAFile or TLSInsecure says otherwise.
	URL string
	// TLSCAFile is a PEM file of certificates to trust instead of the
	// system's roots for a TLS pool: the pool's CA, or its self-signed
	// certificate (the devnet's devnet/tls.crt).
	TLSCAFile string
	// TLSInsecure accepts any certificate from a TLS pool: the link is
	// encrypted, but the miner cannot tell it talks to the pool it meant.
	TLSInsecure bool
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

	// tlsRoots are TLSCAFile's certificates, read by withDefaults.
	tlsRoots *x509.CertPool
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
	_, secure, err := ParseURL(o.URL)
	if err != nil {
		errs = append(errs, err)
	}
	switch {
	case err == nil && !secure && (o.TLSInsecure || o.TLSCAFile != ""):
		errs = append(errs, fmt.Errorf("miner: the TLS options (CA file, insecure) need a stratum+ssl:// pool URL, not %q", o.URL))
	case o.TLSInsecure && o.TLSCAFile != "":
		errs = append(errs, errors.New("miner: a TLS CA file and insecure TLS exclude each other: trust the CA, or accept any certificate"))
	case o.TLSCAFile != "":
		if o.tlsRoots, err = loadRoots(o.TLSCAFile); err != nil {
			errs = append(errs, err)
		}
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
// host:port; stratum+ssl://host:port or stratum+tls://host:port for TLS)
// into the host:port to dial, and whether to speak TLS.
func ParseURL(u string) (addr string, secure bool, err error) {
	addr = strings.TrimSpace(u)
	if i := strings.Index(addr, "://"); i >= 0 {
		switch scheme := strings.ToLower(addr[:i]); scheme {
		case "stratum+tcp", "stratum", "tcp":
		case "stratum+ssl", "stratum+tls", "ssl", "tls":
			secure = true
		default:
			return "", false, fmt.Errorf("miner: pool URL %q: unsupported scheme %q (want stratum+tcp, or stratum+ssl for TLS)", u, scheme)
		}
		addr = addr[i+3:]
	}
	addr = strings.TrimSuffix(addr, "/")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false, fmt.Errorf("miner: pool URL %q: want host:port: %w", u, err)
	}
	if host == "" || port == "" {
		return "", false, fmt.Errorf("miner: pool URL %q: want host:port", u)
	}
	return addr, secure, nil
}

// loadRoots reads the PEM certificates of file into a pool.
func loadRoots(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("miner: TLS CA file: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("miner: TLS CA file %s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", file)
	}
	return roots, nil
}
