package localnet

import (
	"context"
	"testing"
	"time"
)

// TestSentinelSetFailover starts a primary, a replica and three Sentinels,
// kills the primary with SIGKILL and expects the Sentinels to promote the
// replica.
func TestSentinelSetFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs five redis-server processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	set, err := StartSentinelSet(ctx, SentinelSetOptions{Password: "pw"})
	if err != nil {
		t.Fatalf("StartSentinelSet: %v", err)
	}
	defer set.Stop()
	if len(set.Data) != 2 || len(set.Sentinels) != 3 || len(set.SentinelAddrs()) != 3 {
		t.Fatalf("got %d data nodes and %d Sentinels, want 2 and 3", len(set.Data), len(set.Sentinels))
	}
	old, err := set.PrimaryAddr(ctx)
	if err != nil || old != set.Data[0].Addr {
		t.Fatalf("PrimaryAddr = %q, %v; want the first data node %s", old, err, set.Data[0].Addr)
	}
	if err := set.Data[0].Kill(); err != nil {
		t.Fatal(err)
	}
	addr, err := set.WaitFailover(ctx, old, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if addr != set.Data[1].Addr {
		t.Errorf("promoted %s, want the replica %s", addr, set.Data[1].Addr)
	}
}
