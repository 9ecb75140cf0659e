package cpuminer

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/share"
)

// sessionVector is testdata/session-2442185.json.
type sessionVector struct {
	NotifyParams       []json.RawMessage `json:"notify_params"`
	Extranonce1        string            `json:"extranonce1"`
	Extranonce2Size    int               `json:"extranonce2_size"`
	VersionRollingMask string            `json:"version_rolling_mask"`
	ExpectedHeader     string            `json:"expected_header"`
	ExpectedHash       string            `json:"expected_hash"`
}

func loadVector(t testing.TB) sessionVector {
	t.Helper()
	b, err := os.ReadFile("testdata/session-2442185.json")
	if err != nil {
		t.Fatal(err)
	}
	var v sessionVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// notifyParams returns the vector's notify params with the job id, ntime
// and clean flag replaced.
func (v sessionVector) notifyParams(t testing.TB, id string, ntime uint32, clean bool) json.RawMessage {
	t.Helper()
	p := append([]json.RawMessage(nil), v.NotifyParams...)
	p[0], _ = json.Marshal(id)
	p[7], _ = json.Marshal(uint32BE(ntime))
	p[8], _ = json.Marshal(clean)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// poolShare is one submit the test pool received, with its verdict.
type poolShare struct {
	conn    int
	jobID   string
	nparams int
	version uint32
	hash    [32]byte
	reject  *share.Reject
	err     string // a protocol error the miner should never cause
}

// testPool is a small Stratum v1 server that checks every share the way
// the pool does (share.Job.Check on a job rebuilt from the notify it sent),
// so a miner that builds headers wrongly fails the test.
type testPool struct {
	t          *testing.T
	ln         net.Listener
	vec        sessionVector
	mask       uint32  // offered version-rolling mask; 0 declines
	difficulty float64 // sent before the first job
	// rejectEvery makes the pool reply with an error to every n-th valid
	// share (0: never), to exercise the miner's reject counting.
	rejectEvery int
	// silent makes the pool never answer a submit.
	silent bool
	// script, when set, runs on each new connection after authorize,
	// instead of sending the vector's job.
	script func(c *poolConn)
	// greet is sent on the first connection before anything else.
	greet []string
	// badSubscribe replaces the first connection's subscribe reply.
	badSubscribe string

	mu        sync.Mutex
	conns     int
	shares    []poolShare
	seen      map[[32]byte]bool
	suggested []float64
	wg        sync.WaitGroup
}

func newTestPool(t *testing.T) *testPool {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &testPool{t: t, ln: ln, vec: loadVector(t), difficulty: 1e-5, seen: make(map[[32]byte]bool)}
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *testPool) start() {
	p.wg.Go(func() {
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns++
			n := p.conns
			p.mu.Unlock()
			p.wg.Go(func() { p.serve(c, n) })
		}
	})
}

func (p *testPool) url() string { return "stratum+tcp://" + p.ln.Addr().String() }

// poolConn is the pool side of one connection.
type poolConn struct {
	p    *testPool
	c    net.Conn
	n    int
	wmu  sync.Mutex
	mask uint32
	en1  []byte
	// jobs and their extranonce1, by id, as sent on this connection.
	mu   sync.Mutex
	jobs map[string]*poolJob
}

type poolJob struct {
	job *share.Job
	en1 []byte
}

func (c *poolConn) send(line string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.c.Write([]byte(line + "\n"))
}

func (c *poolConn) sendJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.p.t.Errorf("test pool: %v", err)
		return
	}
	c.send(string(b))
}

// notify sends a job built from the vector and remembers it for checking.
func (c *poolConn) notify(id string, ntime uint32, clean bool) {
	params := c.p.vec.notifyParams(c.p.t, id, ntime, clean)
	job, err := share.JobFromNotify(params, c.p.vec.Extranonce2Size)
	if err != nil {
		c.p.t.Errorf("test pool: %v", err)
		return
	}
	c.mu.Lock()
	c.jobs[id] = &poolJob{job: job, en1: c.en1}
	c.mu.Unlock()
	c.send(`{"id":null,"method":"mining.notify","params":` + string(params) + `}`)
}

