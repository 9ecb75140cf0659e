package config

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
)

// Config is the whole daemon configuration. Each field's toml tag is its key
// in the file; the path used in problems joins the keys with dots.
type Config struct {
	Pool     Pool     `toml:"pool"`
	Stratum  Stratum  `toml:"stratum"`
	Nodes    []Node   `toml:"nodes"`
	Template Template `toml:"template"`
	Redis    Redis    `toml:"redis"`
	Log      Log      `toml:"log"`
	Metrics  Metrics  `toml:"metrics"`
	API      API      `toml:"api"`
	Payout   Payout   `toml:"payout"`
	// Sites and Energy configure the energy audit (docs/energy.md).
	Sites  []Site `toml:"sites"`
	Energy Energy `toml:"energy"`
}

// Pool holds what makes this pool node's blocks its own: who the coinbase
// pays, on which network, and how the coinbase scriptSig is laid out.
type Pool struct {
	// NodeID is the first byte of every extranonce1 this node hands out, so
	// that pool nodes sharing one Redis never give two miners the same work.
	NodeID int `toml:"node_id"`
	// NodeLeaseTTL is the lease on NodeID a running node keeps in Redis
	// (node:<id>:lease), renewed every third of it: a second node started
	// with the same id refuses to start, and the lease of a node that
	// crashed expires this long after its last renewal.
	NodeLeaseTTL time.Duration `toml:"node_lease_ttl"`
	// Mode is ModePool or ModeSolo.
	Mode string `toml:"mode"`
	// Network is one of the Network* names; see ChainParams.
	Network string `toml:"network"`
	// PayoutAddress receives the coinbase in pool mode and the fee in solo mode.
	PayoutAddress string `toml:"payout_address"`
	// PoolFeePercent is the pool's cut of every block: in solo mode the
	// coinbase output paid to PayoutAddress, in pool mode what the payout
	// job keeps from the block's credits.
	PoolFeePercent float64 `toml:"pool_fee_percent"`
	// CoinbaseTag is written into every coinbase scriptSig.
	CoinbaseTag string `toml:"coinbase_tag"`
	// Extranonce2Size is the number of bytes each miner rolls in the coinbase.
	Extranonce2Size int `toml:"extranonce2_size"`
}

// Stratum configures the miner-facing TCP server.
type Stratum struct {
	Listen string `toml:"listen"`
	// TLSListen is a second listener, for Stratum over TLS
	// (stratum+ssl://host:port); "" for none. Its miners share the
	// sessions, limits and bans of Listen's.
	TLSListen string `toml:"tls_listen"`
	// TLSCertFile and TLSKeyFile are the PEM certificate (chain) and
	// private key TLSListen serves; both are required with it. Validate
	// checks only that they are set: the daemon reads them (and
	// `tarbela config check` does), since this package reads no file but
	// the config.
	TLSCertFile      string        `toml:"tls_cert_file"`
	TLSKeyFile       string        `toml:"tls_key_file"`
	MaxLineBytes     int           `toml:"max_line_bytes"`
	IdleTimeout      time.Duration `toml:"idle_timeout"`
	HandshakeTimeout time.Duration `toml:"handshake_timeout"`
	WriteTimeout     time.Duration `toml:"write_timeout"`
	// ShutdownTimeout bounds a graceful stop (SIGTERM): miners are sent
	// client.reconnect and shares are flushed within it.
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"`
	SendQueue       int           `toml:"send_queue"`
	// VersionMask is the BIP310 mask offered to miners; it is written in the
	// file as 8 hex digits ("1fffe000").
	VersionMask    uint32 `toml:"version_mask,hex"`
	MaxConnections int    `toml:"max_connections"`
	// MaxConnectionsPerIP is 0 for unlimited. Mining sites put thousands of
	// ASICs behind one address, so the default is generous.
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"`
	// IPv6Prefix is the prefix length that groups IPv6 addresses for the
	// per-address limit and bans: one host is handed a whole /64, so keyed
	// by exact address it could dodge both by changing address. IPv4
	// addresses are always taken exactly.
	IPv6Prefix int `toml:"ipv6_prefix"`
	// AllowIPs are site addresses exempt from per-address limits and bans; a
	// bare address in the file is taken as a single-address prefix.
	AllowIPs []netip.Prefix `toml:"allow_ips"`
	// BanDuration is how long a flooding address is refused; 0 disables bans.
	BanDuration time.Duration `toml:"ban_duration"`
	// BanMinRejects, BanRejectRatio and BanWindow define a flood: at least
	// BanMinRejects rejected shares within BanWindow that are more than
	// BanRejectRatio of all shares.
	BanMinRejects  int           `toml:"ban_min_rejects"`
	BanRejectRatio float64       `toml:"ban_reject_ratio"`
	BanWindow      time.Duration `toml:"ban_window"`
	Difficulty     Difficulty    `toml:"difficulty"`
}

