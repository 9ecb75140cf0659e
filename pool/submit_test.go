package pool_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/localnet/localnettest"
	"github.com/tarbela-pool/tarbela/pool"
	"github.com/tarbela-pool/tarbela/share"
)

// solve mines job on the CPU until a nonce meets the network target; on
// regtest about every second header does.
func solve(t testing.TB, job *share.Job, en1 []byte) *share.Solved {
	t.Helper()
	var easy share.Target
	for i := range easy {
		easy[i] = 0xff
	}
	sub := &share.Submission{Extranonce1: en1, Extranonce2: make([]byte, job.Extranonce2Size), NTime: job.CurTime}
	var res share.Result
	for nonce := range uint32(1 << 20) {
		sub.Nonce = nonce
		if rej := job.Check(sub, 0, &easy, time.Unix(int64(job.CurTime), 0), &res); rej != nil {
			t.Fatalf("Check: %v", rej)
		}
		if res.Block {
			return &share.Solved{Job: job, Header: res.Header, Hash: res.Hash,
				Coinbase: append([]byte(nil), res.Coinbase...), Worker: "test"}
		}
	}
	t.Fatal("no nonce met the regtest target")
	return nil
}

// TestSubmitterBtcd submits solved blocks to a real btcd: an accepted block
// is confirmed and moves the manager to the new tip; each way of being
// refused is a *BlockRejectedError carrying the node's reason.
func TestSubmitterBtcd(t *testing.T) {
	b := localnettest.StartBtcd(t, localnet.BtcdOptions{})
	// No push mechanism and no poll: the new tip after an accepted block
	// must come from the submitter's own trigger.
	m, works := startManager(t, pool.ManagerOptions{Nodes: []pool.NodeOptions{btcdNode("btcd", b)},
		RefreshInterval: -1, PollInterval: -1})
	s := pool.NewSubmitter(m, nil)
	ctx := testCtx(t, time.Minute)

	first := nextWork(t, works, time.Second, "first work")
	job, err := first.JobFor("")
	if err != nil {
		t.Fatal(err)
	}
	accepted := solve(t, job, []byte{0, 0, 0, 1})

	// An orphan: a job on a previous block the node has never seen.
	orphanTmpl := *first.Template()
	orphanTmpl.PrevHash[0] ^= 0xff
	ow, err := newRegtestBuilder(t).NewWork(&orphanTmpl, true)
	if err != nil {
		t.Fatal(err)
	}
	ojob, err := ow.JobFor("")
	if err != nil {
		t.Fatal(err)
	}
	orphan := solve(t, ojob, []byte{0, 0, 0, 2})

	// A block whose coinbase no longer matches the header's merkle root.
	badRoot := solve(t, job, []byte{0, 0, 0, 3})
	badRoot.Coinbase[len(badRoot.Coinbase)-5] ^= 1

	tests := []struct {
		name string
		sol  *share.Solved
		// wantReason is a substring of the rejection; "" means accepted.
		wantReason string
	}{
		{name: "solved share", sol: accepted},
		{name: "same block again", sol: accepted, wantReason: "already have block"},
		{name: "orphan", sol: orphan, wantReason: "not in the node's main chain"},
		{name: "merkle root mismatch", sol: badRoot, wantReason: "rejected: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.SubmitBlock(ctx, tc.sol)
			hash := share.DisplayHex(&tc.sol.Hash)
			if tc.wantReason == "" {
				if err != nil {
					t.Fatalf("SubmitBlock: %v", err)
				}
				best, err := m.Client().GetBestBlockHash(ctx)
				if err != nil || best != hash {
					t.Fatalf("node's best block %s (%v), want the submitted %s", best, err, hash)
				}
				w := nextWork(t, works, 10*time.Second, "clean work on the block just submitted")
				if !w.Clean() || prevHex(w) != hash || w.Height() != 2 {
					t.Fatalf("work clean %v height %d prev %s; want clean at height 2 on %s", w.Clean(), w.Height(), prevHex(w), hash)
				}
				return
			}
			var re *pool.BlockRejectedError
			if !errors.As(err, &re) {
				t.Fatalf("SubmitBlock error %v (%T); want *BlockRejectedError", err, err)
			}
			if re.Hash != hash || re.Node != "btcd" || !strings.Contains(re.Reason, tc.wantReason) {
				t.Fatalf("rejection %+v; want block %s by btcd with reason containing %q", re, hash, tc.wantReason)
			}
		})
	}
	noWork(t, works, 500*time.Millisecond)

	t.Run("node down", func(t *testing.T) {
		b.Stop()
		err := s.SubmitBlock(ctx, solve(t, job, []byte{0, 0, 0, 4}))
		var re *pool.BlockRejectedError
		if err == nil || errors.As(err, &re) {
			t.Fatalf("SubmitBlock to a stopped node: %v; want a transport error, not a rejection", err)
		}
		if !strings.Contains(err.Error(), "no node answered") || !strings.Contains(err.Error(), "node btcd") {
			t.Fatalf("error %q does not say that node btcd did not answer", err)
		}
	})
}

