package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/chaincfg/v2"
	"go.uber.org/zap"
)

// openAPI is the API's OpenAPI 3 description, served as is.
//
//go:embed openapi.yaml
var openAPI []byte

// Limits and timeouts of the server.
const (
	// maxBody bounds a request body.
	maxBody = 64 << 10
	// callTimeout bounds one call to the Pool or the Admin.
	callTimeout = 10 * time.Second
	// disabledMessage is the 403 of every admin route without a token.
	disabledMessage = "admin routes are disabled: set api.token_file or TARBELA_API_TOKEN"
)

// Options configures a Server.
type Options struct {
	// Pool answers the public routes; Admin the admin routes. Both are
	// required.
	Pool  Pool
	Admin Admin
	// Token is the admin routes' bearer token; "" disables them (403).
	Token string
	// Network is the pool's network: account addresses must be of it.
	Network *chaincfg.Params
	// UI, when set, is mounted at / (the dashboard); otherwise / answers
	// 404.
	UI http.Handler
	// Log receives the admin actions and the pool's faults (zap.NewNop()
	// by default).
	Log *zap.Logger
}

// Server is the HTTP API. Create it with New; serve its Handler from an
// http.Server of your own, or let it serve a listener with Start and Stop.
type Server struct {
	o       Options
	log     *zap.Logger
	mux     *http.ServeMux
	routes  []route
	token   [sha256.Size]byte
	handler http.Handler

	mu      sync.Mutex
	http    *http.Server
	started bool
	done    chan struct{}
}

// route is one registered route: its method and path pattern (as
// net/http's ServeMux and the OpenAPI file write it) and whether it needs
// the token.
type route struct {
	method, path string
	admin        bool
	h            handlerFunc
}

// handlerFunc answers a request with a value to encode as JSON (status
// 200) or an error (see writeError).
type handlerFunc func(r *http.Request) (any, error)

// New returns a server for o.
func New(o Options) (*Server, error) {
	if o.Pool == nil || o.Admin == nil || o.Network == nil {
		return nil, errors.New("api: Options need Pool, Admin and Network")
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	s := &Server{o: o, log: o.Log, mux: http.NewServeMux()}
	if o.Token != "" {
		s.token = sha256.Sum256([]byte(o.Token))
	}
	s.routes = []route{
		{method: "GET", path: "/api/v1/pool", h: s.pool},
		{method: "GET", path: "/api/v1/pool/hashrate", h: s.poolHashrate},
		{method: "GET", path: "/api/v1/blocks", h: s.blocks},
		{method: "GET", path: "/api/v1/accounts/{address}", h: s.account},
		{method: "GET", path: "/api/v1/accounts/{address}/hashrate", h: s.accountHashrate},
		{method: "GET", path: "/api/v1/accounts/{address}/workers/{worker}/hashrate", h: s.workerHashrate},
		{method: "GET", path: "/api/v1/admin/connections", admin: true, h: s.connections},
		{method: "POST", path: "/api/v1/admin/kick", admin: true, h: s.kick},
		{method: "GET", path: "/api/v1/admin/bans", admin: true, h: s.bans},
		{method: "POST", path: "/api/v1/admin/bans", admin: true, h: s.ban},
		{method: "DELETE", path: "/api/v1/admin/bans/{address}", admin: true, h: s.unban},
		{method: "POST", path: "/api/v1/admin/reload", admin: true, h: s.reload},
		{method: "POST", path: "/api/v1/admin/difficulty", admin: true, h: s.difficulty},
	}
	for _, rt := range s.routes {
		s.mux.Handle(rt.method+" "+rt.path, s.serve(rt))
	}
	s.routes = append(s.routes, route{method: "GET", path: openAPIPath})
	s.mux.HandleFunc("GET "+openAPIPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(openAPI)
	})
	s.mux.HandleFunc("/api/", s.notFound)
	if o.UI != nil {
		s.mux.Handle("/", o.UI)
	} else {
		s.mux.HandleFunc("/", s.notFound)
	}
	s.handler = http.MaxBytesHandler(s.mux, maxBody)
	return s, nil
}

// openAPIPath is where the OpenAPI file is served.
const openAPIPath = "/api/v1/openapi.yaml"

// Handler is the API's handler: every route, and the UI at / when given.
func (s *Server) Handler() http.Handler { return s.handler }

