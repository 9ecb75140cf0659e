package stratum

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/share"
)

// ioWait bounds every wait on the network in tests. It is a hang guard, not
// a speed assertion: each expected event happens in milliseconds.
const ioWait = 10 * time.Second

// vector is the recorded Bitaxe session (testdata/session-bitaxe.json, copied
// from the shared vectors with its source line).
type vector struct {
	Source                   string          `json:"source"`
	SubscribeRequest         string          `json:"subscribe_request"`
	ConfigureRequest         string          `json:"configure_request"`
	ConfigureResponse        string          `json:"configure_response_expected"`
	AuthorizeRequest         string          `json:"authorize_request"`
	AuthorizeResponse        string          `json:"authorize_response_expected"`
	SuggestDifficultyRequest string          `json:"suggest_difficulty_request"`
	SuggestDifficultyReply   string          `json:"suggest_difficulty_response_expected"`
	NotifyParams             json.RawMessage `json:"notify_params"`
	Extranonce1              string          `json:"extranonce1"`
	Extranonce2Size          int             `json:"extranonce2_size"`
	VersionRollingMask       string          `json:"version_rolling_mask"`
	SessionDifficulty        float64         `json:"session_difficulty"`
	SubmitRequest            string          `json:"submit_request"`
	SubmitResponse           string          `json:"submit_response_expected"`
	ShareDifficulty          float64         `json:"share_difficulty"`
}

// vectorUser is the username of the recorded session.
const vectorUser = "tb1qumezefzdeqqwn5zfvgdrhxjzc5ylr39uhuxcz4.bitaxe3"

// vectorNTime is the recorded job's ntime (2023-07-16); the validator's clock
// is set just after it so the share's ntime is in range.
const vectorNTime = 0x64b3f3ec

func loadVector(t testing.TB) *vector {
	t.Helper()
	b, err := os.ReadFile("testdata/session-bitaxe.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.Source == "" {
		t.Fatal("vector without its source line")
	}
	return &v
}

// vectorJob builds the recorded job with share.JobFromNotify.
func vectorJob(t testing.TB, v *vector) *share.Job {
	t.Helper()
	j, err := share.JobFromNotify(v.NotifyParams, v.Extranonce2Size)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// vectorSubmit is the recorded submit params with job id and field overrides.
func vectorSubmit(id any, params ...string) string {
	b, _ := json.Marshal(map[string]any{"id": id, "method": "mining.submit", "params": params})
	return string(b)
}

// recordedParams returns the recorded submit's params.
func recordedParams(t testing.TB, v *vector) []string {
	t.Helper()
	var req struct {
		Params []string `json:"params"`
	}
	if err := json.Unmarshal([]byte(v.SubmitRequest), &req); err != nil {
		t.Fatal(err)
	}
	return req.Params
}

// fakeWork hands every account the same job.
type fakeWork struct {
	job   *share.Job
	clean bool
}

func (w fakeWork) JobFor(string) (*share.Job, error) { return w.job, nil }
func (w fakeWork) Clean() bool                       { return w.clean }
func (w fakeWork) Height() int64                     { return w.job.Height }

// fakeAuth accepts "account[.rig]" unless the account starts with "bad".
type fakeAuth struct{}

func (fakeAuth) Authorize(user string) (*share.Worker, error) {
	account, rig, _ := strings.Cut(user, ".")
	if account == "" || strings.HasPrefix(account, "bad") {
		return nil, errors.New("invalid payout address " + account)
	}
	return &share.Worker{Name: user, Account: account, Rig: rig}, nil
}

// memStore is an in-memory share.Store.
type memStore struct {
	mu     sync.Mutex
	shares []share.Record
	blocks []*share.BlockRecord
	// down makes AddShare refuse every share, as a store whose queue is
	// full or whose journal failed does.
	down bool
}

// errStoreDown is what a memStore that is down answers.
var errStoreDown = errors.New("share store down")

// setDown takes the store down or brings it back.
func (m *memStore) setDown(down bool) {
	m.mu.Lock()
	m.down = down
	m.mu.Unlock()
}

// AddShare keeps r and, as a store that is durable at once, acknowledges
// it before returning.
func (m *memStore) AddShare(r share.Record) error {
	m.mu.Lock()
	if m.down {
		m.mu.Unlock()
		return errStoreDown
	}
	ack := r.Ack
	r.Ack = nil
	m.shares = append(m.shares, r)
	m.mu.Unlock()
	if ack != nil {
		ack.ShareRecorded(r.Token, nil)
	}
	return nil
}

func (m *memStore) AddBlock(b *share.BlockRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blocks = append(m.blocks, b)
	return nil
}

func (m *memStore) records() []share.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]share.Record(nil), m.shares...)
}

