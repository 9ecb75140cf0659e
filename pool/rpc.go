package pool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRPCTimeout bounds one RPC call when the caller's context has no
// deadline of its own.
const DefaultRPCTimeout = 10 * time.Second

// maxRPCResponse bounds a response body. A full getblocktemplate of a 4 MB
// weight block is about 8 MB of hex plus txids; 64 MiB leaves room without
// letting a broken peer exhaust memory.
const maxRPCResponse = 64 << 20

// RPCError is an error the node returned in the JSON-RPC error member. The
// node is alive and answered; callers switch on Code (for example -5 block
// not found, -10 still downloading blocks, -8 invalid parameter).
type RPCError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message)
}

// JSON-RPC error codes that callers of RPCClient test for.
const (
	// RPCErrBlockNotFound is returned for an unknown block hash
	// (RPC_INVALID_ADDRESS_OR_KEY).
	RPCErrBlockNotFound = -5
	// RPCErrInInitialDownload is returned while the node syncs.
	RPCErrInInitialDownload = -10
	// RPCErrMethodNotFound is returned for an unknown method.
	RPCErrMethodNotFound = -32601
)

// HTTPError is a response that carried no JSON-RPC body: a wrong password
// (401), a work queue overflow (503) or something that is not a node.
type HTTPError struct {
	Status int
	// Body is the start of the response body.
	Body string
}

func (e *HTTPError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, http.StatusText(e.Status), e.Body)
}

// RPCClient is a JSON-RPC client for Bitcoin Core and btcd over HTTP with
// keep-alive. It always sends "jsonrpc":"1.0" and a numeric id: btcd treats a
// request without an id as a notification and answers with an empty body. It
// is safe for concurrent use.
type RPCClient struct {
	name    string
	url     string
	timeout time.Duration
	http    *http.Client
	id      atomic.Uint64

	// cred is what the requests send: fixed by NewRPCClient, or read from
	// cookieFile (nil until it could be read). cookieMu serializes the
	// reads of the file.
	cred       atomic.Pointer[credentials]
	cookieFile string
	cookieMu   sync.Mutex
}

// NewRPCClient returns a client for the node at rawURL (http://host:port)
// that authenticates with user and pass (none when both are empty). name
// identifies the node in errors and logs; timeout bounds calls whose context
// has no deadline (DefaultRPCTimeout when zero).
func NewRPCClient(name, rawURL, user, pass string, timeout time.Duration) (*RPCClient, error) {
	c, err := newRPCClient(name, rawURL, timeout)
	if err != nil {
		return nil, err
	}
	c.cred.Store(&credentials{user: user, pass: pass})
	return c, nil
}

// NewCookieRPCClient is NewRPCClient for a Bitcoin Core node that uses its
// cookie authentication: the user and password are the content of
// cookieFile (the node's .cookie, "__cookie__:<password>"). The file is
// read at the first call, not here, so that a node that is down when the
// pool starts (Core deletes its cookie when it stops) does not stop the
// pool from starting. Core writes a new cookie at every start: when the
// node refuses a request (HTTP 401), the client reads the file again and
// sends the request once more with the new cookie. A file that is missing,
// unreadable or not a cookie makes the call fail with an error that names
// the file and what to do.
func NewCookieRPCClient(name, rawURL, cookieFile string, timeout time.Duration) (*RPCClient, error) {
	if cookieFile == "" {
		return nil, fmt.Errorf("node %s: cookie file: empty path", name)
	}
	c, err := newRPCClient(name, rawURL, timeout)
	if err != nil {
		return nil, err
	}
	c.cookieFile = cookieFile
	return c, nil
}

func newRPCClient(name, rawURL string, timeout time.Duration) (*RPCClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("node %s: url: %w", name, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("node %s: url %q: want http://host:port", name, rawURL)
	}
	if timeout <= 0 {
		timeout = DefaultRPCTimeout
	}
	tr := &http.Transport{
		Proxy:               nil, // a node is never reached through an HTTP proxy
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	return &RPCClient{name: name, url: rawURL, timeout: timeout, http: &http.Client{Transport: tr}}, nil
}

// Name is the node's name as configured.
func (c *RPCClient) Name() string { return c.name }

// URL is the node's RPC endpoint.
func (c *RPCClient) URL() string { return c.url }

// Close drops idle connections.
func (c *RPCClient) Close() { c.http.CloseIdleConnections() }

type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

type rpcResponse struct {
	Result json.RawMessage `json:"result"`
	Error  *RPCError       `json:"error"`
}

// Call invokes method with params and decodes the result into result (which
// may be nil, or a *json.RawMessage to keep it raw). A JSON-RPC error is
// returned as *RPCError; anything else is wrapped with the node and method.
// When ctx has no deadline the client's timeout applies.
func (c *RPCClient) Call(ctx context.Context, method string, params []any, result any) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	return c.call(ctx, method, params, result)
}

