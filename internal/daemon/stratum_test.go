package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// fixedEasy is the password that pins a connection at difficulty 1e-12,
// where the share target saturates at 2^256-1: every hash is a share and
// about every second one is also a regtest block.
const fixedEasy = "x,d=1e-12"

// startRawPool starts a pool for raw clients: minimum difficulty 1e-12 so
// that fixedEasy applies, maximum 1e15 so that a huge d=N applies too.
func startRawPool(t *testing.T) *testPool {
	t.Helper()
	return startPool(t, poolOptions{difficulty: 1e-12, maxDifficulty: 1e15}, nil)
}

// sharesMetric is the series of tarbela_shares_total for a reason.
func sharesMetric(reason share.Reason) string {
	result := "rejected"
	if reason == share.ReasonNone {
		result = "accepted"
	}
	return fmt.Sprintf(`tarbela_shares_total{reason=%q,result=%q}`, reason.String(), result)
}

// wantAccepted fails unless r is a plain true result.
func wantAccepted(t *testing.T, what string, r *message) {
	t.Helper()
	if string(r.Result) != "true" || r.errorCode() != 0 {
		t.Fatalf("%s: result %s error %s; want accepted", what, r.Result, r.Error)
	}
}

// wantReject fails unless r is a rejection [code, "message", null].
func wantReject(t *testing.T, what string, r *message, code int) {
	t.Helper()
	if r.errorCode() != code || len(r.Error) != 3 || string(r.Error[2]) != "null" || string(r.Result) == "true" {
		t.Fatalf("%s: result %s error %s; want error [%d, message, null]", what, r.Result, r.Error, code)
	}
	var msg string
	if err := json.Unmarshal(r.Error[1], &msg); err != nil || msg == "" {
		t.Fatalf("%s: error message %s; want a non-empty string", what, r.Error[1])
	}
}

// TestShareButNotBlock: at a pool difficulty below regtest's network
// difficulty, shares that do not meet the network target are accepted and
// recorded as shares only; the one that does becomes exactly one block.
func TestShareButNotBlock(t *testing.T) {
	tp := startRawPool(t)
	c := dial(t, tp.d.StratumAddr())
	worker := minerAddr + ".nonblock"
	job := c.handshake(worker, fixedEasy, 0)
	if c.difficulty != 1e-12 {
		t.Fatalf("pool set difficulty %v; want 1e-12", c.difficulty)
	}

	const plain = 10
	var nonce uint32
	for i := range plain {
		s := c.findShare(job, worker, 0, nonce, 0, false)
		wantAccepted(t, fmt.Sprintf("non-block share %d", i), c.call("mining.submit", s.params...))
		nonce = s.nonce + 1
	}
	if st := tp.d.Status(); st.Accepted != plain || st.BlocksSubmitted != 0 {
		t.Fatalf("after %d non-block shares the pool counts %d accepted, %d blocks", plain, st.Accepted, st.BlocksSubmitted)
	}
	blockShare := c.findShare(job, worker, 0, nonce, 0, true)
	wantAccepted(t, "block share", c.call("mining.submit", blockShare.params...))
	wantHash := share.DisplayHex(&blockShare.res.Hash)

	records := tp.settle(t)
	st := tp.d.Status()
	if st.Accepted != plain+1 || st.BlocksSubmitted != 1 || st.BlocksAccepted != 1 {
		t.Errorf("pool counts %d accepted shares, %d blocks submitted, %d accepted; want %d, 1, 1", st.Accepted, st.BlocksSubmitted, st.BlocksAccepted, plain+1)
	}
	tp.checkSharesRecorded(t)
	if len(records) != 1 || records[0].Hash != wantHash || records[0].Status != share.BlockAccepted {
		t.Fatalf("Redis block records %+v; want only block %s, accepted", records, wantHash)
	}
	blocks := tp.acceptedBlocks(t, records)
	if len(blocks) != 1 || blocks[0].Height != tp.startHeight+1 {
		t.Errorf("node has %d of the pool's blocks; want block %s at height %d", len(blocks), wantHash, tp.startHeight+1)
	}
	if got := tp.metricValue(t, sharesMetric(share.ReasonNone)); got != plain+1 {
		t.Errorf("metric %s = %v; want %d", sharesMetric(share.ReasonNone), got, plain+1)
	}
	if got := tp.metricValue(t, `tarbela_blocks_total{result="accepted"}`); got != 1 {
		t.Errorf("tarbela_blocks_total{result=\"accepted\"} = %v; want 1", got)
	}
}

