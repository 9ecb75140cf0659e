// Package cpuminer is Tarbela's Stratum v1 CPU miner: a client that connects to
// any Stratum v1 pool, negotiates BIP310 version rolling when the pool offers
// it, mines on every configured thread with the hasher package's nonce
// scanner, submits the shares that meet the pool's difficulty and counts the
// pool's verdicts. The tarbela-miner command is a thin wrapper around it; the
// devnet and tests run miners in-process through New and Run.
//
// Work split. Every job the pool sends becomes one work unit shared by all
// threads. A thread takes the next extranonce2 value from the unit's atomic
// counter, so no two threads ever build the same coinbase, computes that
// coinbase's merkle root once, and then scans the header in chunks of
// ChunkSize nonces. When version rolling was negotiated the version bits
// change with every chunk (the first chunk keeps the job's own version), so
// one coinbase covers 2^32 nonces times every value of the mask. Between
// chunks a thread checks whether a newer job arrived, so new work is picked
// up within one chunk (a few milliseconds with the optimized scanner, tens of
// milliseconds with the pure Go one). A thread whose unit has no extranonce2
// values left (only possible with a tiny extranonce2) waits for the next job
// rather than repeat a share.
//
// Protocol. A session sends mining.configure (when version rolling is
// enabled), mining.subscribe with the user agent "tarbela-miner/0.1",
// mining.suggest_difficulty (when set) and mining.authorize, then follows the
// pool's mining.set_difficulty, mining.notify, mining.set_extranonce,
// mining.set_version_mask and client.reconnect. A new difficulty applies to
// the jobs that follow it; a higher one also tightens the current job at once
// (a share at a harder target is valid at the easier one), a lower one never
// loosens a job that was sent before it, since the pool judges that job at
// its old difficulty. A clean_jobs notify drops the shares still queued for
// older jobs. Replies are matched to submits by request id. A lost connection
// is retried with exponential backoff; a rejected authorization ends Run with
// an *AuthError.
//
// TLS. A stratum+ssl:// (or stratum+tls://) URL speaks the same protocol
// inside TLS 1.2 or newer, checking the pool's certificate for the URL's
// host against the system's roots, or against Options.TLSCAFile, or not at
// all with Options.TLSInsecure. A certificate that does not verify ends Run
// with a *CertError that says how to trust it: retrying cannot help.
//
// Robustness. Lines from the pool are bounded (MaxLineSize), malformed
// messages are logged and skipped, and nothing the pool sends can make the
// miner panic; at worst it drops the connection and reconnects.
package cpuminer