func (c *RPCClient) call(ctx context.Context, method string, params []any, result any) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(rpcRequest{JSONRPC: "1.0", ID: c.id.Add(1), Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("node %s: %s: encode params: %w", c.name, method, err)
	}
	cred, err := c.auth()
	if err != nil {
		return fmt.Errorf("node %s: %s: %w", c.name, method, err)
	}
	status, raw, err := c.post(ctx, method, body, cred)
	if err == nil && status == http.StatusUnauthorized && c.cookieFile != "" {
		status, raw, err = c.retryWithNewCookie(ctx, method, body, cred)
	}
	if err != nil {
		return err
	}
	// Core answers RPC errors with HTTP 404/500 and a JSON body; decode
	// the body first and fall back to the status when it is not JSON-RPC.
	var r rpcResponse
	if jerr := json.Unmarshal(raw, &r); jerr != nil || (r.Error == nil && r.Result == nil && status != http.StatusOK) {
		// Name the URL: what answered may be no node at all.
		if status != http.StatusOK {
			return fmt.Errorf("node %s: %s: POST %s: %w", c.name, method, c.url, &HTTPError{Status: status, Body: snippet(raw)})
		}
		if len(raw) == 0 {
			return fmt.Errorf("node %s: %s: POST %s: empty response", c.name, method, c.url)
		}
		return fmt.Errorf("node %s: %s: POST %s: response is not JSON-RPC: %q", c.name, method, c.url, snippet(raw))
	}
	if r.Error != nil {
		return fmt.Errorf("node %s: %s: %w", c.name, method, r.Error)
	}
	if result == nil {
		return nil
	}
	if rm, ok := result.(*json.RawMessage); ok {
		*rm = r.Result
		return nil
	}
	if err := json.Unmarshal(r.Result, result); err != nil {
		return fmt.Errorf("node %s: %s: decode result %q: %w", c.name, method, snippet(r.Result), err)
	}
	return nil
}

// retryWithNewCookie handles the node's refusal of the cookie used: most
// likely the node restarted and wrote a new one. It reads the file again
// and sends the request once more when the file holds another cookie. A
// refused request was not run, so sending it again is safe, submitblock
// included.
func (c *RPCClient) retryWithNewCookie(ctx context.Context, method string, body []byte, used *credentials) (int, []byte, error) {
	refused := &HTTPError{Status: http.StatusUnauthorized}
	fresh, err := c.reloadCookie(used)
	if err != nil {
		return 0, nil, fmt.Errorf("node %s: %s: POST %s: %w; reading the cookie again: %w", c.name, method, c.url, refused, err)
	}
	if fresh == used {
		return 0, nil, fmt.Errorf("node %s: %s: POST %s: %w: the node refuses the cookie in %s, and the file holds no newer one: "+
			"is it the cookie of the node at %s?", c.name, method, c.url, refused, c.cookieFile, c.url)
	}
	status, raw, err := c.post(ctx, method, body, fresh)
	if err == nil && status == http.StatusUnauthorized {
		return 0, nil, fmt.Errorf("node %s: %s: POST %s: %w: the node refuses the cookie in %s, also after reading it again: "+
			"is it the cookie of the node at %s?", c.name, method, c.url, refused, c.cookieFile, c.url)
	}
	return status, raw, err
}

// post sends one request body with cred and returns the HTTP status and
// the body of the answer.
func (c *RPCClient) post(ctx context.Context, method string, body []byte, cred *credentials) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("node %s: %s: %w", c.name, method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if cred.user != "" || cred.pass != "" {
		req.SetBasicAuth(cred.user, cred.pass)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("node %s: %s: %w", c.name, method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxRPCResponse+1))
	if err != nil {
		return 0, nil, fmt.Errorf("node %s: %s: read response: %w", c.name, method, err)
	}
	if len(raw) > maxRPCResponse {
		return 0, nil, fmt.Errorf("node %s: %s: response larger than %d bytes", c.name, method, maxRPCResponse)
	}
	return resp.StatusCode, raw, nil
}

