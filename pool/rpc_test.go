package pool_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/localnet/localnettest"
	"github.com/tarbela-pool/tarbela/pool"
	"github.com/tarbela-pool/tarbela/share"
)

// btcdClient returns an RPC client for a running btcd.
func btcdClient(t testing.TB, name string, b *localnet.Btcd) *pool.RPCClient {
	t.Helper()
	c, err := pool.NewRPCClient(name, b.URL(), b.User, b.Pass, 10*time.Second)
	if err != nil {
		t.Fatalf("NewRPCClient: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestRPCClientBtcd runs every method the pool needs against a real btcd.
func TestRPCClientBtcd(t *testing.T) {
	b := localnettest.StartBtcd(t, localnet.BtcdOptions{})
	c := btcdClient(t, "btcd", b)
	ctx := testCtx(t, time.Minute)

	raw, err := c.GetBlockTemplate(ctx, "")
	if err != nil {
		t.Fatalf("GetBlockTemplate: %v", err)
	}
	tmpl, err := pool.ParseTemplate(raw)
	if err != nil {
		t.Fatalf("ParseTemplate(btcd result): %v\n%s", err, raw)
	}
	if tmpl.Height != 1 || tmpl.LongPollID == "" || tmpl.CoinbaseValue <= 0 {
		t.Fatalf("template height %d, longpollid %q, coinbasevalue %d; want height 1 with a long poll id and a reward",
			tmpl.Height, tmpl.LongPollID, tmpl.CoinbaseValue)
	}
	best, err := c.GetBestBlockHash(ctx)
	if err != nil {
		t.Fatalf("GetBestBlockHash: %v", err)
	}
	if got := share.DisplayHex(&tmpl.PrevHash); got != best {
		t.Fatalf("template previousblockhash %s, best block %s", got, best)
	}
	genesis, err := c.GetBlockHash(ctx, 0)
	if err != nil || genesis != best {
		t.Fatalf("GetBlockHash(0) = %q, %v; want the best block %s", genesis, err, best)
	}

	hashes, err := c.Generate(ctx, 1)
	if err != nil || len(hashes) != 1 {
		t.Fatalf("Generate(1) = %v, %v", hashes, err)
	}
	if n, err := c.GetBlockCount(ctx); err != nil || n != 1 {
		t.Fatalf("GetBlockCount = %d, %v; want 1", n, err)
	}
	h, err := c.GetBlockHeader(ctx, hashes[0])
	if err != nil {
		t.Fatalf("GetBlockHeader: %v", err)
	}
	if h.Hash != hashes[0] || h.Height != 1 || h.Confirmations != 1 || h.PreviousBlockHash != genesis {
		t.Fatalf("GetBlockHeader = %+v; want block %s at height 1 with 1 confirmation on %s", h, hashes[0], genesis)
	}
	_, err = c.GetBlockHeader(ctx, strings.Repeat("ab", 32))
	if !pool.IsRPCError(err, pool.RPCErrBlockNotFound) {
		t.Fatalf("GetBlockHeader(unknown) error = %v; want RPC error %d", err, pool.RPCErrBlockNotFound)
	}
	if _, err := c.GenerateToAddress(ctx, 1, localnet.RegtestAddress(1)); !pool.IsRPCError(err, pool.RPCErrMethodNotFound) {
		t.Fatalf("GenerateToAddress on btcd: %v; want RPC error %d (btcd has only generate)", err, pool.RPCErrMethodNotFound)
	}
}

// TestRPCClientLongPoll checks that a long poll blocks until a block arrives
// and then returns the template on the new tip.
func TestRPCClientLongPoll(t *testing.T) {
	b := localnettest.StartBtcd(t, localnet.BtcdOptions{})
	c := btcdClient(t, "btcd", b)
	ctx := testCtx(t, time.Minute)

	raw, err := c.GetBlockTemplate(ctx, "")
	if err != nil {
		t.Fatalf("GetBlockTemplate: %v", err)
	}
	first, err := pool.ParseTemplate(raw)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		t   *pool.Template
		err error
	}
	done := make(chan result, 1)
	go func() {
		raw, err := c.GetBlockTemplate(ctx, first.LongPollID)
		if err != nil {
			done <- result{err: err}
			return
		}
		t, err := pool.ParseTemplate(raw)
		done <- result{t, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("long poll returned before any block: %+v", r)
	case <-time.After(500 * time.Millisecond):
	}
	hashes, err := c.Generate(ctx, 1)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("long poll: %v", r.err)
		}
		if r.t.Height != 2 || share.DisplayHex(&r.t.PrevHash) != hashes[0] {
			t.Fatalf("long poll template at height %d on %s; want height 2 on %s", r.t.Height, share.DisplayHex(&r.t.PrevHash), hashes[0])
		}
	case <-time.After(20 * time.Second):
		t.Fatal("long poll did not return after a new block")
	}
}

// TestRPCClientSubmitBlockBtcd covers btcd's ways of saying no: an RPC error
// for bytes that are no block, and a "rejected: …" result string for a
// block it refuses.
func TestRPCClientSubmitBlockBtcd(t *testing.T) {
	b := localnettest.StartBtcd(t, localnet.BtcdOptions{})
	c := btcdClient(t, "btcd", b)
	ctx := testCtx(t, time.Minute)
	hashes, err := c.Generate(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var known string
	if err := c.Call(ctx, "getblock", []any{hashes[0], 0}, &known); err != nil {
		t.Fatalf("getblock: %v", err)
	}

	tests := []struct {
		name        string
		hex         string
		wantRPCErr  bool
		wantVerdict string // prefix of the result string
	}{
		{name: "garbage bytes", hex: "00", wantRPCErr: true},
		{name: "not hex", hex: "zz", wantRPCErr: true},
		{name: "truncated block", hex: known[:200], wantRPCErr: true},
		{name: "block the node already has", hex: known, wantVerdict: "rejected: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := c.SubmitBlock(ctx, tc.hex)
			var re *pool.RPCError
			if tc.wantRPCErr {
				if !errors.As(err, &re) {
					t.Fatalf("SubmitBlock = %q, %v; want an *RPCError", v, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("SubmitBlock: %v", err)
			}
			if !strings.HasPrefix(v, tc.wantVerdict) {
				t.Fatalf("SubmitBlock verdict %q; want prefix %q", v, tc.wantVerdict)
			}
		})
	}
}

// rpcRecorder is an HTTP handler standing in for a node's wire format in
// unit tests of the client's encoding and error mapping (the behaviour of
// real nodes is covered by the btcd tests above).
type rpcRecorder struct {
	t      *testing.T
	status int
	body   string
	got    chan map[string]any
	auth   chan string
}

func (r *rpcRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	raw, _ := io.ReadAll(req.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		r.t.Errorf("request is not JSON: %q", raw)
	}
	select {
	case r.got <- m:
	default:
	}
	select {
	case r.auth <- req.Header.Get("Authorization"):
	default:
	}
	w.WriteHeader(r.status)
	_, _ = io.WriteString(w, r.body)
}

func TestRPCClientWireFormat(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        string
		call        func(context.Context, *pool.RPCClient) (string, error)
		want        string
		wantRPCCode int // 0: no RPC error expected
		wantHTTP    int // 0: no HTTP error expected
		wantErr     bool
	}{
		{
			name: "submitblock accepted (null)", status: 200, body: `{"result":null,"error":null,"id":1}`,
			call: submit, want: "",
		},
		{
			name: "btcd rejection string", status: 200, body: `{"result":"rejected: block's difficulty is too low","error":null,"id":1}`,
			call: submit, want: "rejected: block's difficulty is too low",
		},
		{
			name: "core duplicate", status: 200, body: `{"result":"duplicate","error":null,"id":1}`,
			call: submit, want: "duplicate",
		},
		{
			name: "core high-hash", status: 200, body: `{"result":"high-hash","error":null,"id":1}`,
			call: submit, want: "high-hash",
		},
		{
			name: "empty result string is no accept", status: 200, body: `{"result":"","error":null,"id":1}`,
			call: submit, want: "rejected without a reason",
		},
		{
			name: "core error with HTTP 500", status: 500, body: `{"result":null,"error":{"code":-22,"message":"Block decode failed"},"id":1}`,
			call: submit, wantRPCCode: -22, wantErr: true,
		},
		{
			name: "core unknown method with HTTP 404", status: 404, body: `{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":1}`,
			call: best, wantRPCCode: -32601, wantErr: true,
		},
		{
			name: "wrong password", status: 401, body: ``,
			call: best, wantHTTP: 401, wantErr: true,
		},
		{
			name: "work queue full", status: 503, body: `Work queue depth exceeded`,
			call: best, wantHTTP: 503, wantErr: true,
		},
		{
			name: "empty body (request without id on btcd)", status: 200, body: ``,
			call: best, wantErr: true,
		},
		{
			name: "not JSON", status: 200, body: `<html>hello</html>`,
			call: best, wantErr: true,
		},
		{
			name: "best hash of wrong length", status: 200, body: `{"result":"abcd","error":null,"id":1}`,
			call: best, wantErr: true,
		},
		{
			name: "template null", status: 200, body: `{"result":null,"error":null,"id":1}`,
			call: gbt, wantErr: true,
		},
		{
			name: "node still syncing", status: 200, body: `{"result":null,"error":{"code":-10,"message":"Bitcoin is downloading blocks..."},"id":1}`,
			call: gbt, wantRPCCode: pool.RPCErrInInitialDownload, wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &rpcRecorder{t: t, status: tc.status, body: tc.body, got: make(chan map[string]any, 1), auth: make(chan string, 1)}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			c, err := pool.NewRPCClient("unit", srv.URL, "alice", "s3cret", 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, err := tc.call(context.Background(), c)
			if (err != nil) != tc.wantErr {
				t.Fatalf("got %q, %v; want error %v", got, err, tc.wantErr)
			}
			if err == nil && got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if tc.wantRPCCode != 0 && !pool.IsRPCError(err, tc.wantRPCCode) {
				t.Fatalf("error %v; want RPC error %d", err, tc.wantRPCCode)
			}
			var he *pool.HTTPError
			if tc.wantHTTP != 0 && (!errors.As(err, &he) || he.Status != tc.wantHTTP) {
				t.Fatalf("error %v; want HTTP error %d", err, tc.wantHTTP)
			}
			if tc.wantHTTP != 0 && !strings.Contains(err.Error(), srv.URL) {
				t.Fatalf("error %q does not name the URL that answered", err)
			}
			if err != nil && !strings.Contains(err.Error(), "node unit") {
				t.Fatalf("error %q does not name the node", err)
			}
			req := <-rec.got
			if req["jsonrpc"] != "1.0" {
				t.Fatalf("request jsonrpc = %v, want \"1.0\"", req["jsonrpc"])
			}
			if id, ok := req["id"].(float64); !ok || id < 1 {
				t.Fatalf("request id = %v, want a positive number", req["id"])
			}
			if _, ok := req["params"].([]any); !ok {
				t.Fatalf("request params = %v, want an array", req["params"])
			}
			wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
			if a := <-rec.auth; a != wantAuth {
				t.Fatalf("Authorization = %q, want %q", a, wantAuth)
			}
		})
	}
}

func submit(ctx context.Context, c *pool.RPCClient) (string, error) { return c.SubmitBlock(ctx, "00") }
func best(ctx context.Context, c *pool.RPCClient) (string, error)   { return c.GetBestBlockHash(ctx) }
func gbt(ctx context.Context, c *pool.RPCClient) (string, error) {
	raw, err := c.GetBlockTemplate(ctx, "")
	return string(raw), err
}

// TestRPCClientTemplateRequest checks the getblocktemplate parameters: segwit
// rules always, the long poll id only when long polling.
func TestRPCClientTemplateRequest(t *testing.T) {
	tests := []struct {
		name       string
		longPollID string
	}{
		{name: "plain", longPollID: ""},
		{name: "long poll", longPollID: "0011-42"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &rpcRecorder{t: t, status: 200, body: `{"result":{"height":1},"error":null,"id":1}`,
				got: make(chan map[string]any, 1), auth: make(chan string, 1)}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			c, err := pool.NewRPCClient("unit", srv.URL, "", "", 0)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.GetBlockTemplate(context.Background(), tc.longPollID); err != nil {
				t.Fatal(err)
			}
			req := <-rec.got
			if req["method"] != "getblocktemplate" {
				t.Fatalf("method %v", req["method"])
			}
			params := req["params"].([]any)
			if len(params) != 1 {
				t.Fatalf("params %v, want one request object", params)
			}
			obj := params[0].(map[string]any)
			rules, _ := obj["rules"].([]any)
			if len(rules) != 1 || rules[0] != "segwit" {
				t.Fatalf("rules = %v, want [segwit]", obj["rules"])
			}
			if got, _ := obj["longpollid"].(string); got != tc.longPollID {
				t.Fatalf("longpollid = %q, want %q", got, tc.longPollID)
			}
		})
	}
}

// TestRPCClientTransportErrors checks that a node that is down or hangs gives
// an error naming the node and the method, wrapping the cause.
func TestRPCClientTransportErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := l.Addr().String()
	l.Close()

	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	go func() {
		for {
			c, err := hung.Accept()
			if err != nil {
				return
			}
			defer c.Close() // read nothing, answer nothing
		}
	}()

	tests := []struct {
		name    string
		addr    string
		timeout time.Duration
		check   func(error) bool
	}{
		{name: "connection refused", addr: closedAddr, timeout: 5 * time.Second,
			check: func(err error) bool { var oe *net.OpError; return errors.As(err, &oe) }},
		{name: "node hangs", addr: hung.Addr().String(), timeout: 200 * time.Millisecond,
			check: func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := pool.NewRPCClient("down", "http://"+tc.addr, "u", "p", tc.timeout)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.GetBlockCount(context.Background())
			if err == nil || !tc.check(err) {
				t.Fatalf("GetBlockCount error = %v; want the transport cause wrapped", err)
			}
			if !strings.Contains(err.Error(), "node down") || !strings.Contains(err.Error(), "getblockcount") {
				t.Fatalf("error %q does not name the node and method", err)
			}
		})
	}
}

func TestNewRPCClientBadURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
	}{
		{name: "no scheme", url: "127.0.0.1:8332"},
		{name: "websocket scheme", url: "ws://127.0.0.1:8332"},
		{name: "no host", url: "http://"},
		{name: "unparsable", url: "http://[::1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := pool.NewRPCClient("n", tc.url, "", "", 0); err == nil {
				t.Fatalf("NewRPCClient(%q) accepted a bad URL", tc.url)
			}
		})
	}
}