// Difficulty configures per-connection variable difficulty. Values are
// fractional because CPU miners and regtest need difficulties far below 1.
type Difficulty struct {
	Initial            float64       `toml:"initial"`
	Min                float64       `toml:"min"`
	Max                float64       `toml:"max"`
	TargetShareSeconds time.Duration `toml:"target_share_seconds"`
	RetargetInterval   time.Duration `toml:"retarget_interval"`
	// Variance is the relative deviation from the target share interval
	// tolerated before retargeting (hysteresis).
	Variance float64 `toml:"variance"`
}

// Node is one Bitcoin node the template manager may use; the first that
// answers is used and the others are fail-overs.
type Node struct {
	Name        string `toml:"name"`
	RPCURL      string `toml:"rpc_url"`
	RPCUser     string `toml:"rpc_user"`
	RPCPassword Secret `toml:"rpc_password"`
	// RPCCookieFile is Bitcoin Core's cookie auth, an alternative to
	// RPCUser/RPCPassword: the node's .cookie, read by the pool at the first
	// call and again after a 401 (Core writes a new one at every start).
	RPCCookieFile string `toml:"rpc_cookie_file"`
	// WebsocketNotify subscribes to btcd's notifyblocks.
	WebsocketNotify bool `toml:"websocket_notify"`
	// ZMQHashBlock is Bitcoin Core's zmqpubhashblock endpoint, "" for none.
	ZMQHashBlock string `toml:"zmq_hashblock"`
	Longpoll     bool   `toml:"longpoll"`
}

// Template configures how often block templates are fetched.
type Template struct {
	RefreshInterval time.Duration `toml:"refresh_interval"`
	PollInterval    time.Duration `toml:"poll_interval"`
	RPCTimeout      time.Duration `toml:"rpc_timeout"`
}

// Redis configures the shared state store and the share batcher.
type Redis struct {
	Addr          string        `toml:"addr"`
	Password      Secret        `toml:"password"`
	DB            int           `toml:"db"`
	Prefix        string        `toml:"prefix"`
	BatchSize     int           `toml:"batch_size"`
	BatchInterval time.Duration `toml:"batch_interval"`
	QueueSize     int           `toml:"queue_size"`
	// JournalPath is the local append-only file shares go to while Redis
	// is unreachable; "" puts it in the user's cache directory.
	JournalPath string `toml:"journal_path"`
	// SentinelAddrs and MasterName select a Sentinel-managed primary
	// instead of Addr: the Sentinels (host:port, at least one) are asked
	// for the primary of MasterName, and asked again after a failover.
	// SentinelPassword is the Sentinels' own requirepass, when they have
	// one (Password stays the data nodes').
	SentinelAddrs    []string `toml:"sentinel_addrs"`
	MasterName       string   `toml:"master_name"`
	SentinelPassword Secret   `toml:"sentinel_password"`
	// ClusterAddrs selects Redis Cluster instead of Addr: seed nodes,
	// host:port. The ledger's keys share one hash tag, so they live on
	// one shard (docs/redis.md, "Sentinel and Cluster").
	ClusterAddrs []string `toml:"cluster_addrs"`
	// WaitReplicas is how many replicas must hold a batch before its shares
	// are acknowledged (Redis WAIT); a batch that falls short within
	// WaitTimeout is journaled before the acknowledgement. WaitAuto (-1,
	// the default) waits for one replica while the primary reports at
	// least one connected, for none otherwise; 0 never waits.
	WaitReplicas int           `toml:"wait_replicas"`
	WaitTimeout  time.Duration `toml:"wait_timeout"`
}

