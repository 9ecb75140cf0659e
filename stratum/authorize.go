package stratum

import (
	"bytes"
	"math"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// handleAuthorize answers mining.authorize [username, password]. Several
// workers may be authorized on one connection; the first one's account
// chooses the job (in solo mode the coinbase pays it). A password option
// d=N fixes the session's difficulty and turns vardiff off.
func (s *session) handleAuthorize(req *request) error {
	var p args
	if err := arrayParams(req, &p); err != nil {
		return err
	}
	user, ok, err := stringParam(req, &p, 0, "username")
	if err != nil {
		return err
	}
	if !ok {
		return &protocolError{"Invalid params: mining.authorize needs a username"}
	}
	pass, _, err := stringArg(req, &p, 1, "password")
	if err != nil {
		return err
	}
	if s.findWorker(user) == nil && s.workerCount() >= maxWorkers {
		s.replyError(req.id, "false", 24, "Too many workers on this connection")
		return nil
	}
	w, err := s.srv.o.Auth.Authorize(user)
	if err != nil {
		s.log.Debug("authorize refused", zap.String("user", user), zap.Error(err))
		s.replyError(req.id, "false", 24, err.Error())
		return nil
	}
	if f := s.srv.o.Site; f != nil {
		cp := *w
		cp.Site = f(w.Account, w.Name, remoteAddr(s.conn))
		w = &cp
	}
	s.addWorker(user, w)
	if !s.authorized {
		s.authorized, s.account = true, w.Account
	}
	// Checked first: the field would be allocated even when debug is off,
	// and every connection authorizes.
	if ce := s.log.Check(zap.DebugLevel, "authorized"); ce != nil {
		ce.Write(zap.String("worker", w.Name))
	}
	s.replyResult(req.id, "true")
	now := time.Now()
	if d, ok := passwordDifficulty(pass); ok {
		o := s.srv.difficulty()
		s.fixed = true
		s.setDifficulty(clampDifficulty(d, o.Min, o.Max))
	}
	s.becomeReady(now)
	return nil
}

// passwordDifficulty finds a d=N option in a comma-separated password such
// as "x", "d=512", "x,d=0.001" or "d=64,foo".
func passwordDifficulty(pass []byte) (float64, bool) {
	for opt := range bytes.SplitSeq(pass, []byte(",")) {
		v, found := bytes.CutPrefix(bytes.TrimSpace(opt), []byte("d="))
		if !found {
			continue
		}
		d, err := strconv.ParseFloat(string(v), 64)
		if err == nil && d > 0 && !math.IsInf(d, 0) {
			return d, true
		}
	}
	return 0, false
}
