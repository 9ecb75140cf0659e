package stratum

import (
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// sessionLog is a session's logger: the server's, with the miner's remote
// address added to every message. That logger (a zap.Logger clone and its
// context, about 200 bytes) is built at the first message actually
// written, so an idle miner, or one whose messages are all below the
// enabled level, holds none of it. Its methods are zap.Logger's that the
// sessions use; it is safe for concurrent use.
type sessionLog struct {
	s     *session
	built atomic.Pointer[zap.Logger]
}

// logger returns the session's logger, building it at the first call.
func (l *sessionLog) logger() *zap.Logger {
	if lg := l.built.Load(); lg != nil {
		return lg
	}
	lg := l.s.srv.log.With(zap.Stringer("remote", l.s.conn.RemoteAddr()))
	if l.built.CompareAndSwap(nil, lg) {
		return lg
	}
	return l.built.Load()
}

// Check is zap.Logger.Check; it builds nothing when lvl is disabled.
func (l *sessionLog) Check(lvl zapcore.Level, msg string) *zapcore.CheckedEntry {
	if !l.s.srv.log.Core().Enabled(lvl) {
		return nil
	}
	return l.logger().Check(lvl, msg)
}

// Debug logs at debug level.
func (l *sessionLog) Debug(msg string, fields ...zap.Field) { l.write(zap.DebugLevel, msg, fields) }

// Info logs at info level.
func (l *sessionLog) Info(msg string, fields ...zap.Field) { l.write(zap.InfoLevel, msg, fields) }

// Warn logs at warning level.
func (l *sessionLog) Warn(msg string, fields ...zap.Field) { l.write(zap.WarnLevel, msg, fields) }

func (l *sessionLog) write(lvl zapcore.Level, msg string, fields []zap.Field) {
	if ce := l.Check(lvl, msg); ce != nil {
		ce.Write(fields...)
	}
}
