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
// Limits and bans: a new connection over MaxConnections, over
// MaxConnectionsPerIP from its address, or from a banned address is closed
// on arrival (a reset, nothing allocated, never logged one by one: refusals
// are counted, see Server.Refused, and summarized in the log every ten
// seconds). Because a mining site puts thousands of ASICs behind one
// address, the misbehaving connection is punished first: a connection that
// floods rejected shares (BanMinRejects within BanWindow, above
// BanRejectRatio of its shares) is disconnected, and its address is banned
// for BanDuration only when the address's connections together flood by the
// same rule. Addresses in AllowIPs are exempt from the per-address limit and
// from bans.
//
// Acknowledgement: an accepted share is answered "true" only when the share
// store reports its record durable (share.Acker), so that every share a
// miner saw accepted survives a crash of the pool. The reader does not wait
// for it: the request id is parked in a per-session ring and the writer
// answers when the store reports, so a connection keeps reading while up to
// maxPendingAcks shares wait (beyond that its reader pauses). A share the
// store gives up is answered with error 20 (share.ErrNotRecorded).
//
// Locking: a session's mutex guards its protocol state and is held while a
// request is handled and while a notify is queued, which keeps the order of
// mining.set_difficulty and mining.notify on the wire. Server.mu guards the
// session set and is never held while a session's mutex is taken; the
// current work is an atomic pointer; the extranonce1 allocator has its own
// mutex, which may be taken while a session's mutex is held (session.mu
// before alloc.mu). Server.mu may be taken while a session's mutex is held
// (a ban closes the address's other sessions): session.mu before Server.mu.
// The guard's mutex is taken alone or before an address entry's mutex, and
// an entry's mutex may be taken while a session's mutex is held (session.mu
// before entry.mu, guard.mu before entry.mu). The ack ring's mutex is a
// leaf: nothing else is taken while it is held, so the store may report a
// record from any goroutine, even from within Validator.Submit.
package stratum
