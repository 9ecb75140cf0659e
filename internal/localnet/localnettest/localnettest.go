package localnettest

import (
	"context"
	"errors"
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

// StartBitcoind starts a Bitcoin Core regtest node for t and stops it at
// cleanup. It skips t, naming where it looked, when no bitcoind binary is
// there (localnet.ErrBitcoindMissing); a binary that is there but cannot
// start fails t.
func StartBitcoind(t testing.TB, o localnet.BitcoindOptions) *localnet.Bitcoind {
	t.Helper()
	if _, err := localnet.FindBitcoind(o.Binary, o.ModuleDir); errors.Is(err, localnet.ErrBitcoindMissing) {
		t.Skipf("skipping the Bitcoin Core test: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := localnet.StartBitcoind(ctx, o)
	if err != nil {
		t.Fatalf("start bitcoind: %v", err)
	}
	t.Cleanup(b.Stop)
	return b
}

// StartSentinelSet starts a primary, its replicas and the Sentinels
// (localnet.StartSentinelSet) for t and stops them at cleanup.
func StartSentinelSet(t testing.TB, o localnet.SentinelSetOptions) *localnet.SentinelSet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := localnet.StartSentinelSet(ctx, o)
	if err != nil {
		t.Fatalf("start the Sentinel set: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}
