package localnet_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/internal/localnet"
)

// TestFindBitcoind: an explicit binary or BitcoindEnv wins; one that is not
// there is ErrBitcoindMissing, the error on which tests skip.
func TestFindBitcoind(t *testing.T) {
	present := filepath.Join(t.TempDir(), "bitcoind")
	if err := os.WriteFile(present, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "no-bitcoind")
	tests := []struct {
		name, binary, env string
		want              string
		wantMissing       bool
	}{
		{name: "explicit binary", binary: present, env: missing, want: present},
		{name: "environment", env: present, want: present},
		{name: "explicit binary not there", binary: missing, wantMissing: true},
		{name: "environment not there", env: missing, wantMissing: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(localnet.BitcoindEnv, tc.env)
			got, err := localnet.FindBitcoind(tc.binary, "")
			if tc.wantMissing {
				if !errors.Is(err, localnet.ErrBitcoindMissing) || !strings.Contains(err.Error(), missing) {
					t.Fatalf("FindBitcoind = %q, %v; want ErrBitcoindMissing naming %s", got, err, missing)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("FindBitcoind = %q, %v; want %s", got, err, tc.want)
			}
		})
	}
}

// TestStartBitcoindExits: a binary that exits at once (a Core build
// missing its libraries does) fails the start with its output, without
// waiting for the start timeout.
func TestStartBitcoindExits(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "bitcoind")
	script := "#!/bin/sh\necho 'error while loading shared libraries: libzmq.so.5' >&2\nexit 127\n"
	if err := os.WriteFile(bin, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := localnet.StartBitcoind(ctx, localnet.BitcoindOptions{Binary: bin, DataDir: t.TempDir(), StartTimeout: time.Hour})
	if err == nil || !strings.Contains(err.Error(), "exited before its RPC answered") || !strings.Contains(err.Error(), "libzmq.so.5") {
		t.Fatalf("StartBitcoind of a binary that exits: %v; want an error with its output", err)
	}
}
