//go:build unix

package redisstore

import (
	"errors"
	"syscall"
)

// processExists says whether a process with this pid runs on this host
// (signal 0 checks without sending anything; EPERM means it runs as
// another user).
func processExists(pid int) bool {
	if pid <= 0 {
		return true // unknown: assume it runs
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
