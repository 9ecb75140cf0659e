package localnettest

import (
	"context"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/internal/localnet"
)

// StartBtcd starts a btcd regtest node for t in t.TempDir() and stops it at
// cleanup. o.Dir is set by the helper.
func StartBtcd(t testing.TB, o localnet.BtcdOptions) *localnet.Btcd {
	t.Helper()
	// Building the pinned btcd the first time takes a while on a cold
	// cache; later starts take about a second.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	o.Dir = t.TempDir()
	b, err := localnet.StartBtcd(ctx, o)
	if err != nil {
		t.Fatalf("start btcd: %v", err)
	}
	t.Cleanup(b.Stop)
	return b
}
