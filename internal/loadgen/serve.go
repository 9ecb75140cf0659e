package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/tarbela-pool/tarbela/api"
	"github.com/tarbela-pool/tarbela/share"
)

// PoolServer is a server Serve runs: Tarbela's in-process pool (*Pool) or
// the fan-out floor (*Bare).
type PoolServer interface {
	Addr() string
	Connections() int
	Shares() uint64
	Stop(context.Context) error
}

var (
	_ PoolServer = (*Pool)(nil)
	_ PoolServer = (*Bare)(nil)
)

// RecordingStore is a share store that flushes on Stop and counts the
// shares it recorded: share/redisstore's Store.
type RecordingStore interface {
	share.Store
	SharesRecorded() uint64
	Stop(context.Context) error
}

// ServeOptions configures Serve.
type ServeOptions struct {
	// Pool configures the server; its Store is set from Store.
	Pool PoolOptions
	// Bare runs the fan-out floor (StartBare) instead of Tarbela's pool.
	Bare bool
	// Store, when set, is the Redis share store behind the pool; Serve
	// closes it in every case. Bare records nothing and takes none.
	Store RecordingStore
	// Duration, when positive, stops the server after this long; it runs
	// until ctx is done otherwise.
	Duration time.Duration
	// Status is the interval of status lines (none when 0).
	Status time.Duration
	// API, when its Listen is set, serves the HTTP API beside Tarbela's
	// pool (not the bare server) for as long as the pool runs.
	API APIOptions
	// Out receives the lines that say what runs and how it goes.
	Out io.Writer
}

// Serve starts the server o describes, writes its address and this
// process's pid to o.Out (and the API's URL when o.API serves it), then a status line every o.Status until ctx is
// done or o.Duration has passed. It then closes the server (within 10 s)
// and o.Store, and writes how many shares were answered (and recorded).
func Serve(ctx context.Context, o ServeOptions) error {
	if o.Bare && o.Store != nil {
		return errors.Join(errors.New("the bare server records nothing; it takes no store"), stopStore(o.Store))
	}
	if o.Bare && o.API.Listen != "" {
		return errors.Join(errors.New("the bare server has no data for the API; it serves none"), stopStore(o.Store))
	}
	var p PoolServer
	var err error
	kind := "tarbela"
	if o.Bare {
		p, err = StartBare(o.Pool)
		kind = "bare"
	} else {
		if o.Store != nil {
			o.Pool.Store = o.Store
		}
		p, err = StartPool(o.Pool)
	}
	if err != nil {
		return errors.Join(err, stopStore(o.Store))
	}
	var apiSrv *api.Server
	var apiAddr net.Addr
	if o.API.Listen != "" {
		if apiSrv, apiAddr, err = startAPI(o.API, p.(*Pool).Server); err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return errors.Join(err, p.Stop(sctx), stopStore(o.Store))
		}
	}
	fmt.Fprintf(o.Out, "pool: stratum+tcp://%s pid %d difficulty %g (%s)\n", p.Addr(), os.Getpid(), o.Pool.Difficulty, kind)
	if apiSrv != nil {
		fmt.Fprintf(o.Out, "api: http://%s/\n", apiAddr)
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	var tick <-chan time.Time
	if o.Status > 0 {
		t := time.NewTicker(o.Status)
		defer t.Stop()
		tick = t.C
	}
	last, lastAt := uint64(0), time.Now()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick:
			n, now := p.Shares(), time.Now()
			fmt.Fprintf(o.Out, "pool: connections=%d shares=%d (%.0f/s)\n", p.Connections(), n,
				float64(n-last)/now.Sub(lastAt).Seconds())
			last, lastAt = n, now
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = errors.Join(stopAPI(sctx, apiSrv), p.Stop(sctx), stopStore(o.Store))
	switch b, bare := p.(*Bare); {
	case o.Store != nil:
		fmt.Fprintf(o.Out, "pool: stopped; %d shares accepted, %d recorded in Redis\n", p.Shares(), o.Store.SharesRecorded())
	case bare:
		fmt.Fprintf(o.Out, "pool: stopped; %d shares answered unchecked, %d miners dropped for a notify that did not fit\n", b.Shares(), b.Dropped())
	default:
		fmt.Fprintf(o.Out, "pool: stopped; %d shares accepted\n", p.Shares())
	}
	return err
}

// stopAPI stops the API (nil is fine).
func stopAPI(ctx context.Context, s *api.Server) error {
	if s == nil {
		return nil
	}
	return s.Stop(ctx)
}

// stopStore flushes and stops s (nil is fine).
func stopStore(s RecordingStore) error {
	if s == nil {
		return nil
	}
	if err := s.Stop(context.Background()); err != nil {
		return fmt.Errorf("stopping the Redis store: %w", err)
	}
	return nil
}
