package stratum

import (
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
	"unique"

	"go.uber.org/zap"
)

// handleSubscribe answers mining.subscribe [user_agent, session_id?]: it
// allocates the session's extranonce1, reusing the previous session id a
// reconnecting miner passes when it is ours and free. A second subscribe on
// the same connection gets the same answer.
func (s *session) handleSubscribe(req *request) error {
	var p args
	if err := arrayParams(req, &p); err != nil {
		return err
	}
	agent, _, err := stringArg(req, &p, 0, "user_agent")
	if err != nil {
		return err
	}
	if !s.subscribed {
		var prefer uint32
		hasPrefer := false
		if p.len() > 1 {
			// A session id that is not a string of 8 hex digits is
			// ignored rather than refused: it is only a hint.
			if prev, ok, _ := stringArg(req, &p, 1, "session_id"); ok {
				prefer, hasPrefer = parseSessionID(prev)
			}
		}
		v, seen, err := s.srv.alloc.alloc(prefer, hasPrefer)
		if err != nil {
			s.log.Warn("subscribe refused", zap.Error(err))
			s.replyError(req.id, "null", 20, "Server is full")
			return nil
		}
		s.en1v, s.seen = v, seen
		binary.BigEndian.PutUint32(s.en1[:], v)
		s.subscribed = true
		if len(agent) > 0 {
			s.agent = unique.Make(cleanAgent(agent))
		}
		// Checked first: the fields would be allocated even when debug
		// is off, and every connection subscribes.
		if ce := s.log.Check(zap.DebugLevel, "subscribed"); ce != nil {
			ce.Write(zap.ByteString("agent", agent), zap.String("extranonce1", hex.EncodeToString(s.en1[:])))
		}
	}
	b := getBuf()
	*b = appendResultEnd(appendSubscribeResult(appendResultStart(*b, req.id), s.en1[:], s.srv.o.Extranonce2Size))
	s.send(b)
	s.becomeReady(time.Now())
	return nil
}

// maxAgentBytes bounds the user agent a session keeps: enough for any
// firmware's name and version, and a miner cannot make the pool hold more.
const maxAgentBytes = 64

// cleanAgent returns the user agent as the session keeps it: its first
// maxAgentBytes bytes, each byte outside printable ASCII replaced by '?'
// so that the admin's tables and logs show it as it is.
func cleanAgent(agent []byte) string {
	var buf [maxAgentBytes]byte
	b := buf[:min(len(agent), maxAgentBytes)]
	for i := range b {
		c := agent[i]
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b[i] = c
	}
	return string(b)
}

// parseSessionID reads a session id as subscribe sends it back: exactly 8
// hex digits.
func parseSessionID(b []byte) (uint32, bool) {
	var v [4]byte
	if len(b) != 2*len(v) {
		return 0, false
	}
	if _, err := hex.Decode(v[:], b); err != nil {
		return 0, false
	}
	return binary.BigEndian.Uint32(v[:]), true
}

// appendSubscribeResult appends subscribe's result: the subscriptions (both
// under the extranonce1 as session id), extranonce1 and the extranonce2
// size.
func appendSubscribeResult(dst, en1 []byte, en2Size int) []byte {
	dst = append(dst, `[[["mining.set_difficulty","`...)
	dst = hex.AppendEncode(dst, en1)
	dst = append(dst, `"],["mining.notify","`...)
	dst = hex.AppendEncode(dst, en1)
	dst = append(dst, `"]],"`...)
	dst = hex.AppendEncode(dst, en1)
	dst = append(dst, `",`...)
	dst = strconv.AppendInt(dst, int64(en2Size), 10)
	return append(dst, ']')
}
