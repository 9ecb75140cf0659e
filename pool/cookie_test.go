package pool_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarbela-pool/tarbela/pool"
)

// cookieNode stands in for Bitcoin Core's cookie authentication over real
// HTTP: it accepts only "__cookie__:<password>" with the password of its
// current run and answers 401 with an empty body otherwise, as Core does.
// restart gives it a new password and writes it to the cookie file, as Core
// does at every start.
type cookieNode struct {
	t    *testing.T
	file string
	srv  *httptest.Server

	mu       sync.Mutex
	password string
	runs     int
	// accepted and refused count the requests answered.
	accepted, refused int
}

func newCookieNode(t *testing.T) *cookieNode {
	n := &cookieNode{t: t, file: filepath.Join(t.TempDir(), ".cookie")}
	n.srv = httptest.NewServer(http.HandlerFunc(n.serve))
	t.Cleanup(n.srv.Close)
	return n
}

func (n *cookieNode) serve(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("__cookie__:"+n.password))
	ok := n.password != "" && r.Header.Get("Authorization") == want
	if ok {
		n.accepted++
	} else {
		n.refused++
	}
	n.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	_, _ = fmt.Fprint(w, `{"result":7,"error":null,"id":1}`)
}

// restart makes the node take a new password and writes its cookie.
func (n *cookieNode) restart() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.runs++
	n.password = fmt.Sprintf("%064x", n.runs)
	writeFile(n.t, n.file, "__cookie__:"+n.password)
}