// TestStopSendsReconnect: a graceful stop tells connected miners to
// reconnect, closes their connections and the listener, and writes every
// accepted share to Redis before it returns.
func TestStopSendsReconnect(t *testing.T) {
	tp := startRawPool(t)
	c := dial(t, tp.d.StratumAddr())
	worker := minerAddr + ".stop"
	job := c.handshake(worker, fixedEasy, 0)
	s := c.findShare(job, worker, 0, 0, 0, false)
	wantAccepted(t, "share before stop", c.call("mining.submit", s.params...))

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- tp.d.Stop(ctx) }()
	// The pool half-closes after client.reconnect and waits for the miner
	// to hang up, as a miner that obeys reconnects does below.
	var sawReconnect bool
	for {
		m, err := c.read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading after Stop: %v (client.reconnect seen: %v)", err, sawReconnect)
		}
		if m.Method == "client.reconnect" {
			sawReconnect = true
		}
	}
	if !sawReconnect {
		t.Error("connection closed without client.reconnect")
	}
	c.conn.Close()
	if err := <-stopped; err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if conn, err := net.DialTimeout("tcp", tp.d.StratumAddr(), time.Second); err == nil {
		conn.Close()
		t.Error("the Stratum listener still accepts connections after Stop")
	}
	if err := tp.d.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	rdb := redis.NewClient(&redis.Options{Addr: tp.redis.Addr})
	defer rdb.Close()
	st, err := redisstore.NewReader(rdb, tp.cfg.Redis.Prefix, 0).Stats(ctx)
	if err != nil {
		t.Fatalf("read Redis after Stop: %v", err)
	}
	if st.TotalShares != 1 {
		t.Errorf("Redis holds %d shares after Stop; want the 1 accepted", st.TotalShares)
	}
}

// TestVersionRolledShare: a miner that negotiated version rolling submits a
// block whose header version carries rolled bits; the pool rebuilds the
// same header, the node accepts the block with that version. Bits outside
// the negotiated mask are refused with 20.
func TestVersionRolledShare(t *testing.T) {
	tp := startRawPool(t)
	c := dial(t, tp.d.StratumAddr())
	worker := minerAddr + ".roll"
	job := c.handshake(worker, fixedEasy, 0xffffffff)
	if c.mask != bip320Mask {
		t.Fatalf("pool answered mask %08x to a miner asking for ffffffff; want %08x", c.mask, bip320Mask)
	}

	outside := c.call("mining.submit", worker, job.ID, "0000000000000000", fmt.Sprintf("%08x", job.CurTime), "00000000", "00000001")
	wantReject(t, "version bits outside the mask", outside, 20)

	const bits = 0x0aaaa000 // inside 1fffe000, not the template's
	want := job.Version&^bip320Mask | bits
	if want == job.Version {
		t.Fatalf("template version %08x already has bits %08x; pick others", job.Version, bits)
	}
	s := c.findShare(job, worker, 1, 0, bits, true)
	wantAccepted(t, "version-rolled block share", c.call("mining.submit", s.params...))
	records := tp.settle(t)
	blocks := tp.acceptedBlocks(t, records)
	if len(blocks) != 1 || blocks[0].BlockHash().String() != share.DisplayHex(&s.res.Hash) {
		t.Fatalf("pool records %+v; want the rolled block %s accepted", records, share.DisplayHex(&s.res.Hash))
	}
	if got := uint32(blocks[0].Header.Version); got != want {
		t.Errorf("node's block version %08x; want %08x (template %08x with bits %08x)", got, want, job.Version, bits)
	}
	if got := tp.metricValue(t, sharesMetric(share.ReasonVersionMask)); got != 1 {
		t.Errorf("metric %s = %v; want 1", sharesMetric(share.ReasonVersionMask), got)
	}
}

