package ctl

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
)

// Exit codes of tarbelactl; each failure has its own so that a script
// can tell a refused request from a pool that is down.
const (
	ExitOK          = 0 // the command did what it was asked
	ExitAPI         = 1 // the API answered an error, or an answer outside the contract
	ExitUsage       = 2 // an unknown command or flag, or a bad argument
	ExitUnreachable = 3 // no answer from the API: refused, timed out, no such host
	ExitAuth        = 4 // no token for an admin command, or the API refused it (401, 403)
)

// ExitCode is the exit code err ends tarbelactl with: ExitOK for nil,
// ExitAPI for any error not of this package's other kinds.
func ExitCode(err error) int {
	var (
		usage *UsageError
		unr   *UnreachableError
		auth  *AuthError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &usage):
		return ExitUsage
	case errors.As(err, &unr):
		return ExitUnreachable
	case errors.As(err, &auth):
		return ExitAuth
	}
	return ExitAPI
}

// UsageError is a command line tarbelactl cannot run: nothing was sent.
type UsageError struct {
	Msg string
}

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

// APIError is an answer of the API that is an error (a status other than
// 2xx, with the message and field of its JSON body), or a 2xx answer that
// does not follow the contract.
type APIError struct {
	Method  string
	Route   string // path and query, as sent
	Status  int
	Message string // the body's "error", or what was wrong with the answer
	Field   string // the body's "field": the input the API refused
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Route, e.Status, http.StatusText(e.Status), e.Message)
	if e.Field != "" {
		s += fmt.Sprintf(" (field %q)", e.Field)
	}
	return s
}

// UnreachableError is a request that got no answer: the connection was
// refused, the host is unknown, TLS failed or the timeout passed.
type UnreachableError struct {
	Method   string
	URL      string // the whole URL of the request
	Timeout  time.Duration
	TimedOut bool
	Err      error
}

func (e *UnreachableError) Error() string {
	cause := e.Err.Error()
	if e.TimedOut {
		cause = fmt.Sprintf("no answer within %s (--timeout)", e.Timeout)
	}
	return fmt.Sprintf("cannot reach the API: %s %s: %s (is tarbela serving [api] listen there? set --url or $%s)",
		e.Method, e.URL, cause, EnvURL)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// AuthError is an admin command without a token (Status 0: nothing was
// sent), or an answer 401 (the token is missing or wrong) or 403 (the
// node has admin routes disabled).
type AuthError struct {
	Method  string
	Route   string
	Status  int
	Message string // the body's "error"
	Source  string // where the token came from: "--token", "--token-file F", "$TARBELA_API_TOKEN"
}

func (e *AuthError) Error() string {
	switch e.Status {
	case 0:
		return fmt.Sprintf("%s needs the API's admin token: set $%s, or pass --token or --token-file", e.Route, EnvToken)
	case http.StatusForbidden:
		return fmt.Sprintf("%s %s: 403 Forbidden: %s (the node has no admin token: set [api] token_file or $%s where tarbela runs)",
			e.Method, e.Route, e.Message, EnvToken)
	}
	refused := "no token was sent"
	if e.Source != "" {
		refused = "the token from " + e.Source + " was refused"
	}
	return fmt.Sprintf("%s %s: %d %s: %s (%s: set $%s, or pass --token or --token-file, to the node's [api] token)",
		e.Method, e.Route, e.Status, http.StatusText(e.Status), e.Message, refused, EnvToken)
}

// clean makes a string from the API safe to print on a terminal: a
// miner's user agent or a proxy's error page could hold escape sequences
// or line breaks. Anything but printable characters becomes '?'.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, s)
}