// recordingSink is a share.BlockSink that records its calls.
type recordingSink struct {
	mu    sync.Mutex
	calls []*share.Solved
}

func (r *recordingSink) SubmitBlock(_ context.Context, s *share.Solved) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
	return nil
}

func (r *recordingSink) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// countingObserver counts share outcomes by reason.
type countingObserver struct {
	mu     sync.Mutex
	counts map[share.Reason]int
}

func (o *countingObserver) ShareJudged(r share.Reason, _ float64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counts == nil {
		o.counts = make(map[share.Reason]int)
	}
	o.counts[r]++
}

func (o *countingObserver) BlockJudged(share.BlockStatus) {}

func (o *countingObserver) count(r share.Reason) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[r]
}

// testEnv is a running server with its fakes.
type testEnv struct {
	srv   *Server
	store *memStore
	sink  *recordingSink
	obs   *countingObserver
	vec   *vector
	job   *share.Job
}

// startServer starts a server on 127.0.0.1:0 set up for the recorded
// session (NodeID 0x57, extranonce2 size 4, initial difficulty 512) and
// publishes the recorded job; edit may change the options first.
func startServer(t testing.TB, edit func(*Options)) *testEnv {
	t.Helper()
	e := &testEnv{store: &memStore{}, sink: &recordingSink{}, obs: &countingObserver{}, vec: loadVector(t)}
	e.job = vectorJob(t, e.vec)
	v := share.NewValidator(share.ValidatorOptions{
		Store: e.store, Blocks: e.sink, Observer: e.obs, Node: 0x57,
		Now: func() time.Time { return time.Unix(vectorNTime+60, 0) },
	})
	o := Options{
		Listen:          "127.0.0.1:0",
		NodeID:          0x57,
		Extranonce2Size: e.vec.Extranonce2Size,
		Validator:       v,
		Auth:            fakeAuth{},
		Difficulty:      DifficultyOptions{Initial: 512, Min: 1e-12, Max: 1e12},
	}
	if edit != nil {
		edit(&o)
	}
	srv, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioWait)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	srv.Publish(fakeWork{job: e.job, clean: true})
	return e
}

// client is a miner's end of a connection.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dial(t testing.TB, srv *Server) *client {
	t.Helper()
	return dialAddr(t, srv.Addr().String())
}

