//go:build !unix

package energy

import "os"

// lockFile cannot lock on this platform: run one archive at a time.
func lockFile(*os.File) error { return nil }
