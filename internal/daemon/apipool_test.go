package daemon_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/api"
	"github.com/tarbela-pool/tarbela/internal/daemon"
	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// TestAPIPoolWithoutNode serves the public routes' source over a real
// Redis with neither a template manager nor a Stratum server, as a
// process that only reads the ledger would: every answer comes from
// Redis, the node's figures are zero and the live ones null, and nothing
// panics.
func TestAPIPoolWithoutNode(t *testing.T) {
	ctx := testContext(t)
	rds, err := localnet.StartRedis(ctx, localnet.RedisOptions{})
	if err != nil {
		t.Skipf("no redis-server: %v", err)
	}
	t.Cleanup(rds.Stop)
	store, err := redisstore.New(redisstore.Options{Addr: rds.Addr, Node: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Stop(context.Background()) })
	account := localnet.RegtestAddress(3)
	for i := range 3 {
		r := share.Record{Node: 1, Seq: uint64(i + 1), Worker: account + ".rig", Account: account, Difficulty: 1,
			ShareDifficulty: 2, Time: time.Now(), Height: 101, JobID: "1", NetDifficulty: 1}
		if err := store.AddShareWait(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	p := daemon.NewAPIPool(daemon.APIPoolOptions{Reader: store.Reader, Ledger: redisstore.NewLedger(store.Client(), "")})

	sum, err := p.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Shares.Accepted != 3 || sum.WorkersOnline != 1 || sum.MinersOnline != 1 || !(sum.Hashrate.M10 > 0) ||
		sum.Network.Height != 0 || sum.Network.Difficulty != 0 || sum.LastBlock != nil {
		t.Errorf("summary %+v: want the 3 shares of 1 worker from Redis, no network figures, no block", sum)
	}
	a, err := p.Account(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Workers) != 1 || a.Workers[0].Name != account+".rig" || a.Workers[0].LastShare == nil ||
		a.Workers[0].Difficulty != nil || a.Workers[0].RejectRate != nil || !(a.Hashrate.M10 > 0) {
		t.Errorf("account %+v: want its worker from Redis, without live figures", a)
	}
	if _, err := p.Account(ctx, localnet.RegtestAddress(4)); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown account: %v, want ErrNotFound", err)
	}
	if bs, err := p.Blocks(ctx, 10); err != nil || len(bs) != 0 {
		t.Errorf("blocks: %v, %v; want none", bs, err)
	}
	if pts, err := p.Hashrate(ctx, account, time.Hour, 10*time.Minute); err != nil || len(pts) != 6 || !(pts[5].Hashrate > 0) {
		t.Errorf("hashrate series: %v, %v; want 6 points, the last with the shares", pts, err)
	}
}
