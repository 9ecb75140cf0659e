package localnet_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/address/v2"
	"github.com/btcsuite/btcd/chaincfg/v2"

	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/localnet/localnettest"
)

func TestRegtestAddress(t *testing.T) {
	tests := []struct {
		name string
		seed byte
	}{
		{name: "seed 0", seed: 0},
		{name: "seed 1", seed: 1},
		{name: "seed 255", seed: 255},
	}
	seen := map[string]byte{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := localnet.RegtestAddress(tc.seed)
			if a != localnet.RegtestAddress(tc.seed) {
				t.Fatalf("RegtestAddress(%d) is not deterministic", tc.seed)
			}
			if !strings.HasPrefix(a, "bcrt1q") {
				t.Fatalf("RegtestAddress(%d) = %q, want a bcrt1q P2WPKH address", tc.seed, a)
			}
			dec, err := address.DecodeAddress(a, &chaincfg.RegressionNetParams)
			if err != nil {
				t.Fatalf("decode %q: %v", a, err)
			}
			if _, ok := dec.(*address.AddressWitnessPubKeyHash); !ok {
				t.Fatalf("%q decodes to %T, want P2WPKH", a, dec)
			}
			if prev, dup := seen[a]; dup {
				t.Fatalf("seeds %d and %d give the same address", prev, tc.seed)
			}
			seen[a] = tc.seed
		})
	}
}

// TestStartBtcd starts a real node and checks what the pool relies on: RPC
// answers, a fresh chain at height 0 serves getblocktemplate without peers,
// generate pays the mining address, and Stop is safe twice.
func TestStartBtcd(t *testing.T) {
	b := localnettest.StartBtcd(t, localnet.BtcdOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if n, err := b.BlockCount(ctx); err != nil || n != 0 {
		t.Fatalf("BlockCount = %d, %v; want 0 on a fresh chain", n, err)
	}
	raw, err := b.Call(ctx, "getblocktemplate", map[string]any{"rules": []string{"segwit"}})
	if err != nil {
		t.Fatalf("getblocktemplate at height 0: %v", err)
	}
	var gbt struct {
		Height   int64  `json:"height"`
		Previous string `json:"previousblockhash"`
	}
	if err := json.Unmarshal(raw, &gbt); err != nil || gbt.Height != 1 || len(gbt.Previous) != 64 {
		t.Fatalf("getblocktemplate = %s (%v); want height 1 on the genesis block", raw, err)
	}
	hashes, err := b.Generate(ctx, 2)
	if err != nil || len(hashes) != 2 {
		t.Fatalf("Generate(2) = %v, %v", hashes, err)
	}
	if n, err := b.BlockCount(ctx); err != nil || n != 2 {
		t.Fatalf("BlockCount after generate = %d, %v; want 2", n, err)
	}
	if _, err := b.Call(ctx, "nosuchmethod"); err == nil {
		t.Fatal("an unknown method returned no error")
	}

	b.Stop()
	b.Stop()
	select {
	case <-b.Exited():
	default:
		t.Fatal("Stop returned before btcd exited")
	}
	if _, err := b.BlockCount(ctx); err == nil {
		t.Fatal("RPC still answers after Stop")
	}
}

func TestFindBtcdExplicitPath(t *testing.T) {
	tests := []struct {
		name    string
		binary  string
		env     string
		wantErr bool
	}{
		{name: "missing explicit path", binary: "/nonexistent/btcd", wantErr: true},
		{name: "missing env path", env: "/nonexistent/btcd-env", wantErr: true},
		{name: "existing explicit path", binary: os.Args[0]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(localnet.BtcdEnv, tc.env)
			got, err := localnet.FindBtcd(context.Background(), localnet.BtcdOptions{Binary: tc.binary})
			if (err != nil) != tc.wantErr {
				t.Fatalf("FindBtcd(%q) with %s=%q: %q, %v; want error %v", tc.binary, localnet.BtcdEnv, tc.env, got, err, tc.wantErr)
			}
			if err == nil && got != tc.binary {
				t.Fatalf("FindBtcd = %q, want %q", got, tc.binary)
			}
		})
	}
}

// TestBtcdRestart stops a node behind its back (the RPC `stop`) and restarts
// it: same RPC address, credentials and data directory. The chain starts
// again at height 0 because btcd --regtest removes its block database at
// every start; the devnet documents that, so a btcd that kept the chain
// would fail here and the documentation would need to change.
func TestBtcdRestart(t *testing.T) {
	b := localnettest.StartBtcd(t, localnet.BtcdOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := b.Generate(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Restart(ctx); err == nil {
		t.Fatal("Restart of a running node succeeded")
	}
	if _, err := b.Call(ctx, "stop"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.Exited():
	case <-ctx.Done():
		t.Fatal("btcd did not exit after stop")
	}
	nb, err := b.Restart(ctx)
	if err != nil {
		t.Fatalf("Restart: %v", err)
	}
	t.Cleanup(nb.Stop)
	if nb.RPCAddr != b.RPCAddr || nb.DataDir != b.DataDir || nb.User != b.User || nb.Pass != b.Pass {
		t.Errorf("restarted node %+v differs from %+v", nb, b)
	}
	if n, err := nb.BlockCount(ctx); err != nil || n != 0 {
		t.Fatalf("BlockCount after restart = %d, %v; want 0 (btcd --regtest starts a new chain)", n, err)
	}
	b.Stop() // the replaced handle: must not stop the new node
	if _, err := nb.BlockCount(ctx); err != nil {
		t.Fatalf("Stop of the replaced handle stopped the new node: %v", err)
	}
	if _, err := nb.Generate(ctx, 1); err != nil {
		t.Fatalf("generate after restart: %v", err)
	}
	if out, err := os.ReadFile(nb.OutputFile()); err != nil || strings.Count(string(out), "RPC server listening") != 2 {
		t.Errorf("btcd.out does not hold both runs (%v)", err)
	}
}
