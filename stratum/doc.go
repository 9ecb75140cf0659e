// Package stratum is Tarbela's Stratum v1 server: the TCP listener (and
// optionally a second, TLS one: stratum+ssl://), one session per miner
// connection, the line codec, method dispatch, per-session variable
// difficulty and extranonce1 allocation.
//
// Each connection has one reading goroutine with a hard line-length cap and
// an idle deadline. It waits for the socket without holding a buffer (read
// buffers are pooled and taken only when data is there) and hands over to a
// fresh goroutine when handling a request grew its stack, so an idle miner
// costs one small parked goroutine and its session (see conn.go). There is
// no writing goroutine per connection: a message is written at once with a
// non-blocking write, and only what the socket does not take is queued for
// a flusher goroutine that exists while the queue is not empty and writes
// under a write deadline. A miner whose queue reaches SendQueue messages,
// or whose write times out, is dropped as a slow consumer, so a stuck socket
// never delays a notify to anyone else: Server.Publish never waits on a
// socket, and spreads a new job's notifies over GOMAXPROCS goroutines.
//
// Stratum over TLS (Options.TLSListen) shares all of this: the same
// sessions, limits, bans and extranonce1s. The TLS handshake runs on the
// session's reader under the handshake timeout, and an idle TLS miner's
// reader also waits without a buffer; its writes all go through a flusher,
// since a TLS record cannot be half written without blocking (see tls.go).
//
// Jobs are named per session: every mining.notify a session sends gets a
// short session-local id bound to a share.Assignment that carries the
// difficulty in force when it was sent, so a late share is judged by the
// rules it was mined under. A session remembers its last eight notifies
// (maxJobs): a share for an older id is answered "Job not found", one for a
// job sent before a clean job "stale". All share judging is done by share.Validator;
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
// from bans. IPv4 addresses count one by one; IPv6 addresses are grouped
// by their IPv6Prefix-bit prefix (a /64 by default, what one subscriber is
// given), so rotating addresses inside it neither escapes the limit nor a
// ban.
//
// Admin (admin.go): ListConnections describes this server's connections
// (workers, user agent from mining.subscribe, difficulty, a hashrate
// estimate from the vardiff window, extranonce1); KickWorker and
// KickAddress close connections; Ban, Unban and Bans manage address bans
// by hand, keyed like the flood bans (IPv4 address, IPv6 prefix) and never
// for AllowIPs; SetWorkerDifficulty fixes a worker's connections'
// difficulty as a d=N password does. The HTTP API reaches them through an
// interface that internal/daemon wires, never a session directly.
//
// Acknowledgement: an accepted share is answered "true" only when the share
// store reports its record durable (share.Acker), so that every share a
// miner saw accepted survives a crash of the pool. The reader does not wait
// for it: the request id is parked in a per-session ring and a flusher
// answers when the store reports, so a connection keeps reading while up to
// maxPendingAcks shares wait (beyond that its reader pauses). A share the
// store gives up is answered with error 20 (share.ErrNotRecorded).
// Refusals of the pool's own making (share.Reason.PoolFault) never count
// toward the flood rule.
//
// Duplicates: every assignment of a session shares one duplicate memory
// (share.Seen), the memory of its extranonce1, keyed by header hash; so a
// share resent under the new job id that a difficulty change sends, or
// under a refreshed job of the same content, is a duplicate. When the
// session ends the allocator keeps the memory with the extranonce1 (when
// it holds shares) and hands it to the next holder, so a miner that
// resumes its session cannot have the same shares credited again; a clean
// job (new tip) empties it, since every earlier job is stale then.
//
// Locking: a session's mutex guards its protocol state and is held while a
// request is handled and while a notify is queued, which keeps the order of
// mining.set_difficulty and mining.notify on the wire. Server.mu guards the
// session set and is never held while a session's mutex is taken; the
// current work is an atomic pointer; the extranonce1 allocator has its own
// mutex, which may be taken while a session's mutex is held (session.mu
// before alloc.mu). Server.mu may be taken while a session's mutex is held
// (a ban closes the address's other sessions): session.mu before Server.mu.
// The outbox mutex (a session's write side) is taken after the session's
// mutex, never before it, and never together with the ack ring's. The
// guard's mutex is taken alone or before an address entry's mutex, and
// an entry's mutex may be taken while a session's mutex is held (session.mu
// before entry.mu, guard.mu before entry.mu). The ack ring's mutex is a
// leaf: nothing else is taken while it is held, so the store may report a
// record from any goroutine, even from within Validator.Submit.
package stratum
