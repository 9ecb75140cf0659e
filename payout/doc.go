// Package payout is Tarbela's payout job: the batch run that turns the
// blocks the pool found into miners' balances and pays those balances on
// chain (docs/payout.md is its contract). It holds the node calls the job
// needs (Chain: the tip, block hashes and headers, raw blocks, fee rates,
// broadcasting a transaction and finding it again in the mempool or a
// block, unspent outputs), each answered the same way by Bitcoin Core and
// btcd, with typed errors where the job decides on the node's answer
// (BroadcastError, ErrAboveTip, ErrUnknownBlock, ErrScanLimit); the
// unlocker's verdict on a block the pool found (Classify: pending with its
// confirmations, mature once its coinbase can be spent, orphaned, or not
// yet known to a node that is behind); and the money rules of the schemes:
// Split of a block's net reward among accounts by exact rationals,
// PoolFee, BlockCredits for pplns, prop and solo (pps and fpps blocks fund
// the reserve instead), Subsidy, and PPSCredit, which moves whole satoshis
// out of the PPS debt and keeps the fractions. Amounts are integer
// satoshis from the split on. The package never runs in the share path;
// the ledger itself is written by share/redisstore, and transactions are
// built and signed by payout/wallet.
package payout
