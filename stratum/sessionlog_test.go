package stratum

import (
	"net"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestSessionLog: messages below the enabled level build no logger and
// write nothing; the first one written builds it once, and every message
// carries the miner's remote address.
func TestSessionLog(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	core, logs := observer.New(zap.InfoLevel)
	s := &session{srv: &Server{log: zap.New(core)}, conn: client}
	s.log.s = s

	steps := []struct {
		name      string
		log       func()
		wantLogs  int
		wantBuilt bool
	}{
		{"debug is off", func() { s.log.Debug("d", zap.Int("n", 1)) }, 0, false},
		{"check at debug", func() {
			if s.log.Check(zap.DebugLevel, "d") != nil {
				t.Error("Check at a disabled level returned an entry")
			}
		}, 0, false},
		{"info", func() { s.log.Info("i", zap.Int("n", 2)) }, 1, true},
		{"warn", func() { s.log.Warn("w") }, 2, true},
		{"check at warn", func() {
			if ce := s.log.Check(zap.WarnLevel, "c"); ce != nil {
				ce.Write()
			}
		}, 3, true},
	}
	var first *zap.Logger
	for _, st := range steps {
		st.log()
		if got := logs.Len(); got != st.wantLogs {
			t.Fatalf("%s: %d messages, want %d", st.name, got, st.wantLogs)
		}
		built := s.log.built.Load()
		if (built != nil) != st.wantBuilt {
			t.Fatalf("%s: logger built %v, want %v", st.name, built != nil, st.wantBuilt)
		}
		if first == nil {
			first = built
		} else if built != first {
			t.Fatalf("%s: logger built again", st.name)
		}
	}
	for _, e := range logs.All() {
		if got := e.ContextMap()["remote"]; got != client.RemoteAddr().String() {
			t.Errorf("message %q: remote %v, want %v", e.Message, got, client.RemoteAddr())
		}
	}
}
