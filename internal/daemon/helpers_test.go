package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"
	"github.com/btcsuite/btcd/txscript/v2"
	"github.com/btcsuite/btcd/wire/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tarbela-pool/tarbela/config"
	"github.com/tarbela-pool/tarbela/internal/cpuminer"
	"github.com/tarbela-pool/tarbela/internal/daemon"
	"github.com/tarbela-pool/tarbela/internal/devnet"
	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/localnet/localnettest"
	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// Addresses of the tests, derived from fixed seeds so the tests can sign
// with their keys: btcd's own `generate` pays nodeAddr, the pool's coinbase
// (pool mode) and fee (solo mode) pay poolAddr, a solo miner authorizes
// with minerAddr.
var (
	nodeAddr  = localnet.RegtestAddress(1)
	poolAddr  = localnet.RegtestAddress(2)
	minerAddr = localnet.RegtestAddress(10)
)

// testTimeout bounds each test's waits; the tests finish far sooner, the
// bound only turns a hang into a failure.
const testTimeout = 90 * time.Second

// poolOptions is what differs between the tests' pools.
type poolOptions struct {
	// mode is config.ModePool (default) or config.ModeSolo.
	mode string
	// feePercent is the solo pool fee.
	feePercent float64
	// difficulty is the initial and minimum share difficulty (0.002 by
	// default: a CPU miner thread finds a share, which on regtest is a
	// block, every second or so).
	difficulty float64
	// maxDifficulty pins vardiff at difficulty when zero; a d=N password
	// above it is clamped to it.
	maxDifficulty float64
	// nodeAddr is btcd's --miningaddr (nodeAddr by default).
	nodeAddr string
	// configure, when set, adjusts the config before the pool starts.
	configure func(*config.Config)
}

// testPool is one running pool with its own btcd and redis-server.
type testPool struct {
	d     *daemon.Daemon
	node  *localnet.Btcd
	redis *localnet.Redis
	cfg   *config.Config
	logs  *logBuffer
	// startHeight is the node's height when the pool started.
	startHeight int64
}

