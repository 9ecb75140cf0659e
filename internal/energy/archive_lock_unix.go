//go:build unix

package energy

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on the archive file for the run, so
// two runs on one file (cron overlapping a manual run) cannot append the
// same records twice; it is released when the file is closed.
func lockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("%w %s: another archive run holds it; run one at a time", ErrArchive, f.Name())
	}
	if err != nil {
		return fmt.Errorf("energy: archive %s: lock: %w", f.Name(), err)
	}
	return nil
}