// WaitAuto is redis.wait_replicas's default: wait for one replica when
// the primary has any.
const WaitAuto = -1

// Log configures the zap logger.
type Log struct {
	Level  string `toml:"level"`
	Format string `toml:"format"`
}

// Metrics configures the Prometheus endpoint.
type Metrics struct {
	// Listen is the host:port of /metrics; "" disables the endpoint.
	Listen string `toml:"listen"`
}

// API configures the HTTP JSON API and the dashboard (docs/api.md).
type API struct {
	// Listen is the host:port of the API; "" (the default) turns it off.
	Listen string `toml:"listen"`
	// TokenFile holds the admin routes' bearer token (a file readable by
	// its owner only, like the payout key); "" takes the token from
	// $TARBELA_API_TOKEN. With neither, the admin routes answer 403.
	TokenFile string `toml:"token_file"`
}

// EnvAPIToken supplies the API's admin token when api.token_file is "".
const EnvAPIToken = "TARBELA_API_TOKEN"

// Payout configures the payout job (`tarbela payout run`); see
// docs/payout.md. The daemon itself only uses Scheme (PPS/FPPS accrue per
// share) and PPLNSWindow.
type Payout struct {
	// Scheme is one of the Scheme* names.
	Scheme string `toml:"scheme"`
	// PPLNSWindow is N: the PPLNS window is N × network difficulty of work.
	PPLNSWindow float64 `toml:"pplns_window"`
	// MinPayout is the smallest balance paid, in satoshis.
	MinPayout int64 `toml:"min_payout"`
	// Maturity is the confirmations a block needs before it is credited:
	// at least the consensus coinbase maturity of 100.
	Maturity int64 `toml:"maturity"`
	// MaxOutputs bounds the outputs of one payout transaction; more
	// accounts make more transactions.
	MaxOutputs int `toml:"max_outputs"`
	// FeeRateMin and FeeRateMax bound the node's fee estimate, in sat/vB;
	// FeeRateMin is used when the node has no estimate.
	FeeRateMin float64 `toml:"fee_rate_min"`
	FeeRateMax float64 `toml:"fee_rate_max"`
	// ConfTarget is the confirmation target asked of the fee estimator.
	ConfTarget int `toml:"conf_target"`
	// Mode is PayoutHot (sign with the key and broadcast) or PayoutCold
	// (write an unsigned PSBT to PSBTDir for an offline signer).
	Mode string `toml:"mode"`
	// KeyFile holds the WIF of payout_address's key (hot mode); "" takes
	// it from $TARBELA_PAYOUT_KEY.
	KeyFile string `toml:"key_file"`
	// PSBTDir is where cold mode writes its PSBTs.
	PSBTDir string `toml:"psbt_dir"`
	// LockTTL is the lease of the one-runner lock; a run renews it.
	LockTTL time.Duration `toml:"lock_ttl"`
}

// Payout schemes and modes.
const (
	SchemePPLNS = "pplns"
	SchemePROP  = "prop"
	SchemePPS   = "pps"
	SchemeFPPS  = "fpps"
	SchemeSOLO  = "solo"
	PayoutHot   = "hot"
	PayoutCold  = "cold"
	// EnvPayoutKey supplies the payout key when payout.key_file is "".
	EnvPayoutKey = "TARBELA_PAYOUT_KEY"
	// CoinbaseMaturity is the consensus rule: a coinbase output may be
	// spent once it has this many confirmations.
	CoinbaseMaturity = 100
)

var payoutSchemes = []string{SchemePPLNS, SchemePROP, SchemePPS, SchemeFPPS, SchemeSOLO}

// Secret is a password. Its String, GoString and MarshalText hide the value
// so that logging or dumping a Config never leaks it; use string(s) to read it.
type Secret string

// redacted is what a non-empty Secret prints as.
const redacted = "[redacted]"

// String hides the secret from fmt verbs %v and %s.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString hides the secret from %#v.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalText hides the secret from encoders (zap, JSON, TOML).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Payout modes.
const (
	ModePool = "pool"
	ModeSolo = "solo"
)

