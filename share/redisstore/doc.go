// Package redisstore records accepted shares and found blocks in Redis for
// payout accounting. It implements share.Store.
//
// AddShare never waits on Redis: it appends the share to an in-memory batch
// under a mutex and returns. One writer goroutine sends sealed batches (by
// count, BatchSize, or by age, BatchInterval) as one Lua script call per
// batch, several batches pipelined in one round trip when they queue up. The
// script aggregates nothing itself: the writer sums each batch per worker
// and account and sends each name once; the script adds the sums with one
// HMGET and one HSET per hash and 500 names, so a batch costs Redis about
// ten commands whatever its size.
//
// Each batch carries a unique id (node, process epoch, counter); the script
// applies a batch at most once (SET NX on the id, kept for DedupeTTL), so a
// batch that is sent again after a lost reply, or replayed from the journal,
// is recorded once.
//
// When Redis does not answer and a journal is configured, batches go to a
// local append-only file (length- and CRC-framed records, fsynced per write)
// and are replayed in order when Redis returns; new batches queue behind the
// journal until it is drained so order is kept.
//
// The acknowledgement rule: a share handed to AddShare with an Acker
// (share.Record.Ack) is reported to it once its batch reached Redis or the
// fsynced journal (or was given up at Stop), from the writer goroutine; the
// Stratum session answers the miner "true" only then, so every share a miner
// saw accepted survives a crash of this process. AddShareWait is the same
// for callers that can block. See docs/redis.md for the rule's latency cost.
//
// The key schema is documented in docs/redis.md. All keys carry the hash tag
// {acct}, so every multi-key script runs on one Redis Cluster slot.
package redisstore