// snippet returns the start of a body for error messages.
func snippet(b []byte) string {
	const n = 200
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// gbtRequest is the template request: segwit rules (required by Core since
// 0.17, understood by btcd) and, for long polling, the id of the template
// the caller has.
type gbtRequest struct {
	Rules      []string `json:"rules"`
	LongPollID string   `json:"longpollid,omitempty"`
}

// GetBlockTemplate returns the node's raw getblocktemplate result (parse it
// with ParseTemplate). With a longPollID the call is a long poll: the node
// answers only when it has a newer template than that id, so the caller's
// context decides how long to wait and the client's timeout does not apply.
func (c *RPCClient) GetBlockTemplate(ctx context.Context, longPollID string) (json.RawMessage, error) {
	params := []any{gbtRequest{Rules: []string{"segwit"}, LongPollID: longPollID}}
	var raw json.RawMessage
	var err error
	if longPollID != "" {
		err = c.call(ctx, "getblocktemplate", params, &raw)
	} else {
		err = c.Call(ctx, "getblocktemplate", params, &raw)
	}
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil, fmt.Errorf("node %s: getblocktemplate: null result", c.name)
	}
	return raw, nil
}

// GetBestBlockHash returns the tip's hash in display order (hex).
func (c *RPCClient) GetBestBlockHash(ctx context.Context) (string, error) {
	var h string
	if err := c.Call(ctx, "getbestblockhash", nil, &h); err != nil {
		return "", err
	}
	if len(h) != 64 {
		return "", fmt.Errorf("node %s: getbestblockhash: %q is not a block hash", c.name, h)
	}
	return h, nil
}

// GetBlockCount returns the height of the tip.
func (c *RPCClient) GetBlockCount(ctx context.Context) (int64, error) {
	var n int64
	if err := c.Call(ctx, "getblockcount", nil, &n); err != nil {
		return 0, err
	}
	return n, nil
}

// GetBlockHash returns the hash (display order) of the main-chain block at
// height.
func (c *RPCClient) GetBlockHash(ctx context.Context, height int64) (string, error) {
	var h string
	if err := c.Call(ctx, "getblockhash", []any{height}, &h); err != nil {
		return "", err
	}
	return h, nil
}

// BlockHeader is the part of a verbose getblockheader result the pool uses.
type BlockHeader struct {
	Hash string `json:"hash"`
	// Confirmations is 1 for the tip, more below it; Core reports -1 for a
	// block it knows that is not in its main chain.
	Confirmations     int64  `json:"confirmations"`
	Height            int64  `json:"height"`
	PreviousBlockHash string `json:"previousblockhash"`
	Time              int64  `json:"time"`
}

// GetBlockHeader returns the verbose header of the block with hash (display
// order). An unknown block is an *RPCError (btcd: -5; for a known block off
// its main chain btcd answers an internal error instead).
func (c *RPCClient) GetBlockHeader(ctx context.Context, hash string) (*BlockHeader, error) {
	var h BlockHeader
	if err := c.Call(ctx, "getblockheader", []any{hash, true}, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// SubmitBlock submits a hex-serialized block. It returns the node's result
// string: empty when the node returned null (accepted, or for btcd possibly
// an orphan; confirm with GetBlockHeader), otherwise the node's verdict such
// as btcd's "rejected: …" or Core's "duplicate", "inconclusive",
// "high-hash". err is set only when the call itself failed or the node
// answered a JSON-RPC error (for example a block that does not decode).
func (c *RPCClient) SubmitBlock(ctx context.Context, hexBlock string) (string, error) {
	var res *string
	if err := c.Call(ctx, "submitblock", []any{hexBlock}, &res); err != nil {
		return "", err
	}
	if res == nil {
		return "", nil
	}
	if *res == "" {
		// An empty string is a verdict without words, never an accept.
		return "rejected without a reason", nil
	}
	return *res, nil
}

// Generate mines n blocks with the node's own miner (btcd regtest/simnet with
// --miningaddr; Core removed the method, use GenerateToAddress). For tests.
func (c *RPCClient) Generate(ctx context.Context, n int) ([]string, error) {
	var hashes []string
	if err := c.Call(ctx, "generate", []any{n}, &hashes); err != nil {
		return nil, err
	}
	return hashes, nil
}

// GenerateToAddress mines n blocks paying addr (Bitcoin Core regtest). For
// tests.
func (c *RPCClient) GenerateToAddress(ctx context.Context, n int, addr string) ([]string, error) {
	var hashes []string
	if err := c.Call(ctx, "generatetoaddress", []any{n, addr}, &hashes); err != nil {
		return nil, err
	}
	return hashes, nil
}

// IsRPCError reports whether err carries a JSON-RPC error with code.
func IsRPCError(err error, code int) bool {
	var re *RPCError
	return errors.As(err, &re) && re.Code == code
}

// wsHost returns host:port of an http URL, for btcd's websocket endpoint.
func wsHost(rawURL string) (host string, tls bool, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", false, err
	}
	host = u.Host
	if u.Port() == "" {
		return "", false, fmt.Errorf("url %q has no port", rawURL)
	}
	if _, err := strconv.Atoi(u.Port()); err != nil {
		return "", false, fmt.Errorf("url %q: port: %w", rawURL, err)
	}
	return host, u.Scheme == "https", nil
}