// TestSubmitterTwoNodes checks that blocks go to every node and
// that a node that does not know the block's parent does not veto a block
// the active node accepted.
func TestSubmitterTwoNodes(t *testing.T) {
	a := localnettest.StartBtcd(t, localnet.BtcdOptions{})
	b := localnettest.StartBtcd(t, localnet.BtcdOptions{})
	m, works := startManager(t, pool.ManagerOptions{
		Nodes:           []pool.NodeOptions{btcdNode("a", a), btcdNode("b", b)},
		RefreshInterval: -1, PollInterval: -1,
	})
	s := pool.NewSubmitter(m, nil)
	ctx := testCtx(t, time.Minute)

	// Both fresh chains share the genesis block, so the block at height 1
	// extends both: each node must get it.
	first := nextWork(t, works, time.Second, "first work")
	job, err := first.JobFor("")
	if err != nil {
		t.Fatal(err)
	}
	sol := solve(t, job, []byte{0, 0, 0, 1})
	if err := s.SubmitBlock(ctx, sol); err != nil {
		t.Fatalf("SubmitBlock: %v", err)
	}
	hash := share.DisplayHex(&sol.Hash)
	for _, node := range []*localnet.Btcd{a, b} {
		raw, err := node.Call(ctx, "getbestblockhash")
		if err != nil || string(raw) != `"`+hash+`"` {
			t.Fatalf("node %s best block %s (%v), want %s", node.RPCAddr, raw, err, hash)
		}
	}

	// b moves on to a longer chain of its own, so the next block on a's tip
	// is a side-chain block to b (null result, then not confirmed) but
	// accepted by a, the active node, whose answer decides.
	if _, err := b.Generate(ctx, 2); err != nil {
		t.Fatal(err)
	}
	w := nextWork(t, works, 10*time.Second, "clean work after the first block")
	job, err = w.JobFor("")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SubmitBlock(ctx, solve(t, job, []byte{0, 0, 0, 2})); err != nil {
		t.Fatalf("SubmitBlock with the second node on another chain: %v", err)
	}
	if n, err := a.BlockCount(ctx); err != nil || n != 2 {
		t.Fatalf("node a height %d (%v), want 2", n, err)
	}
}

func TestBlockRejectedErrorMessage(t *testing.T) {
	err := error(&pool.BlockRejectedError{Hash: "00ab", Node: "core1", Reason: "high-hash"})
	if got, want := err.Error(), "block 00ab rejected by node core1: high-hash"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	wrapped := errors.Join(context.Canceled, err)
	var re *pool.BlockRejectedError
	if !errors.As(wrapped, &re) || re.Reason != "high-hash" {
		t.Fatal("a wrapped BlockRejectedError is not found by errors.As")
	}
}
