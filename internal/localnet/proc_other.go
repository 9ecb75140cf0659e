//go:build !linux

package localnet

import "syscall"

// sysProcAttr has nothing to add outside Linux; Stop ends the node.
func sysProcAttr() *syscall.SysProcAttr { return nil }
