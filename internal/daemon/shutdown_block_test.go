package daemon_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tarbela-pool/tarbela/internal/localnet"
	"github.com/tarbela-pool/tarbela/internal/localnet/localnettest"
	"github.com/tarbela-pool/tarbela/share"
	"github.com/tarbela-pool/tarbela/share/redisstore"
)

// holdingProxy forwards node RPC to target, but holds every submitblock
// until release is closed; started is told when one arrives.
func holdingProxy(t *testing.T, target string) (srv *httptest.Server, started <-chan struct{}, release chan struct{}) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	start := make(chan struct{}, 16)
	release = make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte(`"submitblock"`)) {
			start <- struct{}{}
			<-release
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, start, release
}

// TestSIGTERMDuringSubmitBlock: a SIGTERM that arrives while a found block's
// submitblock is in flight does not lose the block's final status. A real
// `tarbela` process mines against btcd through a proxy that holds
// submitblock; the block share is accepted, the miner leaves, SIGTERM is
// sent while the node has not answered, then the node answers. The process
// must wait for the answer, exit cleanly, and only after recording the
// node's verdict: Redis holds the block as accepted, not "submitted".
func TestSIGTERMDuringSubmitBlock(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemon and runs btcd and redis-server")
	}
	bin := buildTarbela(t)
	node := localnettest.StartBtcd(t, localnet.BtcdOptions{MiningAddr: nodeAddr})
	rds := startRedis(t)
	proxy, started, release := holdingProxy(t, node.URL())
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tarbela.toml")
	writeConfig(t, cfgPath, node, rds, filepath.Join(dir, "journal.log"))
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "rpc_url = \""+node.URL()+"\"", "rpc_url = \""+proxy.URL+"\"", 1))
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := startTarbela(t, bin, cfgPath, dir, "pool", node, rds)
	stratumAddr := pool.stratum

	worker := minerAddr + ".term"
	c := dial(t, stratumAddr)
	job := c.handshake(worker, "x", 0)
	s := c.findShare(job, worker, 0, 0, 0, true)
	wantAccepted(t, "block share", c.call("mining.submit", s.params...))
	hash := share.DisplayHex(&s.res.Hash)
	select {
	case <-started:
	case <-time.After(testTimeout):
		t.Fatal("the pool never called submitblock")
	}

	// The miner leaves, so nothing else holds the stop up; SIGTERM comes
	// while the node holds the block. The pool must still be running
	// (waiting for the verdict) when the node answers 2 s later, well
	// within the 15 s shutdown_timeout.
	c.conn.Close()
	if err := pool.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case err := <-pool.exited:
		pool.exited <- err
		t.Fatalf("the pool exited (%v) before the node answered its submitblock", err)
	case <-time.After(2 * time.Second):
	}
	close(release)
	released = true
	pool.waitExit(t)

	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr, Password: rds.Password})
	defer rdb.Close()
	blocks, err := redisstore.NewReader(rdb, "tarbela", time.Minute).Blocks(testContext(t), 10)
	if err != nil {
		t.Fatalf("read blocks: %v", err)
	}
	if len(blocks) != 1 || blocks[0].Hash != hash || blocks[0].Status != share.BlockAccepted {
		t.Fatalf("Redis block records %+v; want block %s accepted", blocks, hash)
	}
	var best string
	call(t, node, &best, "getbestblockhash")
	if best != hash {
		t.Fatalf("node tip %s; want the pool's block %s", best, hash)
	}
}
