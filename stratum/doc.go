// Package stratum is Tarbela's Stratum v1 server: the TCP listener, one
// session per miner connection, the line codec, method dispatch, per-session
// variable difficulty and extranonce1 allocation.
//
// Each connection has one reading goroutine with a hard line-length cap and
// an idle deadline, and one writing goroutine that drains a bounded outbound
// queue under a write deadline. A miner whose queue is full is dropped as a
// slow consumer, so a stuck socket never delays a notify to anyone else:
// Server.Publish only ever enqueues.
//
// Jobs are named per session: every mining.notify a session sends gets a
// short session-local id bound to a share.Assignment that carries the
// difficulty in force when it was sent, so a late share is judged by the
// rules it was mined under. All share judging is done by share.Validator;
// this package knows nothing of Redis or the node's RPC (cmd/tarbela wires
// the template feed to Publish and hands the Validator its store and block
// sink).
//
// Locking: a session's mutex guards its protocol state and is held while a
// request is handled and while a notify is queued, which keeps the order of
// mining.set_difficulty and mining.notify on the wire. Server.mu guards the
// session set and is never held while a session's mutex is taken; the
// current work is an atomic pointer; the extranonce1 allocator has its own
// mutex, which may be taken while a session's mutex is held (session.mu
// before alloc.mu).
package stratum
