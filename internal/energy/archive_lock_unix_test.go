//go:build unix

package energy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/internal/energy"
)

// TestArchiveLocked: a run on a file another run holds is refused and
// changes nothing; once the other lets go, the run archives.
func TestArchiveLocked(t *testing.T) {
	e := newChainEnv(t)
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Hour).Add(-10 * 24 * time.Hour)
	e.seal(t, base, base.Add(2*time.Hour))
	path := filepath.Join(t.TempDir(), "energy.archive")
	held, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	a := &energy.Archiver{Ledger: e.l, Pub: e.pub, Keep: time.Hour}
	if _, err := a.Archive(ctx, path); !errors.Is(err, energy.ErrArchive) || !strings.Contains(err.Error(), "another archive run") {
		t.Fatalf("a run while another holds the file: %v", err)
	}
	if n, _ := e.l.ChainArchived(ctx); n != 0 || len(e.redisLines(t)) != 4 {
		t.Fatalf("the refused run trimmed Redis to %d", n)
	}
	held.Close()
	if res, err := a.Archive(ctx, path); err != nil || res.Appended != 4 || res.Archived != 4 {
		t.Fatalf("after the other run let go: %+v, %v", res, err)
	}
}
