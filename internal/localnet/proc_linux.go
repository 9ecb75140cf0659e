package localnet

import "syscall"

// sysProcAttr asks Linux to kill the process when the one that started it
// dies, so that a crashed test run leaves no btcd behind, and puts it in a
// process group of its own, so that Ctrl-C in a terminal (a SIGINT to the
// whole foreground group) reaches only its owner, which stops it in order:
// the devnet's Redis must outlive the pool's last flush.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
