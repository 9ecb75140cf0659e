// Package ledgerscale drives the real share store (share/redisstore) on a
// real redis-server at the programme's scale — 570,000 distinct workers in
// 200 accounts at 57,000 shares/s — on a simulated clock, so that a day of
// the ledger passes in minutes, and reports Redis's memory over simulated
// time, its CPU (INFO cpu), the batches' latency and the shares/s it took.
// `tarbela-bench ledger-scale` and scripts/ledger-scale.sh run it; its test
// runs a small pool through several lifetimes of the longest hashrate tier
// and checks that the data set is flat once that tier is full.
//
// The store's records carry their own time, and the batch script expires
// hashrate buckets and last-share times by the newest share time it has
// recorded (docs/redis.md, "Hashrate tiers"), so simulated time is just
// the records' Time. Memory depends on which (worker, bucket) pairs exist,
// not on how many shares made them: a run may send each worker one share
// every Period of simulated time (at least one per fine bucket, so every
// worker is in every bucket of every tier) with the difficulty scaled so
// that the work is the programme's, which lets a day pass with 570,000 ×
// 288 shares instead of 4.9 billion. Redis's cost per share does not change
// with the thinning: a batch of 512 shares names 512 distinct workers
// either way.
package ledgerscale
