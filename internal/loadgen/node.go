package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/share"
)

// rpcTimeout bounds one node RPC call.
const rpcTimeout = 10 * time.Second

// generateBlocks mines one block on the node every BlockEvery once every
// miner has finished its handshake, and notes each block so that the fan-out
// of its notify can be timed from the call.
func (r *runner) generateBlocks(ctx context.Context) {
	select {
	case <-r.steadyCh:
	case <-ctx.Done():
		return
	}
	client := &http.Client{Timeout: rpcTimeout}
	t := time.NewTicker(r.o.BlockEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		hash, err := generate(ctx, client, r.o.RPC)
		if err != nil {
			if ctx.Err() == nil {
				r.o.Log.Warn("generate failed", zap.Error(err))
			}
			continue
		}
		r.fan.block(hash, sent)
	}
}

// generate calls the node's "generate" method (btcd regtest) for one block
// and returns its hash as mining.notify carries it as prevhash.
func generate(ctx context.Context, client *http.Client, o RPCOptions) (string, error) {
	var hashes []string
	if err := rpcCall(ctx, client, o, "generate", []any{1}, &hashes); err != nil {
		return "", err
	}
	if len(hashes) != 1 {
		return "", fmt.Errorf("generate: want one block hash, got %d", len(hashes))
	}
	return stratumPrevHash(hashes[0])
}

// stratumPrevHash converts a block hash in display order to the prevhash
// field of mining.notify.
func stratumPrevHash(display string) (string, error) {
	b, err := hex.DecodeString(display)
	if err != nil || len(b) != 32 {
		return "", fmt.Errorf("block hash %q: want 64 hex digits", display)
	}
	var internal [32]byte
	for i := range 32 {
		internal[i] = b[31-i]
	}
	return share.PrevHashStratum(&internal), nil
}

// rpcCall makes one JSON-RPC call. It always sends "jsonrpc" and a non-null
// id (btcd answers an empty body otherwise).
func rpcCall(ctx context.Context, client *http.Client, o RPCOptions, method string, params []any, out any) error {
	body, err := json.Marshal(map[string]any{"jsonrpc": "1.0", "id": 1, "method": method, "params": params})
	if err != nil {
		return fmt.Errorf("rpc %s: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("rpc %s: %w", method, err)
	}
	req.SetBasicAuth(o.User, o.Pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("rpc %s to %s: %w", method, o.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("rpc %s: read reply: %w", method, err)
	}
	var reply struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &reply); err != nil {
		return fmt.Errorf("rpc %s: HTTP %s: %q: %w", method, resp.Status, truncate(b, 200), err)
	}
	if reply.Error != nil {
		return fmt.Errorf("rpc %s: node error %d: %s", method, reply.Error.Code, reply.Error.Message)
	}
	if err := json.Unmarshal(reply.Result, out); err != nil {
		return fmt.Errorf("rpc %s: result: %w", method, err)
	}
	return nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// errNoRSS is returned when a status file has no VmRSS line (a kernel
// thread, or a process that is exiting).
var errNoRSS = errors.New("no VmRSS line in /proc status")

// parseRSS extracts VmRSS (kB) from a /proc/<pid>/status text, in bytes.
func parseRSS(status []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("VmRSS line %q: want \"N kB\"", rest)
		}
		kb, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS line %q: %w", rest, err)
		}
		return kb * 1024, nil
	}
	return 0, errNoRSS
}

func itoa(n int) string { return strconv.Itoa(n) }
