package localnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// startProcess runs bin with args, its output going to out (and to log when
// set). The returned channel is closed, and out closed, once the process
// has ended.
func startProcess(bin string, args []string, out *os.File, log io.Writer) (*exec.Cmd, chan struct{}, error) {
	// Not CommandContext: the node must outlive the start-up context and
	// is ended by its Stop only.
	cmd := exec.Command(bin, args...)
	var w io.Writer = out
	if log != nil {
		w = io.MultiWriter(out, log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, nil, fmt.Errorf("run %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(exited)
	}()
	return cmd, exited, nil
}

// errExited is awaitRPC's error for a node that ended before its RPC
// answered.
var errExited = errors.New("exited before its RPC answered")

// awaitRPC calls getblockcount through call every 100 ms until the node
// answers, its process exits (exited is closed) or timeout has passed.
func awaitRPC(ctx context.Context, timeout time.Duration, exited <-chan struct{},
	call func(context.Context, string, ...any) (json.RawMessage, error)) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		cctx, ccancel := context.WithTimeout(wctx, 2*time.Second)
		_, err := call(cctx, "getblockcount")
		ccancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return errExited
		case <-wctx.Done():
			return fmt.Errorf("RPC did not answer within %v: %w", timeout, err)
		case <-tick.C:
		}
	}
}

// stopProcess sends sig to a process that startProcess started, kills it
// if it has not exited within grace, and waits until it has ended.
func stopProcess(cmd *exec.Cmd, exited <-chan struct{}, sig os.Signal, grace time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-exited
	}
}
