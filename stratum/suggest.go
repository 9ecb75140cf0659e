package stratum

import (
	"bytes"
	"time"
)

// handleSuggestDifficulty answers mining.suggest_difficulty [N], and the
// legacy method name "mining.suggest_difficulty(N)" some firmware sends. N
// (clamped to [Min, Max]) becomes the session's difficulty and its vardiff
// floor; it may come before authorize and then applies to the first job. A
// d=N password wins over it.
func (s *session) handleSuggestDifficulty(req *request) error {
	var raw []byte
	if arg, ok := bytes.CutPrefix(req.method, []byte("mining.suggest_difficulty(")); ok {
		var closed bool
		if raw, closed = bytes.CutSuffix(arg, []byte(")")); !closed {
			return &protocolError{"Invalid params: mining.suggest_difficulty(N) is missing ')'"}
		}
	} else {
		var p args
		if err := arrayParams(req, &p); err != nil {
			return err
		}
		if p.len() < 1 {
			return &protocolError{"Invalid params: mining.suggest_difficulty needs a difficulty"}
		}
		raw = p.at(0)
	}
	d, ok := positiveNumber(raw)
	if !ok {
		return &protocolError{"Invalid params: mining.suggest_difficulty needs a positive number"}
	}
	s.replyResult(req.id, "true")
	if s.fixed {
		return nil
	}
	now := time.Now()
	o := s.srv.difficulty()
	d = clampDifficulty(d, o.Min, o.Max)
	s.floor = d
	if d == s.diff && s.ready {
		// Unchanged, but the miner asked: confirm it.
		s.sendDifficulty()
		return nil
	}
	s.setDifficulty(d)
	s.vd.reset(now)
	return nil
}

// raiseFloor applies a minimum difficulty the miner asked for: vardiff stays
// at or above it, and the current difficulty is raised to it when lower.
// s.mu is held.
func (s *session) raiseFloor(d float64, now time.Time) {
	o := s.srv.difficulty()
	s.floor = clampDifficulty(d, o.Min, o.Max)
	if !s.fixed && s.diff < s.floor {
		s.setDifficulty(s.floor)
		s.vd.reset(now)
	}
}