// Network names accepted in pool.network.
const (
	NetworkMainnet  = "mainnet"
	NetworkTestnet  = "testnet" // testnet3
	NetworkTestnet4 = "testnet4"
	NetworkSignet   = "signet"
	NetworkRegtest  = "regtest"
)

// networks maps pool.network names to btcd's parameters; the order of
// networkNames is the order problems list them in.
var (
	networks = map[string]*chaincfg.Params{
		NetworkMainnet:  &chaincfg.MainNetParams,
		NetworkTestnet:  &chaincfg.TestNet3Params,
		NetworkTestnet4: &chaincfg.TestNet4Params,
		NetworkSignet:   &chaincfg.SigNetParams,
		NetworkRegtest:  &chaincfg.RegressionNetParams,
	}
	networkNames = []string{NetworkMainnet, NetworkTestnet, NetworkTestnet4, NetworkSignet, NetworkRegtest}
)

// Environment variables that override or supply secrets. Per-node variables
// take the node's 0-based index: TARBELA_NODE_0_RPC_PASSWORD.
const (
	EnvNodeRPCPassword  = "TARBELA_NODE_RPC_PASSWORD"
	EnvRedisPassword    = "TARBELA_REDIS_PASSWORD"
	envNodePasswordFmt  = "TARBELA_NODE_%d_RPC_PASSWORD"
	defaultNodeName     = "node%d"
	defaultStratumPort  = "0.0.0.0:3333"
	defaultMetricsAddr  = "127.0.0.1:9100"
	defaultRedisAddr    = "127.0.0.1:6379"
	defaultNodeRPCURL   = "http://127.0.0.1:8332"
	defaultVersionMask  = 0x1fffe000
	defaultCoinbaseTag  = "/tarbela/"
	defaultRedisPrefix  = "tarbela"
	defaultLogLevel     = "info"
	defaultLogFormat    = "json"
	defaultNetwork      = NetworkMainnet
	defaultExtranonce2  = 8
	defaultMaxLineBytes = 4096
)

// EnvNodePassword is the variable that supplies nodes[i].rpc_password.
func EnvNodePassword(i int) string { return fmt.Sprintf(envNodePasswordFmt, i) }

// Default returns the configuration used for every key the file leaves out.
// It is not valid by itself: pool mode needs a payout address and the default
// node needs credentials.
func Default() *Config {
	return &Config{
		Pool: Pool{
			NodeID:          1,
			NodeLeaseTTL:    15 * time.Second,
			Mode:            ModePool,
			Network:         defaultNetwork,
			CoinbaseTag:     defaultCoinbaseTag,
			Extranonce2Size: defaultExtranonce2,
		},
		Stratum: Stratum{
			Listen:              defaultStratumPort,
			MaxLineBytes:        defaultMaxLineBytes,
			IdleTimeout:         10 * time.Minute,
			HandshakeTimeout:    60 * time.Second,
			WriteTimeout:        10 * time.Second,
			ShutdownTimeout:     15 * time.Second,
			SendQueue:           64,
			VersionMask:         defaultVersionMask,
			MaxConnections:      100000,
			MaxConnectionsPerIP: 10000,
			IPv6Prefix:          64,
			BanDuration:         10 * time.Minute,
			BanMinRejects:       100,
			BanRejectRatio:      0.9,
			BanWindow:           time.Minute,
			Difficulty: Difficulty{
				Initial:            16384,
				Min:                0.001,
				Max:                1e15,
				TargetShareSeconds: 10 * time.Second,
				RetargetInterval:   60 * time.Second,
				Variance:           0.3,
			},
		},
		Nodes: []Node{defaultNamedNode(0)},
		Template: Template{
			RefreshInterval: 30 * time.Second,
			PollInterval:    2 * time.Second,
			RPCTimeout:      10 * time.Second,
		},
		Redis: Redis{
			Addr:          defaultRedisAddr,
			Prefix:        defaultRedisPrefix,
			BatchSize:     512,
			BatchInterval: 10 * time.Millisecond,
			QueueSize:     65536,
			WaitReplicas:  WaitAuto,
			WaitTimeout:   time.Second,
		},
		Log:     Log{Level: defaultLogLevel, Format: defaultLogFormat},
		Metrics: Metrics{Listen: defaultMetricsAddr},
		Energy:  Energy{Grace: 10 * time.Minute, CloseInterval: time.Minute, Bucket: time.Minute},
		Payout: Payout{
			Scheme:      SchemePPLNS,
			PPLNSWindow: 2,
			MinPayout:   100000,
			Maturity:    CoinbaseMaturity,
			MaxOutputs:  250,
			FeeRateMin:  1,
			FeeRateMax:  200,
			ConfTarget:  6,
			Mode:        PayoutHot,
			LockTTL:     time.Minute,
		},
	}
}

