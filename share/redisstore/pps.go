package redisstore

import "github.com/tarbela-pool/tarbela/share"

// subsidy is the block subsidy in satoshis at height: 50 BTC, halved every
// interval blocks, zero after 64 halvings.
func subsidy(height, interval int64) int64 {
	if height < 0 || interval <= 0 {
		return 0
	}
	h := height / interval
	if h >= 64 {
		return 0
	}
	return 50_0000_0000 >> h
}

// worth is what a share earns under PPS or FPPS, in satoshis: d / D × v,
// d its credited difficulty, D its job's network difficulty and v the
// block subsidy at the job's height (pps) or the job's coinbase value
// (fpps). A share whose D is unknown (journaled by a release that did not
// keep it) is worth 0.
func worth(r *share.Record, o *Options) float64 {
	if !(r.NetDifficulty > 0) {
		return 0
	}
	v := r.CoinbaseValue
	if o.Scheme == "pps" {
		v = subsidy(r.Height, o.SubsidyHalvingInterval)
	}
	return r.Difficulty / r.NetDifficulty * float64(v)
}
