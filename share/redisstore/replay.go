package redisstore

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"
)

// replay drains the journal into Redis in order, one batch per round trip,
// and truncates it once drained. It runs from Start until Stop.
func (s *Store) replay() {
	defer close(s.replayDone)
	j := s.journal
	enc := newEncoder(s.k, &s.o)
	for {
		<-j.kick
		for {
			if j.isClosed() {
				return
			}
			bs, ends, err := j.read(maxGroup)
			if err != nil {
				var cerr *CorruptError
				if !errors.As(err, &cerr) {
					s.log.Error("journal read failed", zap.Error(err))
					s.pause()
				}
				continue
			}
			if len(bs) == 0 {
				drained, err := j.advance(0, 0)
				if err != nil {
					s.log.Error("journal truncate failed", zap.Error(err))
					s.pause()
					continue
				}
				if drained {
					s.log.Info("journal drained into redis")
				}
				break
			}
			n, err := s.write(context.Background(), enc, bs)
			if n > 0 {
				shares := 0
				for _, b := range bs[:n] {
					shares += len(b.shares)
				}
				if _, aerr := j.advance(ends[n-1], shares); aerr != nil {
					s.log.Error("journal truncate failed", zap.Error(aerr))
				}
			}
			if err != nil {
				s.redisError(err)
				s.pause()
			}
		}
	}
}

// pause waits RetryInterval, or less when the store is closing.
func (s *Store) pause() {
	t := time.NewTimer(s.o.RetryInterval)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.closingCh:
	}
}
