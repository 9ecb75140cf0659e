// Package pool is Tarbela's side of the Bitcoin node: it talks JSON-RPC to
// Bitcoin Core or btcd (with a user and password, or Core's cookie file,
// read again when Core restarts with a new cookie), keeps the current block template (long polling,
// btcd's websocket notifyblocks, Core's ZMQ hashblock and a best-block poll),
// turns templates into Stratum jobs (coinbase with BIP34 height, pool tag,
// extranonce space, payout outputs and witness commitment; merkle branch),
// authorizes miner usernames against the configured network, and assembles
// and submits solved blocks.
//
// It publishes read-only share.Job values through share.Work and satisfies
// share.BlockSink; it never parses Stratum lines.
package pool
