package cpuminer

import (
	"context"
	"fmt"
	"io"
	"time"
)

// RunWithStatus runs m as Run does and writes its progress to w: every
// interval (never when interval is 0) a status line with the hash rate
// since the previous one, and when Run returns a "total:" line with the
// rate over the whole run. It returns Run's error.
func (m *Miner) RunWithStatus(ctx context.Context, interval time.Duration, w io.Writer) error {
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	start, last, lastAt := time.Now(), m.Stats(), time.Now()
	for {
		select {
		case <-tick:
			s, now := m.Stats(), time.Now()
			fmt.Fprintln(w, statusLine(s, hashRate(s.Hashes-last.Hashes, now.Sub(lastAt))))
			last, lastAt = s, now
		case err := <-done:
			s := m.Stats()
			fmt.Fprintln(w, "total:", statusLine(s, hashRate(s.Hashes, time.Since(start))))
			return err
		}
	}
}

// statusLine formats the counters and a hash rate in H/s.
func statusLine(s Stats, hps float64) string {
	conn := "up"
	if !s.Connected {
		conn = "down"
	}
	return fmt.Sprintf("accepted=%d rejected=%d stale=%d diff=%g hashrate=%.3f MH/s jobs=%d pool=%s",
		s.Accepted, s.Rejected, s.Stale, s.Difficulty, hps/1e6, s.Jobs, conn)
}

// hashRate is hashes per second over d (0 when d is not positive).
func hashRate(hashes uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(hashes) / d.Seconds()
}
