package daemon

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/tarbela-pool/tarbela/config"
)

// Bounds of the API's admin token.
const (
	minTokenLen  = 16
	maxTokenFile = 4096
)

// APIToken returns the API's admin token: the content of api.token_file
// (surrounding white space ignored), or $TARBELA_API_TOKEN when the file is
// "", or "" when neither is set (the admin routes answer 403 then). Like
// ssh with a private key, it refuses a file that its group or others may
// access; a token must be at least 16 characters. env looks variables up
// (os.Getenv when nil). Errors name the key or the variable.
func APIToken(c config.API, env func(string) string) (string, error) {
	if c.TokenFile == "" {
		if env == nil {
			env = os.Getenv
		}
		tok := strings.TrimSpace(env(config.EnvAPIToken))
		if tok != "" && len(tok) < minTokenLen {
			return "", fmt.Errorf("$%s: a token must be at least %d characters (got %d)", config.EnvAPIToken, minTokenLen, len(tok))
		}
		return tok, nil
	}
	f, err := os.Open(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("api.token_file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("api.token_file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("api.token_file: %s is not a regular file", c.TokenFile)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return "", fmt.Errorf("api.token_file: %s is accessible by group or others (mode %04o): "+
			"the admin token must be readable by its owner only: chmod 600 %s", c.TokenFile, perm, c.TokenFile)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("api.token_file: %w", err)
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("api.token_file: %s is larger than %d bytes: it should hold one token", c.TokenFile, maxTokenFile)
	}
	tok := string(bytes.TrimSpace(b))
	if len(tok) < minTokenLen {
		return "", fmt.Errorf("api.token_file: %s holds %d characters; a token must be at least %d", c.TokenFile, len(tok), minTokenLen)
	}
	return tok, nil
}