// Start serves the API on ln in the background, with read and write
// timeouts. It may be called once.
func (s *Server) Start(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("api: server already started")
	}
	s.started = true
	// A client's broken connection is the client's affair: debug.
	errLog, err := zap.NewStdLogAt(s.log, zap.DebugLevel)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	s.http = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          errLog,
	}
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("api: serve", zap.Error(err))
		}
	}()
	return nil
}

// Stop stops accepting, lets the requests in flight finish until ctx ends
// (then closes their connections) and waits for the serving goroutine. It
// is safe to call twice and without Start.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	hs, done := s.http, s.done
	s.mu.Unlock()
	if hs == nil {
		return nil
	}
	err := hs.Shutdown(ctx)
	if err != nil {
		hs.Close()
		err = fmt.Errorf("api: stop: %w", err)
	}
	<-done
	return err
}

// serve wraps a route's handler: the token check for admin routes, the
// call's timeout, the JSON answer.
func (s *Server) serve(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.admin {
			if err := s.authorize(r); err != nil {
				s.writeError(w, r, rt, err)
				return
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
		defer cancel()
		v, err := rt.h(r.WithContext(ctx))
		if err != nil {
			s.writeError(w, r, rt, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// authorize checks the bearer token in constant time (both sides hashed,
// so not even the length leaks).
func (s *Server) authorize(r *http.Request) error {
	if s.o.Token == "" {
		return &statusError{status: http.StatusForbidden, msg: disabledMessage}
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return &statusError{status: http.StatusUnauthorized, msg: "missing bearer token: send Authorization: Bearer <token>"}
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if subtle.ConstantTimeCompare(got[:], s.token[:]) != 1 {
		return &statusError{status: http.StatusUnauthorized, msg: "wrong token"}
	}
	return nil
}

// statusError is an answer other than 200 decided by the API itself.
type statusError struct {
	status     int
	field, msg string
}

func (e *statusError) Error() string { return e.msg }

// badInput is a 400 naming field: "field: message".
func badInput(field, format string, args ...any) error {
	return &statusError{status: http.StatusBadRequest, field: field, msg: field + ": " + fmt.Sprintf(format, args...)}
}

// notFoundError is a 404 naming field.
func notFoundError(field, format string, args ...any) error {
	return &statusError{status: http.StatusNotFound, field: field, msg: fmt.Sprintf(format, args...)}
}

// errorBody is every error's JSON.
type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// writeError answers err: its own status for the API's errors, 400 for a
// FieldError, 404 for ErrNotFound, 503 for ErrUnavailable and a deadline,
// 500 otherwise. The pool's faults are logged; a public route does not
// show their details.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, rt route, err error) {
	var se *statusError
	var fe *FieldError
	var mbe *http.MaxBytesError
	status, body := http.StatusInternalServerError, errorBody{Error: "internal error"}
	switch {
	case errors.As(err, &se):
		status, body = se.status, errorBody{Error: se.msg, Field: se.field}
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tarbela"`)
		}
	case errors.As(err, &fe):
		status, body = http.StatusBadRequest, errorBody{Error: fe.Error(), Field: fe.Field}
	case errors.As(err, &mbe):
		status, body = http.StatusRequestEntityTooLarge, errorBody{Error: fmt.Sprintf("body: larger than %d bytes", maxBody), Field: "body"}
	case errors.Is(err, ErrNotFound):
		status, body = http.StatusNotFound, errorBody{Error: err.Error()}
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		status, body = http.StatusServiceUnavailable, errorBody{Error: ErrUnavailable.Error()}
		s.log.Warn("api: the pool's data did not answer", zap.String("route", rt.method+" "+rt.path), zap.Error(err))
	default:
		s.log.Error("api: request failed", zap.String("route", rt.method+" "+rt.path), zap.Error(err))
	}
	if status >= 500 && rt.admin && status != http.StatusServiceUnavailable {
		// The admin sees what went wrong.
		body.Error = err.Error()
	}
	writeJSON(w, status, body)
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		b.Reset()
		b.WriteString(`{"error":"encoding the answer failed"}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// notFound answers a path no route has: 405 naming the methods when the
// path is a route's under another method, 404 otherwise.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{"GET", "POST", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); strings.HasPrefix(pattern, m+" ") {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: fmt.Sprintf("%s %s: allowed methods are %s",
			r.Method, r.URL.Path, strings.Join(allow, ", "))})
		return
	}
	writeJSON(w, http.StatusNotFound, errorBody{Error: "no route " + r.Method + " " + r.URL.Path})
}

// isNotFound reports ErrNotFound.
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
