package stratum

import (
	"strconv"
	"sync"
	"time"
	"unsafe"

	"go.uber.org/zap"

	"github.com/tarbela-pool/tarbela/share"
)

// submitScratch is the working memory of judging one share: the parsed
// submission and the result, with the backing arrays of the extranonce2
// and the rebuilt coinbase. It is taken from scratchPool for one submit
// instead of living in every session, most of which are idle.
type submitScratch struct {
	sub share.Submission
	res share.Result
}

// scratchPool recycles submitScratch between submits of all sessions;
// in steady state Get and Put do not allocate, so judging does not either.
var scratchPool = sync.Pool{New: func() any { return new(submitScratch) }}

// handleSubmit judges mining.submit [worker, job_id, extranonce2, ntime,
// nonce, version_bits?]. It is the hot path: the params are decoded without
// reflection and, like the judging itself, without allocating. A rejection
// is answered at once; an accepted share is answered "true" by the writer
// once the store reports it durable (ack.go).
func (s *session) handleSubmit(req *request) error {
	v := s.srv.o.Validator
	var p [maxParams][]byte
	n, err := stringParams(req.params, &p, "mining.submit")
	if err == nil && n != 5 && n != 6 {
		err = &protocolError{"Invalid params: mining.submit takes 5 or 6 string params, got " + strconv.Itoa(n)}
	}
	if err != nil {
		v.Rejected(share.ReasonBadParams)
		v.SiteRejected(s.site(nil))
		s.rejected++
		s.shareRejected()
		return err
	}
	if !s.subscribed {
		return s.reject(req.id, nil, share.ErrNotSubscribed, true)
	}
	w := s.findWorker(view(p[0]))
	if w == nil {
		return s.reject(req.id, nil, share.ErrUnauthorized, true)
	}
	a, rej := s.jobs.lookup(p[1])
	if rej != nil {
		return s.reject(req.id, w, rej, true)
	}
	var versionBits string
	if n == 6 {
		versionBits = view(p[5])
	}
	sc := scratchPool.Get().(*submitScratch)
	defer func() {
		// The submission points at the session's extranonce1: drop it
		// so the pool does not keep a closed session alive.
		sc.sub.Extranonce1 = nil
		scratchPool.Put(sc)
	}()
	if rej := share.ParseSubmit(&sc.sub, s.en1[:], view(p[2]), view(p[3]), view(p[4]), versionBits, s.srv.o.Extranonce2Size); rej != nil {
		return s.reject(req.id, w, rej, true)
	}
	// The reply waits for the share's record (ack.go): park the id
	// first, since the store may report before Submit returns.
	token, ok := s.acks.reserve(req.id)
	if !ok {
		return s.reject(req.id, w, errAcksFull, true)
	}
	if rej := v.Submit(w, a, &sc.sub, s.mask, &sc.res, s, token); rej != nil {
		// The store never took the share; Submit has counted the
		// rejection itself.
		s.acks.unreserve(token)
		return s.reject(req.id, w, rej, false)
	}
	if ce := s.log.Check(zap.DebugLevel, "share accepted"); ce != nil {
		ce.Write(zap.String("worker", w.Name), zap.Float64("difficulty", a.Difficulty),
			zap.Float64("share_difficulty", sc.res.Difficulty), zap.Bool("block", sc.res.Block))
	}
	s.shareAccepted()
	// A fixed difficulty's window never closes: its sum is the
	// connection's work since it became fixed or ready, for the
	// hashrate estimate (admin.go).
	s.vd.sum += a.Difficulty
	s.vd.shares++
	if !s.fixed {
		now := time.Now()
		if s.vd.due(now, s.srv.difficulty()) {
			s.retarget(now)
		}
	}
	return nil
}

// reject answers a share with its typed rejection, counting it with the
// Validator when the decision was made here rather than by Validator.Submit.
// Only the miner's own faults count toward the flood rule: a share the pool
// refused for its own reasons (share.Reason.PoolFault: its store is down or
// behind) never disconnects nor bans anyone.
//
// Every rejected submit also counts for the energy site of its worker w (nil
// when the worker is unknown: the connection's first worker's site).
func (s *session) reject(id []byte, w *share.Worker, rej *share.Reject, count bool) error {
	if count {
		s.srv.o.Validator.Rejected(rej.Reason)
	}
	s.srv.o.Validator.SiteRejected(s.site(w))
	s.rejected++
	if ce := s.log.Check(zap.DebugLevel, "share rejected"); ce != nil {
		ce.Write(zap.Stringer("reason", rej.Reason), zap.String("message", rej.Message))
	}
	s.replyError(id, "false", rej.Code(), rej.Message)
	if !rej.Reason.PoolFault() {
		s.shareRejected()
	}
	return nil
}

// site is the energy site of w, or of the connection's first worker when w
// is nil ("" before any authorized: unassigned). s.mu is held.
func (s *session) site(w *share.Worker) string {
	if w == nil {
		w = s.worker
	}
	if w == nil {
		return ""
	}
	return w.Site
}

// view returns b as a string without copying. It is used only for the
// duration of one ParseSubmit call, which copies what it keeps, while b (a
// slice of the read buffer) is not modified.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