// startPool starts btcd --regtest, redis-server and the daemon for t; all
// of it is stopped when t ends. before, when set, runs against the node
// before the pool starts (to mine blocks with btcd's generate, say).
func startPool(t *testing.T, o poolOptions, before func(*localnet.Btcd)) *testPool {
	t.Helper()
	if o.mode == "" {
		o.mode = config.ModePool
	}
	if o.difficulty == 0 {
		o.difficulty = 0.002
	}
	if o.maxDifficulty == 0 {
		o.maxDifficulty = o.difficulty
	}
	if o.nodeAddr == "" {
		o.nodeAddr = nodeAddr
	}
	node := localnettest.StartBtcd(t, localnet.BtcdOptions{MiningAddr: o.nodeAddr})
	if before != nil {
		before(node)
	}
	rds := startRedis(t)

	cfg := devnet.Config(devnet.Options{Mode: o.mode, Difficulty: o.difficulty, Stratum: "127.0.0.1:0"}, node, rds.Addr, poolAddr)
	cfg.Pool.PoolFeePercent = o.feePercent
	cfg.Redis.JournalPath = filepath.Join(t.TempDir(), "journal.log")
	cfg.Stratum.Difficulty.Min = o.difficulty
	cfg.Stratum.Difficulty.Max = o.maxDifficulty
	if o.configure != nil {
		o.configure(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &logBuffer{}
	tp := &testPool{node: node, redis: rds, cfg: cfg, logs: logs}
	ctx := testContext(t)
	h, err := node.BlockCount(ctx)
	if err != nil {
		t.Fatalf("getblockcount: %v", err)
	}
	tp.startHeight = h
	tp.d = runDaemon(t, cfg, logs)
	return tp
}

// runDaemon starts the pool with cfg, logging to logs, and stops it when t
// ends, printing the logs if t failed.
func runDaemon(t *testing.T, cfg *config.Config, logs *logBuffer) *daemon.Daemon {
	t.Helper()
	d, err := daemon.Start(testContext(t), cfg, logs.logger())
	if err != nil {
		t.Fatalf("daemon.Start: %v", err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := d.Stop(sctx); err != nil {
			t.Errorf("daemon.Stop: %v", err)
		}
		if t.Failed() {
			t.Logf("pool logs:\n%s", logs.String())
		}
	})
	return d
}

// startRedis starts a redis-server for t and stops it when t ends.
func startRedis(t *testing.T) *localnet.Redis {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := localnet.StartRedis(ctx, localnet.RedisOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(r.Stop)
	return r
}

// testContext is a context that ends with the test or after testTimeout.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// logBuffer collects the pool's logs, printed when a test fails. Unlike
// t.Log it may be written after the test has ended.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) Sync() error { return nil }

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *zap.Logger {
	enc := zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(l), zapcore.InfoLevel))
}

// waitFor polls cond until it holds, failing the test with what after
// testTimeout. It bounds a wait; it asserts nothing about speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mine runs a CPU miner with one thread as user until done reports true
// (checked every 100 ms), then stops it and waits until the pool has seen
// the connection close. It returns the miner's last statistics, with the
// version-rolling mask it had negotiated while connected (the miner clears
// it when the connection ends).
func (tp *testPool) mine(t *testing.T, user string, done func(cpuminer.Stats) bool) cpuminer.Stats {
	t.Helper()
	m, err := cpuminer.New(cpuminer.Options{URL: tp.d.StratumAddr(), User: user, Threads: 1, VersionRolling: true})
	if err != nil {
		t.Fatalf("cpuminer.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- m.Run(ctx) }()
	deadline := time.Now().Add(testTimeout)
	var mask uint32
	for {
		st := m.Stats()
		if st.Connected {
			mask = st.VersionMask
		}
		if done(st) {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-runErr
			t.Fatalf("miner did not get there: miner %+v, pool %+v", m.Stats(), tp.d.Status())
		}
		select {
		case err := <-runErr:
			cancel()
			t.Fatalf("miner stopped: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("miner: %v", err)
	}
	waitFor(t, "the pool to see the miner disconnect", func() bool { return tp.d.Status().Connections == 0 })
	st := m.Stats()
	st.VersionMask = mask
	return st
}

// settle waits until every block the pool found has the node's verdict
// recorded and everything queued reached Redis; it returns the block
// records.
func (tp *testPool) settle(t *testing.T) []redisstore.Block {
	t.Helper()
	ctx := testContext(t)
	var blocks []redisstore.Block
	waitFor(t, "every found block to be recorded", func() bool {
		if err := tp.d.Store().Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		var err error
		blocks, err = tp.d.Store().Blocks(ctx, 10000)
		if err != nil {
			t.Fatalf("read blocks: %v", err)
		}
		if uint64(len(blocks)) != tp.d.Status().BlocksSubmitted {
			return false
		}
		// A block is recorded when found and again with the node's
		// verdict.
		for _, b := range blocks {
			if b.Status == share.BlockSubmitted {
				return false
			}
		}
		return true
	})
	return blocks
}

// redisStats reads the share counters from Redis.
func (tp *testPool) redisStats(t *testing.T) redisstore.Stats {
	t.Helper()
	st, err := tp.d.Store().Stats(testContext(t))
	if err != nil {
		t.Fatalf("read Redis stats: %v", err)
	}
	return st
}

// height is the node's best height.
func (tp *testPool) height(t *testing.T) int64 {
	t.Helper()
	h, err := tp.node.BlockCount(testContext(t))
	if err != nil {
		t.Fatalf("getblockcount: %v", err)
	}
	return h
}

// call makes one RPC call to the node and decodes its result into out.
func call(t *testing.T, node *localnet.Btcd, out any, method string, params ...any) {
	t.Helper()
	raw, err := node.Call(testContext(t), method, params...)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s: result %s: %v", method, raw, err)
		}
	}
}

// chainBlock is a block as the node has it.
type chainBlock struct {
	*wire.MsgBlock
	Height int64
	// MainChain says getblockhash at its height returns it.
	MainChain bool
}

// getBlock fetches a block by display hash, decodes it and checks whether it
// is on the node's main chain.
func getBlock(t *testing.T, node *localnet.Btcd, hash string) chainBlock {
	t.Helper()
	var hexBlock string
	call(t, node, &hexBlock, "getblock", hash, 0)
	raw, err := hex.DecodeString(hexBlock)
	if err != nil {
		t.Fatalf("getblock %s: %v", hash, err)
	}
	var b wire.MsgBlock
	if err := b.Deserialize(bytes.NewReader(raw)); err != nil {
		t.Fatalf("decode block %s: %v", hash, err)
	}
	if got := b.BlockHash().String(); got != hash {
		t.Fatalf("getblock %s returned block %s", hash, got)
	}
	var hdr struct {
		Height int64 `json:"height"`
	}
	call(t, node, &hdr, "getblockheader", hash, true)
	var atHeight string
	call(t, node, &atHeight, "getblockhash", hdr.Height)
	return chainBlock{MsgBlock: &b, Height: hdr.Height, MainChain: atHeight == hash}
}

// blockAtHeight fetches the main-chain block at height.
func blockAtHeight(t *testing.T, node *localnet.Btcd, height int64) chainBlock {
	t.Helper()
	var hash string
	call(t, node, &hash, "getblockhash", height)
	return getBlock(t, node, hash)
}

// subsidy is the regtest block subsidy at height (halving every 150
// blocks), which is the whole coinbase value of a block without fees.
func subsidy(height int64) int64 {
	if height/150 >= 64 {
		return 0
	}
	return 50_0000_0000 >> (height / 150)
}

// payouts sums a transaction's output values by the address each pays;
// outputs that pay no single address (the witness commitment) are summed
// under "".
func payouts(t *testing.T, tx *wire.MsgTx) (byAddr map[string]int64, total int64) {
	t.Helper()
	byAddr = map[string]int64{}
	for _, out := range tx.TxOut {
		_, addrs, _, err := txscript.ExtractPkScriptAddrs(out.PkScript, &chaincfg.RegressionNetParams)
		key := ""
		if err == nil && len(addrs) == 1 {
			key = addrs[0].EncodeAddress()
		}
		byAddr[key] += out.Value
		total += out.Value
	}
	return byAddr, total
}

// p2wpkhScript is the output script of a bech32 regtest address.
func p2wpkhScript(t *testing.T, addr string) []byte {
	t.Helper()
	a, err := address.DecodeAddress(addr, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatalf("decode %s: %v", addr, err)
	}
	s, err := txscript.PayToAddrScript(a)
	if err != nil {
		t.Fatalf("script of %s: %v", addr, err)
	}
	return s
}

// stratumClient is a raw Stratum v1 connection with send/expect helpers, as
// an ASIC would speak to the pool.
type stratumClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	id   int
	// notify is the params of the last mining.notify received.
	notify json.RawMessage
	// difficulty is the last mining.set_difficulty value received.
	difficulty float64
	// extranonce1 and extranonce2Size are from the subscribe answer.
	extranonce1     []byte
	extranonce2Size int
	// mask is the version-rolling mask from mining.configure.
	mask uint32
}

// message is any line the pool sends.
type message struct {
	ID     json.RawMessage   `json:"id"`
	Method string            `json:"method"`
	Params json.RawMessage   `json:"params"`
	Result json.RawMessage   `json:"result"`
	Error  []json.RawMessage `json:"error"`
}

// errorCode is the Stratum error code of a reply, 0 when it has none.
func (m *message) errorCode() int {
	if len(m.Error) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(string(m.Error[0]))
	return n
}

// dial connects a raw client to the pool and closes it when t ends.
func dial(t *testing.T, addr string) *stratumClient {
	t.Helper()
	return dialFrom(t, addr, "")
}

// dialFrom is dial from a given loopback source address (127.0.0.2, ...),
// so that tests can act as several mining sites; "" lets the system choose.
func dialFrom(t *testing.T, addr, src string) *stratumClient {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %q: %v", addr, src, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &stratumClient{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// send writes one request and returns its id.
func (c *stratumClient) send(method string, params ...any) int {
	c.t.Helper()
	c.id++
	if params == nil {
		params = []any{}
	}
	line, err := json.Marshal(map[string]any{"id": c.id, "method": method, "params": params})
	if err != nil {
		c.t.Fatalf("encode %s: %v", method, err)
	}
	if err := c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.Write(append(line, '\n')); err != nil {
		c.t.Fatalf("send %s: %v", method, err)
	}
	return c.id
}

// read returns the next line from the pool, recording notifications.
func (c *stratumClient) read() (*message, error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(15 * time.Second)); err != nil {
		return nil, err
	}
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	var m message
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, fmt.Errorf("line %q: %w", line, err)
	}
	switch m.Method {
	case "mining.notify":
		c.notify = m.Params
	case "mining.set_difficulty":
		var p []float64
		if err := json.Unmarshal(m.Params, &p); err == nil && len(p) == 1 {
			c.difficulty = p[0]
		}
	}
	return &m, nil
}

// expect reads until the reply to request id and returns it.
func (c *stratumClient) expect(id int) *message {
	c.t.Helper()
	want := strconv.Itoa(id)
	for {
		m, err := c.read()
		if err != nil {
			c.t.Fatalf("waiting for the reply to request %d: %v", id, err)
		}
		if m.Method == "" && string(m.ID) == want {
			return m
		}
	}
}

// call sends a request and returns its reply.
func (c *stratumClient) call(method string, params ...any) *message {
	c.t.Helper()
	return c.expect(c.send(method, params...))
}

// expectNotify reads until a mining.notify arrives (one already received
// counts when fresh is false) and returns the job it carries.
func (c *stratumClient) expectNotify(fresh bool) *share.Job {
	c.t.Helper()
	if fresh {
		c.notify = nil
	}
	for c.notify == nil {
		if _, err := c.read(); err != nil {
			c.t.Fatalf("waiting for mining.notify: %v", err)
		}
	}
	j, err := share.JobFromNotify(c.notify, c.extranonce2Size)
	if err != nil {
		c.t.Fatalf("notify %s: %v", c.notify, err)
	}
	return j
}

// handshake configures version rolling (when mask is non-zero), subscribes
// and authorizes user with password pass, and returns the first job.
func (c *stratumClient) handshake(user, pass string, mask uint32) *share.Job {
	c.t.Helper()
	if mask != 0 {
		r := c.call("mining.configure", []string{"version-rolling"},
			map[string]any{"version-rolling.mask": fmt.Sprintf("%08x", mask), "version-rolling.min-bit-count": 2})
		var res map[string]json.RawMessage
		if err := json.Unmarshal(r.Result, &res); err != nil || string(res["version-rolling"]) != "true" {
			c.t.Fatalf("mining.configure: %s %s", r.Result, r.Error)
		}
		var m string
		if err := json.Unmarshal(res["version-rolling.mask"], &m); err != nil {
			c.t.Fatalf("mining.configure mask: %s", r.Result)
		}
		v, err := strconv.ParseUint(m, 16, 32)
		if err != nil {
			c.t.Fatalf("mining.configure mask %q: %v", m, err)
		}
		c.mask = uint32(v)
	}
	r := c.call("mining.subscribe", "integration-test/1")
	var sub []json.RawMessage
	if err := json.Unmarshal(r.Result, &sub); err != nil || len(sub) != 3 {
		c.t.Fatalf("mining.subscribe: %s %s", r.Result, r.Error)
	}
	var en1 string
	if err := json.Unmarshal(sub[1], &en1); err != nil {
		c.t.Fatalf("subscribe extranonce1: %s", sub[1])
	}
	var err error
	if c.extranonce1, err = hex.DecodeString(en1); err != nil {
		c.t.Fatalf("subscribe extranonce1 %q: %v", en1, err)
	}
	if err := json.Unmarshal(sub[2], &c.extranonce2Size); err != nil {
		c.t.Fatalf("subscribe extranonce2 size: %s", sub[2])
	}
	if r := c.call("mining.authorize", user, pass); string(r.Result) != "true" {
		c.t.Fatalf("mining.authorize %s: %s %s", user, r.Result, r.Error)
	}
	return c.expectNotify(false)
}

// solvedShare is a submit the test computed itself.
type solvedShare struct {
	params []any
	nonce  uint32
	res    share.Result
}

// findShare searches extranonce2 = en2 (as a counter) and nonces from
// nonce upward for a header whose hash is a block (block true) or is not
// (block false), with the version bits rolled as given (none when
// versionBits is 0). Any hash is a share at difficulty 1e-12; about every
// second one is a regtest block, so the search is short.
func (c *stratumClient) findShare(job *share.Job, worker string, en2 uint64, nonce uint32, versionBits uint32, block bool) solvedShare {
	c.t.Helper()
	var easy share.Target
	for i := range easy {
		easy[i] = 0xff
	}
	en2b := make([]byte, job.Extranonce2Size)
	for i := range en2b {
		en2b[i] = byte(en2 >> (8 * i))
	}
	sub := share.Submission{Extranonce1: c.extranonce1, Extranonce2: en2b, NTime: job.CurTime,
		VersionBits: versionBits, HasVersionBits: versionBits != 0}
	var res share.Result
	for range 1000 {
		sub.Nonce = nonce
		if rej := job.Check(&sub, c.mask, &easy, time.Now(), &res); rej != nil {
			c.t.Fatalf("local check of the share: %v", rej)
		}
		if res.Block == block {
			p := []any{worker, job.ID, hex.EncodeToString(en2b), fmt.Sprintf("%08x", job.CurTime), fmt.Sprintf("%08x", nonce)}
			if versionBits != 0 {
				p = append(p, fmt.Sprintf("%08x", versionBits))
			}
			return solvedShare{params: p, nonce: nonce, res: res}
		}
		nonce++
	}
	c.t.Fatalf("no nonce with block=%v in 1000 tries", block)
	return solvedShare{}
}

// metricValue scrapes the pool's /metrics and returns the value of the
// sample named by series (name{labels} exactly as exposed), 0 when absent.
func (tp *testPool) metricValue(t *testing.T, series string) float64 {
	t.Helper()
	body := scrape(t, tp.d.MetricsURL())
	for line := range strings.Lines(body) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && name == series {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	return 0
}

// scrape fetches a metrics page.
func scrape(t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d, %v", url, resp.StatusCode, err)
	}
	return string(b)
}