// dialAddr connects to addr over plain TCP.
func dialAddr(t testing.TB, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, ioWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// send writes one request line.
func (c *client) send(line string) {
	c.t.Helper()
	if err := c.conn.SetWriteDeadline(time.Now().Add(ioWait)); err != nil {
		c.t.Fatal(err)
	}
	if _, err := io.WriteString(c.conn, line+"\n"); err != nil {
		c.t.Fatalf("send %s: %v", line, err)
	}
}

// message is one line from the server.
type message struct {
	raw    string
	fields map[string]json.RawMessage
}

func (m *message) method() string {
	var s string
	_ = json.Unmarshal(m.fields["method"], &s)
	return s
}

// errorCode returns the Stratum error code, or 0 when error is null.
func (m *message) errorCode() int {
	var e []any
	if err := json.Unmarshal(m.fields["error"], &e); err != nil || len(e) < 2 {
		return 0
	}
	code, _ := e[0].(float64)
	return int(code)
}

func (m *message) errorMessage() string {
	var e []any
	if err := json.Unmarshal(m.fields["error"], &e); err != nil || len(e) < 2 {
		return ""
	}
	s, _ := e[1].(string)
	return s
}

// params decodes the notification params into dst.
func (m *message) params(t testing.TB, dst any) {
	t.Helper()
	if err := json.Unmarshal(m.fields["params"], dst); err != nil {
		t.Fatalf("params of %s: %v", m.raw, err)
	}
}

// recv reads the next line, failing the test when none comes.
func (c *client) recv() *message {
	c.t.Helper()
	m, err := c.tryRecv()
	if err != nil {
		c.t.Fatalf("recv: %v", err)
	}
	return m
}

func (c *client) tryRecv() (*message, error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(ioWait)); err != nil {
		return nil, err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	m := &message{raw: strings.TrimSpace(line)}
	if err := json.Unmarshal([]byte(line), &m.fields); err != nil {
		return nil, errors.New("server sent invalid JSON: " + line)
	}
	return m, nil
}

// expectReply reads a reply and checks its id (raw JSON).
func (c *client) expectReply(id string) *message {
	c.t.Helper()
	m := c.recv()
	if _, ok := m.fields["result"]; !ok {
		c.t.Fatalf("want a reply with id %s, got %s", id, m.raw)
	}
	if got := string(m.fields["id"]); got != id {
		c.t.Fatalf("reply id = %s, want %s (%s)", got, id, m.raw)
	}
	return m
}

// expectResult reads a reply and checks its result and a null error.
func (c *client) expectResult(id, result string) {
	c.t.Helper()
	m := c.expectReply(id)
	if !jsonEqual(m.fields["result"], []byte(result)) || string(m.fields["error"]) != "null" {
		c.t.Fatalf("want result %s and error null, got %s", result, m.raw)
	}
}

// expectError reads a reply and checks its error code.
func (c *client) expectError(id string, code int) *message {
	c.t.Helper()
	m := c.expectReply(id)
	if got := m.errorCode(); got != code {
		c.t.Fatalf("error code = %d, want %d (%s)", got, code, m.raw)
	}
	return m
}

// expectMethod reads a notification of the given method.
func (c *client) expectMethod(method string) *message {
	c.t.Helper()
	m := c.recv()
	if m.method() != method || string(m.fields["id"]) != "null" {
		c.t.Fatalf("want notification %s, got %s", method, m.raw)
	}
	return m
}

// expectDifficulty reads a mining.set_difficulty and returns its value.
func (c *client) expectDifficulty() float64 {
	c.t.Helper()
	var p []float64
	c.expectMethod("mining.set_difficulty").params(c.t, &p)
	if len(p) != 1 {
		c.t.Fatalf("set_difficulty params %v", p)
	}
	return p[0]
}

// expectNotify reads a mining.notify and returns its job id and clean flag.
func (c *client) expectNotify() (id string, clean bool) {
	c.t.Helper()
	var p []any
	c.expectMethod("mining.notify").params(c.t, &p)
	if len(p) != 9 {
		c.t.Fatalf("notify has %d params", len(p))
	}
	id, _ = p[0].(string)
	clean, _ = p[8].(bool)
	return id, clean
}

// expectClosed reads until the server closes the connection, failing when
// it stays open (or keeps talking) past ioWait.
func (c *client) expectClosed() {
	c.t.Helper()
	if err := c.conn.SetReadDeadline(time.Now().Add(ioWait)); err != nil {
		c.t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("connection still open")
	}
}

// subscribe sends the recorded subscribe with the recorded extranonce1 as
// the previous session id, and checks the reply.
func (c *client) subscribe(v *vector) {
	c.t.Helper()
	c.send(`{"id": 1, "method": "mining.subscribe", "params": ["bitaxe v2.2", "` + v.Extranonce1 + `"]}`)
	c.expectResult("1", `[[["mining.set_difficulty","57a6f098"],["mining.notify","57a6f098"]],"57a6f098",4]`)
}

// configure negotiates version rolling as recorded.
func (c *client) configure(v *vector) {
	c.t.Helper()
	c.send(v.ConfigureRequest)
	c.expectResult("2", `{"version-rolling":true,"version-rolling.mask":"1fffe000"}`)
}

// authorize authorizes user with password and expects acceptance followed by
// the first set_difficulty and notify; it returns the difficulty and job id.
func (c *client) authorize(user, pass string) (float64, string) {
	c.t.Helper()
	b, _ := json.Marshal(map[string]any{"id": 3, "method": "mining.authorize", "params": []string{user, pass}})
	c.send(string(b))
	c.expectResult("3", "true")
	d := c.expectDifficulty()
	id, clean := c.expectNotify()
	if !clean {
		c.t.Fatal("first notify must be clean")
	}
	return d, id
}

// handshake runs subscribe, configure and authorize as the recorded miner.
func (c *client) handshake(v *vector, pass string) (float64, string) {
	c.t.Helper()
	c.subscribe(v)
	c.configure(v)
	return c.authorize(vectorUser, pass)
}

// raiseDifficulty suggests difficulty d (above the current one) in request
// id and checks that the pool sets it and resends the job sent under prevID
// under a new id with clean=false; it returns the new id.
func (c *client) raiseDifficulty(id int, d float64, prevID string) string {
	c.t.Helper()
	c.send(fmt.Sprintf(`{"id":%d,"method":"mining.suggest_difficulty","params":[%v]}`, id, d))
	c.expectResult(fmt.Sprint(id), "true")
	if got := c.expectDifficulty(); got != d {
		c.t.Fatalf("new difficulty %v, want %v", got, d)
	}
	newID, clean := c.expectNotify()
	if newID == prevID || clean {
		c.t.Fatalf("after a difficulty change want the job resent under a new id with clean=false, got %q clean=%v", newID, clean)
	}
	return newID
}

// jsonEqual compares two JSON texts semantically.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// waitFor polls cond until it holds, failing after ioWait.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ioWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
