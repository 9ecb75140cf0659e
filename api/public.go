package api

import (
	"net/http"
	"strings"
	"time"
)

// The public, read-only routes.

// Bounds of GET /api/v1/blocks.
const (
	defaultBlocks = 20
	maxBlocks     = 1000
)

// pool answers GET /api/v1/pool.
func (s *Server) pool(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	sum, err := s.o.Pool.Summary(r.Context())
	if err != nil {
		return nil, err
	}
	if sum.LastBlock != nil {
		b := *sum.LastBlock
		b.Time = b.Time.UTC()
		sum.LastBlock = &b
	}
	return sum, nil
}

// seriesBody is a hashrate series' answer.
type seriesBody struct {
	Window string  `json:"window"`
	Step   string  `json:"step"`
	Points []Point `json:"points"`
}

// poolHashrate answers GET /api/v1/pool/hashrate.
func (s *Server) poolHashrate(r *http.Request) (any, error) {
	return s.series(r, "")
}

// accountHashrate answers GET /api/v1/accounts/{address}/hashrate.
func (s *Server) accountHashrate(r *http.Request) (any, error) {
	account, err := s.accountAddress(r.PathValue("address"))
	if err != nil {
		return nil, err
	}
	return s.series(r, account)
}

// workerHashrate answers GET /api/v1/accounts/{address}/workers/{worker}/hashrate:
// the series in the step the worker's history has for the window, which the
// answer names.
func (s *Server) workerHashrate(r *http.Request) (any, error) {
	account, err := s.accountAddress(r.PathValue("address"))
	if err != nil {
		return nil, err
	}
	worker, err := workerName(r.PathValue("worker"))
	if err != nil {
		return nil, err
	}
	if worker != account && !strings.HasPrefix(worker, account+".") {
		return nil, badInput("worker", "must be a worker of %s: the account itself or %s.<rig> (got %q)", account, account, clip(worker))
	}
	return s.answerSeries(r, func(window, step time.Duration) (Series, error) {
		se, err := s.o.Pool.WorkerHashrate(r.Context(), worker, window, step)
		if isNotFound(err) {
			return se, notFoundError("worker", "worker %s: no share recorded in the hashrate history", worker)
		}
		return se, err
	})
}

// series answers a hashrate series of the pool (account "") or an account.
func (s *Server) series(r *http.Request, account string) (any, error) {
	return s.answerSeries(r, func(window, step time.Duration) (Series, error) {
		points, err := s.o.Pool.Hashrate(r.Context(), account, window, step)
		return Series{Window: window, Step: step, Points: points}, s.accountError(err, account)
	})
}

// answerSeries reads window and step and answers with the series read
// returns, in UTC, naming the window and step it used.
func (s *Server) answerSeries(r *http.Request, read func(window, step time.Duration) (Series, error)) (any, error) {
	q, err := query(r, "window", "step")
	if err != nil {
		return nil, err
	}
	window, step, err := series(q)
	if err != nil {
		return nil, err
	}
	se, err := read(window, step)
	if err != nil {
		return nil, err
	}
	for i := range se.Points {
		se.Points[i].T = se.Points[i].T.UTC()
	}
	return seriesBody{Window: fmtDuration(se.Window), Step: fmtDuration(se.Step), Points: nonNil(se.Points)}, nil
}

// fmtDuration writes a duration as the query takes it, without the zero
// units time.Duration.String adds ("24h", "10m", "1h30m").
func fmtDuration(d time.Duration) string {
	s := d.String()
	for _, zero := range []struct{ suffix, keep string }{{"m0s", "m"}, {"h0m", "h"}} {
		if len(s) > len(zero.suffix) && s[len(s)-len(zero.suffix):] == zero.suffix {
			s = s[:len(s)-len(zero.suffix)] + zero.keep
		}
	}
	return s
}

// blocksBody is GET /api/v1/blocks's answer.
type blocksBody struct {
	Blocks []Block `json:"blocks"`
}

// blocks answers GET /api/v1/blocks.
func (s *Server) blocks(r *http.Request) (any, error) {
	q, err := query(r, "limit")
	if err != nil {
		return nil, err
	}
	n, err := limit(q, defaultBlocks, 1, maxBlocks)
	if err != nil {
		return nil, err
	}
	bs, err := s.o.Pool.Blocks(r.Context(), n)
	if err != nil {
		return nil, err
	}
	for i := range bs {
		bs[i].Time = bs[i].Time.UTC()
	}
	return blocksBody{Blocks: nonNil(bs)}, nil
}

// account answers GET /api/v1/accounts/{address}.
func (s *Server) account(r *http.Request) (any, error) {
	if _, err := query(r); err != nil {
		return nil, err
	}
	account, err := s.accountAddress(r.PathValue("address"))
	if err != nil {
		return nil, err
	}
	a, err := s.o.Pool.Account(r.Context(), account)
	if err != nil {
		return nil, s.accountError(err, account)
	}
	for i := range a.Workers {
		if t := a.Workers[i].LastShare; t != nil {
			u := t.UTC()
			a.Workers[i].LastShare = &u
		}
	}
	for i := range a.Payments {
		a.Payments[i].Time = a.Payments[i].Time.UTC()
	}
	a.Workers, a.Payments = nonNil(a.Workers), nonNil(a.Payments)
	return a, nil
}

// accountError turns ErrNotFound into the 404 of an unknown account.
func (s *Server) accountError(err error, account string) error {
	if account != "" && isNotFound(err) {
		return notFoundError("address", "account %s: no shares and no ledger entry", account)
	}
	return err
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