// counts returns the requests accepted and refused so far.
func (n *cookieNode) counts() (accepted, refused int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.accepted, n.refused
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func cookieClient(t *testing.T, n *cookieNode) *pool.RPCClient {
	t.Helper()
	c, err := pool.NewCookieRPCClient("core", n.srv.URL, n.file, 5*time.Second)
	if err != nil {
		t.Fatalf("NewCookieRPCClient: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestCookieClientRereadsAfterRestart: the client reads the cookie at its
// first call, keeps using it, and after the node restarts with a new cookie
// it is refused once per request, reads the file again and succeeds; many
// requests refused at once all recover.
func TestCookieClientRereadsAfterRestart(t *testing.T) {
	n := newCookieNode(t)
	n.restart()
	c := cookieClient(t, n)
	ctx := testCtx(t, time.Minute)

	for range 3 {
		if got, err := c.GetBlockCount(ctx); err != nil || got != 7 {
			t.Fatalf("GetBlockCount = %d, %v; want 7", got, err)
		}
	}
	if a, r := n.counts(); a != 3 || r != 0 {
		t.Fatalf("node accepted %d and refused %d requests; want 3 and 0", a, r)
	}

	n.restart()
	if _, err := c.GetBlockCount(ctx); err != nil {
		t.Fatalf("GetBlockCount after the node's restart: %v", err)
	}
	if a, r := n.counts(); a != 4 || r != 1 {
		t.Fatalf("node accepted %d and refused %d requests; want 4 and 1 (one refusal, then the retry with the new cookie)", a, r)
	}

	n.restart()
	const callers = 16
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			if _, err := c.GetBlockCount(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent GetBlockCount after a restart: %v", err)
	}
	// Each request is refused at most once, and every one is then
	// answered.
	if a, r := n.counts(); a != 4+callers || r < 2 || r > 1+callers {
		t.Fatalf("node accepted %d and refused %d requests; want %d accepted and 2..%d refused", a, r, 4+callers, 1+callers)
	}
}

// TestCookieClientFileErrors: a cookie file that is missing, unreadable or
// not a cookie fails the call with an error that names the file and the
// fix, sends nothing to the node, and never quotes the file's content; the
// file is read again at the next call.
func TestCookieClientFileErrors(t *testing.T) {
	const secret = "s3cretpassw0rd"
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		want    []string
		is      error
	}{
		{name: "missing", prepare: func(*testing.T, string) {},
			want: []string{"is the node running", "-datadir"}, is: fs.ErrNotExist},
		{name: "a directory", prepare: func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"point it at the .cookie file"}},
		{name: "not readable", prepare: func(t *testing.T, path string) {
			if os.Geteuid() == 0 {
				t.Skip("root reads any file")
			}
			writeFile(t, path, "__cookie__:"+secret)
			if err := os.Chmod(path, 0); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"-rpccookieperms"}, is: fs.ErrPermission},
		{name: "empty", prepare: func(t *testing.T, path string) { writeFile(t, path, "") },
			want: []string{"is empty", `"__cookie__:<password>"`}},
		{name: "no colon", prepare: func(t *testing.T, path string) { writeFile(t, path, secret) },
			want: []string{`has no ":"`}},
		{name: "empty password", prepare: func(t *testing.T, path string) { writeFile(t, path, "__cookie__:") },
			want: []string{"user or password is empty"}},
		{name: "two lines", prepare: func(t *testing.T, path string) { writeFile(t, path, "__cookie__:"+secret+"\nmore") },
			want: []string{"more than one line"}},
		{name: "too large", prepare: func(t *testing.T, path string) {
			writeFile(t, path, "__cookie__:"+secret+strings.Repeat("0", 2000))
		}, want: []string{"larger than"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newCookieNode(t)
			tc.prepare(t, n.file)
			c := cookieClient(t, n)
			_, err := c.GetBlockCount(testCtx(t, time.Minute))
			if err == nil {
				t.Fatal("GetBlockCount succeeded; want the cookie file's error")
			}
			for _, w := range append([]string{n.file, "node core", "getblockcount"}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q quotes the file's content", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if a, r := n.counts(); a+r != 0 {
				t.Errorf("the node got %d requests; want none without a cookie", a+r)
			}

			// Once the node has written its cookie, the next call reads it.
			if err := os.RemoveAll(n.file); err != nil {
				t.Fatal(err)
			}
			n.restart()
			if _, err := c.GetBlockCount(testCtx(t, time.Minute)); err != nil {
				t.Fatalf("GetBlockCount once the cookie is there: %v", err)
			}
		})
	}
}

// TestCookieClientRefused: a cookie the node refuses is retried only when
// the file holds a different one, and the error then says which file was
// refused; a cookie that vanished after the refusal is named too.
func TestCookieClientRefused(t *testing.T) {
	tests := []struct {
		name string
		// after runs once the client holds the first cookie and the node
		// has moved on to another password.
		after   func(t *testing.T, n *cookieNode)
		refused int
		want    string
	}{
		{
			name:    "file unchanged",
			after:   func(*testing.T, *cookieNode) {},
			refused: 1, want: "the file holds no newer one",
		},
		{
			name: "new cookie refused too",
			after: func(t *testing.T, n *cookieNode) {
				writeFile(t, n.file, "__cookie__:"+strings.Repeat("ab", 32))
			},
			refused: 2, want: "also after reading it again",
		},
		{
			name: "cookie deleted (node stopping)",
			after: func(t *testing.T, n *cookieNode) {
				if err := os.Remove(n.file); err != nil {
					t.Fatal(err)
				}
			},
			refused: 1, want: "reading the cookie again",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := newCookieNode(t)
			n.restart()
			c := cookieClient(t, n)
			ctx := testCtx(t, time.Minute)
			if _, err := c.GetBlockCount(ctx); err != nil {
				t.Fatal(err)
			}
			// The node now wants a password the file does not hold.
			n.mu.Lock()
			n.password = "another-node"
			n.mu.Unlock()
			tc.after(t, n)

			_, err := c.GetBlockCount(ctx)
			var he *pool.HTTPError
			if !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
				t.Fatalf("GetBlockCount error %v; want HTTP 401", err)
			}
			for _, w := range []string{tc.want, n.file, n.srv.URL} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if _, r := n.counts(); r != tc.refused {
				t.Errorf("node refused %d requests; want %d", r, tc.refused)
			}
		})
	}
}
