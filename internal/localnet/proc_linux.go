package localnet

import "syscall"

// sysProcAttr asks Linux to kill the node when the process that started it
// dies, so that a crashed test run leaves no btcd behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