func (c *poolConn) setDifficulty(d float64) {
	c.send(`{"id":null,"method":"mining.set_difficulty","params":[` + strconv.FormatFloat(d, 'g', -1, 64) + `]}`)
}

// shares returns the shares received on this connection so far.
func (c *poolConn) shares() int {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	n := 0
	for _, s := range c.p.shares {
		if s.conn == c.n {
			n++
		}
	}
	return n
}

// waitShares waits until this connection has received n shares.
func (c *poolConn) waitShares(n int) bool {
	deadline := time.Now().Add(20 * time.Second)
	for c.shares() < n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

type rpc struct {
	ID     json.RawMessage   `json:"id"`
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
}

func (p *testPool) serve(nc net.Conn, n int) {
	defer nc.Close()
	en1 := []byte{0x57, 0xa6, 0xf0, byte(n)}
	c := &poolConn{p: p, c: nc, n: n, en1: en1, jobs: make(map[string]*poolJob)}
	if n == 1 {
		for _, g := range p.greet {
			c.send(g)
		}
	}
	r := bufio.NewReaderSize(nc, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		var req rpc
		if err := json.Unmarshal(line, &req); err != nil {
			p.protocolError(n, fmt.Sprintf("miner sent unreadable line %q", line))
			return
		}
		switch req.Method {
		case "":
			// A reply to a request of ours (unknown methods in greet).
		case "mining.configure":
			c.mask = p.mask
			if p.mask == 0 {
				c.send(`{"id":` + string(req.ID) + `,"result":{"version-rolling":false},"error":null}`)
				continue
			}
			c.send(`{"id":` + string(req.ID) + `,"result":{"version-rolling":true,"version-rolling.mask":"` + uint32BE(p.mask) + `"},"error":null}`)
		case "mining.subscribe":
			if n == 1 && p.badSubscribe != "" {
				c.send(`{"id":` + string(req.ID) + `,"result":` + p.badSubscribe + `,"error":null}`)
				continue
			}
			c.send(`{"id":` + string(req.ID) + `,"result":[[["mining.notify","ab"]],"` + hex.EncodeToString(en1) + `",` + strconv.Itoa(p.vec.Extranonce2Size) + `],"error":null}`)
		case "mining.suggest_difficulty":
			var d float64
			if len(req.Params) > 0 {
				json.Unmarshal(req.Params[0], &d)
			}
			p.mu.Lock()
			p.suggested = append(p.suggested, d)
			p.mu.Unlock()
			c.send(`{"id":` + string(req.ID) + `,"result":true,"error":null}`)
		case "mining.authorize":
			var user string
			if len(req.Params) > 0 {
				json.Unmarshal(req.Params[0], &user)
			}
			if user == "bad" {
				c.send(`{"id":` + string(req.ID) + `,"result":false,"error":[24,"Unauthorized worker",null]}`)
				continue
			}
			c.send(`{"id":` + string(req.ID) + `,"result":true,"error":null}`)
			if p.script != nil {
				go p.script(c)
				continue
			}
			c.setDifficulty(p.difficulty)
			c.notify("1", 0x64b3f3ec, true)
		case "mining.submit":
			p.submit(c, &req)
		default:
			p.protocolError(n, "miner sent unexpected method "+req.Method)
		}
	}
}

func (p *testPool) protocolError(conn int, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shares = append(p.shares, poolShare{conn: conn, err: msg})
}

// submit checks one share exactly as the pool would and replies.
func (p *testPool) submit(c *poolConn, req *rpc) {
	s := poolShare{conn: c.n, nparams: len(req.Params)}
	reply := func(rej *share.Reject) {
		if rej == nil {
			c.send(`{"id":` + string(req.ID) + `,"result":true,"error":null}`)
			return
		}
		c.send(`{"id":` + string(req.ID) + `,"result":null,"error":[` + strconv.Itoa(rej.Code()) + `,"` + rej.Message + `",null]}`)
	}
	var f []string
	for _, raw := range req.Params {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			s.err = "submit param is not a string: " + string(raw)
		}
		f = append(f, v)
	}
	if s.err == "" && (len(f) < 5 || len(f) > 6) {
		s.err = fmt.Sprintf("submit has %d params", len(f))
	}
	if s.err == "" && (len(f) == 6) != (c.mask != 0) {
		s.err = fmt.Sprintf("submit has %d params with negotiated mask %08x", len(f), c.mask)
	}
	if s.err != "" {
		p.mu.Lock()
		p.shares = append(p.shares, s)
		p.mu.Unlock()
		reply(&share.Reject{Reason: share.ReasonBadParams, Message: s.err})
		return
	}
	s.jobID = f[1]
	c.mu.Lock()
	pj := c.jobs[f[1]]
	c.mu.Unlock()
	if pj == nil {
		s.reject = share.ErrJobNotFound
	} else {
		vb := ""
		if len(f) == 6 {
			vb = f[5]
		}
		var sub share.Submission
		s.reject = share.ParseSubmit(&sub, pj.en1, f[2], f[3], f[4], vb, pj.job.Extranonce2Size)
		if s.reject == nil {
			target, err := share.TargetFromDifficulty(p.difficulty)
			if err != nil {
				p.t.Errorf("test pool: %v", err)
			}
			var res share.Result
			s.reject = pj.job.Check(&sub, c.mask, &target, time.Now(), &res)
			s.hash = res.Hash
			s.version = uint32(res.Header[0]) | uint32(res.Header[1])<<8 | uint32(res.Header[2])<<16 | uint32(res.Header[3])<<24
		}
	}
	p.mu.Lock()
	if s.reject == nil && p.seen[s.hash] {
		s.reject = share.ErrDuplicate
	}
	if s.reject == nil {
		p.seen[s.hash] = true
	}
	valid := 0
	for _, x := range p.shares {
		if x.reject == nil && x.err == "" {
			valid++
		}
	}
	p.shares = append(p.shares, s)
	p.mu.Unlock()
	if p.silent {
		return
	}
	if s.reject == nil && p.rejectEvery > 0 && (valid+1)%p.rejectEvery == 0 {
		reply(share.ErrLowDifficulty) // a pool's verdict the miner must count as a reject
		return
	}
	reply(s.reject)
}

