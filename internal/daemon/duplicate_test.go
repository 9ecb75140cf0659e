package daemon_test

import (
	"encoding/hex"
	"encoding/json"
	"slices"
	"testing"

	"github.com/tarbela-pool/tarbela/share"
)

// TestDuplicateShareCreditedOnce: the same share is credited once, over real
// TCP against the real pool (btcd, Redis). It is accepted once; after a
// suggested difficulty makes the pool resend the job under a new id it is a
// duplicate under that id (22); after the miner disconnects and resumes its
// session (same extranonce1) it is a duplicate again. Redis holds it once.
func TestDuplicateShareCreditedOnce(t *testing.T) {
	// Difficulties below about 2e-10 all accept every hash, so the share
	// stays valid at the suggested difficulty: only the duplicate memory
	// can refuse it. It is not a block, so the tip does not move.
	tp := startPool(t, poolOptions{difficulty: 1e-12, maxDifficulty: 1e15}, nil)
	worker := minerAddr + ".dup"
	c := dial(t, tp.d.StratumAddr())
	job := c.handshake(worker, "x", 0)
	s := c.findShare(job, worker, 0, 0, 0, false)
	wantAccepted(t, "first submission", c.call("mining.submit", s.params...))

	if r := c.call("mining.suggest_difficulty", 1e-11); string(r.Result) != "true" {
		t.Fatalf("mining.suggest_difficulty: %s %s", r.Result, r.Error)
	}
	resent := c.expectNotify(true)
	if resent.ID == job.ID || c.difficulty != 1e-11 {
		t.Fatalf("after the suggestion: job %q (was %q) at difficulty %v; want a new id at 1e-11", resent.ID, job.ID, c.difficulty)
	}
	p := slices.Clone(s.params)
	p[1] = resent.ID
	wantReject(t, "the share under the resent job id", c.call("mining.submit", p...), 22)

	en1 := hex.EncodeToString(c.extranonce1)
	c.conn.Close()
	waitFor(t, "the first connection to end", func() bool { return tp.d.Status().Connections == 0 })
	r := dial(t, tp.d.StratumAddr())
	sub := r.call("mining.subscribe", "integration-test/1", en1)
	var res []json.RawMessage
	if err := json.Unmarshal(sub.Result, &res); err != nil || len(res) != 3 || string(res[1]) != `"`+en1+`"` {
		t.Fatalf("resumed subscribe: %s %s; want extranonce1 %s back", sub.Result, sub.Error, en1)
	}
	r.extranonce2Size = c.extranonce2Size
	if a := r.call("mining.authorize", worker, "x"); string(a.Result) != "true" {
		t.Fatalf("mining.authorize: %s %s", a.Result, a.Error)
	}
	again := r.expectNotify(false)
	if again.PrevHash != job.PrevHash {
		t.Fatal("the tip moved during the test")
	}
	p[1] = again.ID
	wantReject(t, "the share after a resumed session", r.call("mining.submit", p...), 22)

	tp.settle(t)
	if st := tp.redisStats(t); st.TotalShares != 1 {
		t.Fatalf("Redis holds %d shares; want the share once", st.TotalShares)
	}
	if got := tp.metricValue(t, sharesMetric(share.ReasonDuplicate)); got != 2 {
		t.Errorf("%s = %v; want 2", sharesMetric(share.ReasonDuplicate), got)
	}
}
