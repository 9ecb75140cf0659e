package api

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"go.uber.org/zap"
)

// The admin routes. Each action is logged with the client's address.

// Bounds of GET /api/v1/admin/connections.
const (
	defaultConnections = 1000
	maxConnections     = 10000
)

// connectionsBody is GET /api/v1/admin/connections's answer.
type connectionsBody struct {
	Connections []Connection `json:"connections"`
}

// connections answers GET /api/v1/admin/connections.
func (s *Server) connections(r *http.Request) (any, error) {
	q, err := query(r, "account", "limit")
	if err != nil {
		return nil, err
	}
	n, err := limit(q, defaultConnections, 1, maxConnections)
	if err != nil {
		return nil, err
	}
	var account string
	if q.Has("account") {
		if account, err = s.accountAddress(q.Get("account")); err != nil {
			return nil, relabel(err, "account")
		}
	}
	cs, err := s.o.Admin.Connections(r.Context(), ConnFilter{Account: account, Limit: n})
	if err != nil {
		return nil, err
	}
	for i := range cs {
		cs[i].Connected = cs[i].Connected.UTC()
		cs[i].Workers = nonNil(cs[i].Workers)
	}
	return connectionsBody{Connections: nonNil(cs)}, nil
}

// relabel renames the field of a 400 (an address given as ?account=).
func relabel(err error, field string) error {
	var se *statusError
	if errors.As(err, &se) && se.field != "" {
		return &statusError{status: se.status, field: field, msg: field + se.msg[len(se.field):]}
	}
	return err
}

// kickRequest is POST /api/v1/admin/kick's body: one of the two.
type kickRequest struct {
	Worker  string `json:"worker"`
	Address string `json:"address"`
}

// kick answers POST /api/v1/admin/kick.
func (s *Server) kick(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	var req kickRequest
	if err := body(r, &req); err != nil {
		return nil, err
	}
	var n int
	switch {
	case req.Worker != "" && req.Address != "":
		return nil, badInput("worker", "give worker or address, not both")
	case req.Worker != "":
		w, err := workerName(req.Worker)
		if err != nil {
			return nil, err
		}
		if n, err = s.o.Admin.KickWorker(r.Context(), w); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, unknownWorker(w)
		}
	case req.Address != "":
		a, err := ipAddress("address", req.Address)
		if err != nil {
			return nil, err
		}
		if n, err = s.o.Admin.KickAddress(r.Context(), a); err != nil {
			return nil, err
		}
	default:
		return nil, badInput("worker", "give worker or address")
	}
	s.audit(r, "kick", zap.String("worker", req.Worker), zap.String("address", req.Address), zap.Int("kicked", n))
	return struct {
		Kicked int `json:"kicked"`
	}{n}, nil
}

// unknownWorker is the 404 of a worker no connection of this node has.
func unknownWorker(w string) error {
	return notFoundError("worker", "worker %s: no connection of this node has authorized it", clip(w))
}

// bansBody is GET /api/v1/admin/bans's answer.
type bansBody struct {
	Bans []Ban `json:"bans"`
}

// bans answers GET /api/v1/admin/bans.
func (s *Server) bans(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	bs, err := s.o.Admin.Bans(r.Context())
	if err != nil {
		return nil, err
	}
	for i := range bs {
		bs[i].Until = bs[i].Until.UTC()
	}
	return bansBody{Bans: nonNil(bs)}, nil
}

// banRequest is POST /api/v1/admin/bans's body.
type banRequest struct {
	Address  string `json:"address"`
	Duration string `json:"duration"`
}

// ban answers POST /api/v1/admin/bans.
func (s *Server) ban(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	var req banRequest
	if err := body(r, &req); err != nil {
		return nil, err
	}
	if err := required("address", req.Address); err != nil {
		return nil, err
	}
	a, err := ipAddress("address", req.Address)
	if err != nil {
		return nil, err
	}
	if err := required("duration", req.Duration); err != nil {
		return nil, err
	}
	d, err := banDuration(req.Duration)
	if err != nil {
		return nil, err
	}
	b, err := s.o.Admin.Ban(r.Context(), a, d)
	if err != nil {
		return nil, err
	}
	b.Until = b.Until.UTC()
	s.audit(r, "ban", zap.String("address", b.Address), zap.Time("until", b.Until))
	return b, nil
}

// unban answers DELETE /api/v1/admin/bans/{address}.
func (s *Server) unban(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	a, err := ipAddress("address", r.PathValue("address"))
	if err != nil {
		return nil, err
	}
	ok, err := s.o.Admin.Unban(r.Context(), a)
	if err != nil {
		return nil, err
	}
	s.audit(r, "unban", zap.Stringer("address", a), zap.Bool("unbanned", ok))
	return struct {
		Unbanned bool `json:"unbanned"`
	}{ok}, nil
}

// reload answers POST /api/v1/admin/reload.
func (s *Server) reload(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	if err := emptyBody(r); err != nil {
		return nil, err
	}
	res, err := s.o.Admin.Reload(r.Context())
	if err != nil {
		return nil, err
	}
	res.Applied, res.Restart = nonNil(res.Applied), nonNil(res.Restart)
	s.audit(r, "reload", zap.Strings("applied", res.Applied), zap.Strings("restart", res.Restart))
	return res, nil
}

// emptyBody accepts no body, or an empty JSON object.
func emptyBody(r *http.Request) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	var none struct{}
	return body(r, &none)
}

// difficultyRequest is POST /api/v1/admin/difficulty's body.
type difficultyRequest struct {
	Worker     string   `json:"worker"`
	Difficulty *float64 `json:"difficulty"`
}

// difficulty answers POST /api/v1/admin/difficulty.
func (s *Server) difficulty(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	var req difficultyRequest
	if err := body(r, &req); err != nil {
		return nil, err
	}
	if err := required("worker", req.Worker); err != nil {
		return nil, err
	}
	w, err := workerName(req.Worker)
	if err != nil {
		return nil, err
	}
	d, err := positive("difficulty", req.Difficulty)
	if err != nil {
		return nil, err
	}
	n, err := s.o.Admin.SetDifficulty(r.Context(), w, d)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, unknownWorker(w)
	}
	s.audit(r, "difficulty", zap.String("worker", w), zap.Float64("difficulty", d), zap.Int("sessions", n))
	return struct {
		Sessions int `json:"sessions"`
	}{n}, nil
}

// audit logs an admin action.
func (s *Server) audit(r *http.Request, action string, fields ...zap.Field) {
	s.log.Info("api: admin "+action, append(fields, zap.String("client", r.RemoteAddr))...)
}