// DefaultNode is what each [[nodes]] entry starts from before its keys are
// applied. Its name is filled in from its index when left empty.
func DefaultNode() Node {
	return Node{RPCURL: defaultNodeRPCURL, Longpoll: true}
}

// defaultNamedNode is DefaultNode named after index i.
func defaultNamedNode(i int) Node {
	n := DefaultNode()
	n.Name = fmt.Sprintf(defaultNodeName, i)
	return n
}

// ChainParams returns btcd's parameters for pool.network, or nil when the
// name is not one of the Network* constants (Validate reports that).
func (c *Config) ChainParams() *chaincfg.Params { return networks[c.Pool.Network] }

// Load reads the TOML file at path, applies secrets from the process
// environment, fills defaults and validates. A *ValidationError (reachable
// with errors.As) lists every problem found.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	c, err := Parse(data, os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes TOML data over Default, applies secrets from env (nil means no
// environment) and validates. TOML syntax errors are returned as they come
// from the TOML decoder (with line and column); everything else — unknown
// keys, wrong types, invalid values — is collected into one *ValidationError.
func Parse(data []byte, env func(string) string) (*Config, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	raw, err := decodeTOML(data)
	if err != nil {
		return nil, err
	}
	loc := newLocator(data)
	c := Default()
	var probs problems
	decodeConfig(raw, c, &probs)
	c.applyEnv(env)
	c.fillNodeNames()
	c.Redis.dropDefaultAddr(raw)
	// A field that failed to decode keeps its default (or a zero slice
	// element); validating it or what it contains would only repeat the
	// problem.
	decodeProblems := len(probs)
	var checked problems
	c.validate(&checked)
	for _, pr := range checked {
		if !underAny(pr.Field, probs[:decodeProblems]) {
			probs = append(probs, pr)
		}
	}
	if len(probs) == 0 {
		return c, nil
	}
	for i := range probs {
		if line := loc.line(probs[i].Field); line > 0 {
			probs[i].Message += fmt.Sprintf(" (line %d)", line)
		}
	}
	return nil, &ValidationError{Problems: probs}
}

// underAny reports whether field is, or lies inside, a field of ps.
func underAny(field string, ps []Problem) bool {
	for _, p := range ps {
		if field == p.Field || strings.HasPrefix(field, p.Field) && strings.ContainsAny(field[len(p.Field):len(p.Field)+1], ".[") {
			return true
		}
	}
	return false
}

// applyEnv supplies secrets from the environment: a node's own variable
// overrides its file value, the shared node variable fills only nodes that
// have neither a password nor a cookie file, and the Redis variable overrides.
func (c *Config) applyEnv(env func(string) string) {
	shared := env(EnvNodeRPCPassword)
	for i := range c.Nodes {
		n := &c.Nodes[i]
		if v := env(EnvNodePassword(i)); v != "" {
			n.RPCPassword = Secret(v)
		} else if n.RPCPassword == "" && n.RPCCookieFile == "" && shared != "" {
			n.RPCPassword = Secret(shared)
		}
	}
	if v := env(EnvRedisPassword); v != "" {
		c.Redis.Password = Secret(v)
	}
}

// fillNodeNames names unnamed nodes after their index so logs and metrics
// can always tell them apart.
func (c *Config) fillNodeNames() {
	for i := range c.Nodes {
		if c.Nodes[i].Name == "" {
			c.Nodes[i].Name = fmt.Sprintf(defaultNodeName, i)
		}
	}
}
