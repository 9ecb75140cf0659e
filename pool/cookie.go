package pool

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// credentials are the user and password of HTTP basic auth. A client holds
// them by pointer and never changes them in place: a new cookie is a new
// value, so a request can tell whether the ones it used are still current.
type credentials struct {
	user, pass string
}

// maxCookieBytes bounds a cookie file: Bitcoin Core's is 75 bytes
// ("__cookie__:" and 64 hex digits); anything much larger is some other file.
const maxCookieBytes = 1024

// readCookie reads Bitcoin Core's cookie file, one line "user:password"
// (Core writes "__cookie__:<64 hex digits>" without a newline). Errors name
// the file and what to do; they never quote its content, which is a secret.
func readCookie(path string) (*credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, cookieError(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCookieBytes+1))
	if err != nil {
		return nil, cookieError(err)
	}
	if len(b) > maxCookieBytes {
		return nil, malformedCookie(path, fmt.Sprintf("it is larger than %d bytes", maxCookieBytes))
	}
	line := strings.TrimRight(string(b), "\r\n")
	user, pass, ok := strings.Cut(line, ":")
	switch {
	case line == "":
		return nil, malformedCookie(path, "it is empty")
	case strings.ContainsAny(line, "\r\n"):
		return nil, malformedCookie(path, "it has more than one line")
	case !ok:
		return nil, malformedCookie(path, `it has no ":"`)
	case user == "" || pass == "":
		return nil, malformedCookie(path, "its user or password is empty")
	}
	return &credentials{user: user, pass: pass}, nil
}

// cookieError explains a cookie file that cannot be read; err, an
// *fs.PathError, names the file.
func cookieError(err error) error {
	var fix string
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fix = "is the node running, and is this its data directory? Bitcoin Core writes .cookie " +
			"into its -datadir (regtest/, testnet3/, testnet4/ or signet/ below it on a test network) " +
			"at every start and deletes it when it stops"
	case errors.Is(err, fs.ErrPermission):
		fix = "let the pool's user read it: start Bitcoin Core with -rpccookieperms=group " +
			"and add the pool's user to the node's group"
	default:
		fix = "point it at the .cookie file in the node's data directory"
	}
	return fmt.Errorf("cookie file: %w (%s)", err, fix)
}

// malformedCookie explains a cookie file that is not Core's format.
func malformedCookie(path, why string) error {
	return fmt.Errorf("cookie file %s is not a Bitcoin Core cookie: %s; want one line \"__cookie__:<password>\" "+
		"(point it at the .cookie file in the node's data directory)", path, why)
}

// auth returns the credentials to send: the fixed ones, or the cookie,
// which is read on first use (and again while it cannot be read).
func (c *RPCClient) auth() (*credentials, error) {
	if a := c.cred.Load(); a != nil {
		return a, nil
	}
	return c.reloadCookie(nil)
}

// reloadCookie reads the cookie file again after the node refused used (nil:
// nothing read yet) and returns the credentials to retry with: used itself
// when the file still holds the same cookie. Concurrent requests refused at
// once read the file once: a request whose credentials were already
// replaced takes the new ones.
func (c *RPCClient) reloadCookie(used *credentials) (*credentials, error) {
	c.cookieMu.Lock()
	defer c.cookieMu.Unlock()
	if cur := c.cred.Load(); cur != used {
		return cur, nil
	}
	fresh, err := readCookie(c.cookieFile)
	if err != nil {
		return nil, err
	}
	if used != nil && *fresh == *used {
		return used, nil
	}
	c.cred.Store(fresh)
	return fresh, nil
}