// snapshot returns the shares received so far.
func (p *testPool) snapshot() []poolShare {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]poolShare(nil), p.shares...)
}

// waitValid waits until n valid shares arrived. It gives up at once when an
// invalid share arrives, so a miner that builds shares wrongly fails fast.
func (p *testPool) waitValid(n int) bool {
	deadline := time.Now().Add(30 * time.Second)
	for {
		valid := 0
		for _, s := range p.snapshot() {
			if s.reject != nil || s.err != "" {
				return false
			}
			valid++
		}
		if valid >= n {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestInflightCap checks that the miner stops submitting when maxInflight
// shares are unanswered, rather than pile submits on a pool that is behind.
func TestInflightCap(t *testing.T) {
	p := newTestPool(t)
	p.silent = true
	p.start()
	m, err := New(Options{URL: p.url(), User: "u", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	if !p.waitValid(maxInflight) {
		t.Fatalf("pool received invalid shares: %+v", p.snapshot())
	}
	// Mining goes on at difficulty 1e-5 (a share every few milliseconds),
	// but no reply comes, so no further share may be sent.
	time.Sleep(500 * time.Millisecond)
	if n := len(p.snapshot()); n != maxInflight {
		t.Errorf("pool received %d unanswered shares, want exactly %d", n, maxInflight)
	}
}