// TestRejectCodes: each Stratum error code 20-25 produced by a real
// connection against the real pool and node; each rejection is counted
// under its reason and the connection stays usable.
func TestRejectCodes(t *testing.T) {
	tp := startRawPool(t)
	addr := tp.d.StratumAddr()
	worker := minerAddr + ".rej"
	ntime := func(j *share.Job) string { return fmt.Sprintf("%08x", j.CurTime) }

	tests := []struct {
		name   string
		code   int
		reason share.Reason
		// run makes the connection state the case needs and returns the
		// reply to the offending submit.
		run func(t *testing.T, c *stratumClient) *message
	}{
		{name: "submit before subscribe", code: 25, reason: share.ReasonNotSubscribed,
			run: func(t *testing.T, c *stratumClient) *message {
				return c.call("mining.submit", worker, "1", "0000000000000000", "00000000", "00000000")
			}},
		{name: "worker not authorized on the connection", code: 24, reason: share.ReasonUnauthorized,
			run: func(t *testing.T, c *stratumClient) *message {
				j := c.handshake(worker, fixedEasy, 0)
				s := c.findShare(j, worker, 0, 0, 0, false)
				s.params[0] = minerAddr + ".someone-else"
				return c.call("mining.submit", s.params...)
			}},
		{name: "unknown job id", code: 21, reason: share.ReasonJobNotFound,
			run: func(t *testing.T, c *stratumClient) *message {
				j := c.handshake(worker, fixedEasy, 0)
				s := c.findShare(j, worker, 0, 0, 0, false)
				s.params[1] = "feedface"
				return c.call("mining.submit", s.params...)
			}},
		{name: "duplicate of an accepted share", code: 22, reason: share.ReasonDuplicate,
			run: func(t *testing.T, c *stratumClient) *message {
				j := c.handshake(worker, fixedEasy, 0)
				s := c.findShare(j, worker, 0, 0, 0, false)
				wantAccepted(t, "first submit", c.call("mining.submit", s.params...))
				return c.call("mining.submit", s.params...)
			}},
		{name: "below the connection's difficulty", code: 23, reason: share.ReasonLowDifficulty,
			run: func(t *testing.T, c *stratumClient) *message {
				j := c.handshake(worker, "d=1e12", 0)
				if c.difficulty != 1e12 {
					t.Fatalf("pool set difficulty %v for d=1e12", c.difficulty)
				}
				// Not a block, so judged against difficulty 1e12 only.
				s := c.findShare(j, worker, 0, 0, 0, false)
				if s.res.Difficulty >= 1e12 {
					t.Fatalf("share difficulty %v meets 1e12", s.res.Difficulty)
				}
				return c.call("mining.submit", s.params...)
			}},
		{name: "malformed ntime", code: 20, reason: share.ReasonBadNTime,
			run: func(t *testing.T, c *stratumClient) *message {
				j := c.handshake(worker, fixedEasy, 0)
				return c.call("mining.submit", worker, j.ID, "0000000000000000", "zzzzzzzz", "00000000")
			}},
		{name: "wrong extranonce2 length", code: 20, reason: share.ReasonBadExtranonce2,
			run: func(t *testing.T, c *stratumClient) *message {
				j := c.handshake(worker, fixedEasy, 0)
				return c.call("mining.submit", worker, j.ID, "00", ntime(j), "00000000")
			}},
		{name: "ntime beyond two hours ahead", code: 20, reason: share.ReasonNTimeRange,
			run: func(t *testing.T, c *stratumClient) *message {
				j := c.handshake(worker, fixedEasy, 0)
				late := fmt.Sprintf("%08x", time.Now().Add(3*time.Hour).Unix())
				return c.call("mining.submit", worker, j.ID, "0000000000000000", late, "00000000")
			}},
		// Last: its block moves the node to a new tip.
		{name: "share for a job replaced by a new tip", code: 21, reason: share.ReasonStale,
			run: func(t *testing.T, c *stratumClient) *message {
				j := c.handshake(worker, fixedEasy, 0)
				b := c.findShare(j, worker, 0, 0, 0, true)
				// The clean job may come before or after the reply.
				c.notify = nil
				wantAccepted(t, "block share", c.call("mining.submit", b.params...))
				for {
					next := c.expectNotify(false)
					if next.Clean && next.PrevHash == b.res.Hash {
						break
					}
					c.notify = nil
				}
				s := c.findShare(j, worker, 1, 0, 0, false)
				return c.call("mining.submit", s.params...)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tp.metricValue(t, sharesMetric(tc.reason))
			c := dial(t, addr)
			wantReject(t, tc.name, tc.run(t, c), tc.code)
			if got := tp.metricValue(t, sharesMetric(tc.reason)); got != before+1 {
				t.Errorf("metric %s went from %v to %v; want one more", sharesMetric(tc.reason), before, got)
			}
			// The connection stays usable: a second subscribe is answered.
			if r := c.call("mining.subscribe", "integration-test/1"); r.errorCode() != 0 {
				t.Errorf("subscribe after the rejection: %s", r.Error)
			}
		})
	}
	if st := tp.d.Status(); st.BlocksSubmitted != 1 {
		t.Errorf("the reject cases submitted %d blocks; want the stale case's one", st.BlocksSubmitted)
	}
}
