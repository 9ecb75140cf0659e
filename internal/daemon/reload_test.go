package daemon_test

import (
	"reflect"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TestReload changes a running pool's config as SIGHUP does: the difficulty
// and log level apply at once, the coinbase tag and the IPv6 grouping are
// reported as needing a restart (and again on a later reload), and a bad
// value changes nothing.
func TestReload(t *testing.T) {
	tp := startPool(t, poolOptions{}, nil)
	level := zap.NewAtomicLevelAt(zapcore.InfoLevel)

	next := *tp.cfg
	next.Stratum.Difficulty.Initial, next.Stratum.Difficulty.Max = 0.004, 0.004
	next.Log.Level = "debug"
	next.Pool.CoinbaseTag = "/changed/"
	next.Stratum.IPv6Prefix = 48
	applied, restart, err := tp.d.Reload(&next, &level)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"stratum.difficulty.initial", "stratum.difficulty.max", "log.level"}; !reflect.DeepEqual(applied, want) {
		t.Errorf("applied %v, want %v", applied, want)
	}
	wantRestart := []string{"pool.coinbase_tag", "stratum.ipv6_prefix"}
	if !reflect.DeepEqual(restart, wantRestart) {
		t.Errorf("need restart %v, want %v", restart, wantRestart)
	}
	if level.Level() != zapcore.DebugLevel {
		t.Errorf("log level %v, want debug", level.Level())
	}
	c := dial(t, tp.d.StratumAddr())
	c.handshake(minerAddr+".reload", "x", 0)
	if c.difficulty != 0.004 {
		t.Errorf("a new miner got difficulty %v, want the reloaded 0.004", c.difficulty)
	}

	// The same file again: nothing to apply, the tag and the grouping still
	// need a restart.
	applied, restart, err = tp.d.Reload(&next, &level)
	if err != nil || len(applied) != 0 || !reflect.DeepEqual(restart, wantRestart) {
		t.Errorf("second reload: applied %v, restart %v, err %v", applied, restart, err)
	}

	// A difficulty the server refuses leaves everything as it was.
	bad := next
	bad.Stratum.Difficulty.Min, bad.Stratum.Difficulty.Max = 1, 0.5
	if _, _, err := tp.d.Reload(&bad, &level); err == nil {
		t.Fatal("min above max was applied")
	}
	c2 := dial(t, tp.d.StratumAddr())
	c2.handshake(minerAddr+".reload2", "x", 0)
	if c2.difficulty != 0.004 {
		t.Errorf("after a refused reload a new miner got difficulty %v, want 0.004", c2.difficulty)
	}
}
