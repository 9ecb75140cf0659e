package stratum

import (
	"fmt"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/share"
)

// TestDuplicateAcrossJobIDsAndSessions: a share is credited once whatever
// job id it comes under. The recorded share is accepted under the first job
// id; a difficulty change resends the job under a new id and the same share
// is a duplicate there (22); the miner disconnects, resumes its session
// (same extranonce1) on a new connection and gets a new id for the same job:
// the share is a duplicate again. The store holds it once. A new tip then
// frees the memory of the released extranonce1.
func TestDuplicateAcrossJobIDsAndSessions(t *testing.T) {
	e := startServer(t, nil)
	c := dial(t, e.srv)
	_, firstID := c.handshake(e.vec, "x")
	p := recordedParams(t, e.vec)
	p[1] = firstID
	c.send(vectorSubmit(5, p...))
	c.expectResult("5", "true")

	// The share is worth 669.87: a difficulty of 600 keeps it valid under
	// the new id, so only the duplicate memory can refuse it.
	resentID := c.raiseDifficulty(6, 600, firstID)
	p[1] = resentID
	c.send(vectorSubmit(7, p...))
	c.expectError("7", 22)
	p[1] = firstID
	c.send(vectorSubmit(8, p...))
	c.expectError("8", 22)

	// Disconnect and resume: the server must have released the
	// extranonce1 before the resumed subscribe can take it back.
	_ = c.conn.Close()
	waitFor(t, "the first connection to end", func() bool { return e.srv.Connections() == 0 })
	r := dial(t, e.srv)
	_, resumedID := r.handshake(e.vec, "x") // subscribe checks the same extranonce1
	p[1] = resumedID
	r.send(vectorSubmit(9, p...))
	r.expectError("9", 22)

	if recs := e.store.records(); len(recs) != 1 {
		t.Fatalf("store holds %d records, want the share once: %+v", len(recs), recs)
	}
	if n := e.obs.count(share.ReasonDuplicate); n != 3 {
		t.Errorf("%d duplicates counted, want 3", n)
	}

	// A new tip: the released memory is dropped, the live one reset.
	_ = r.conn.Close()
	waitFor(t, "the resumed connection to end", func() bool { return e.srv.Connections() == 0 })
	if n := e.srv.alloc.parkedLen(); n != 1 {
		t.Fatalf("%d memories parked after the resumed session ended, want 1", n)
	}
	next := vectorJob(t, e.vec)
	next.PrevHash[0] ^= 1
	e.srv.Publish(fakeWork{job: next, clean: true})
	if n := e.srv.alloc.parkedLen(); n != 0 {
		t.Fatalf("%d memories parked after a new tip, want 0", n)
	}
}

// TestStoreOutageBansNoOne: while the share store refuses shares (its queue
// is full or its journal failed), every valid share is answered with error
// 20 ("not recorded"), and none of those count toward the flood rule: the
// connection stays, the address is not banned, however many come. Once the
// store is back, a real flood from the same connection is still
// disconnected and banned.
func TestStoreOutageBansNoOne(t *testing.T) {
	e := startServer(t, func(o *Options) {
		o.MaxConnectionsPerIP, o.BanDuration, o.BanMinRejects = 100, time.Minute, floodRejects
	})
	const user = "tb1qsite.rig"
	c := dialFrom(t, e.srv, floodIP)
	job := c.mine(user)
	e.store.setDown(true)
	for i := range 5 * floodRejects {
		id := 10 + i
		c.send(shareLine(t, e.vec, id, user, job, uint32(i)))
		m := c.expectError(fmt.Sprint(id), 20)
		if m.errorMessage() != share.ErrNotRecorded.Message {
			t.Fatalf("share %d: %q, want %q", i, m.errorMessage(), share.ErrNotRecorded.Message)
		}
	}
	if kicks, bans := e.srv.Floods(); kicks != 0 || bans != 0 {
		t.Fatalf("store outage: %d disconnects, %d bans; want none", kicks, bans)
	}
	if n := e.obs.count(share.ReasonNotRecorded); n != 5*floodRejects {
		t.Errorf("%d not-recorded rejections counted, want %d", n, 5*floodRejects)
	}

	// The store is back: the connection mines on, then floods duplicates.
	e.store.setDown(false)
	const good = 1 << 20
	c.send(shareLine(t, e.vec, 1000, user, job, good))
	c.expectResult("1000", "true")
	for i := range floodRejects {
		id := 1001 + i
		c.send(shareLine(t, e.vec, id, user, job, good))
		c.expectError(fmt.Sprint(id), 22)
	}
	c.expectClosed()
	if kicks, bans := e.srv.Floods(); kicks != 1 || bans != 1 {
		t.Fatalf("real flood: %d disconnects, %d bans; want 1 and 1", kicks, bans)
	}
}
