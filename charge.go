package bbus

import "math/big"

func charge(seconds int64, r Resources, pv, pg int64) (int64, bool) {
	rate := new(big.Int).Mul(big.NewInt(pv), big.NewInt(r.CPU))
	rate.Mul(rate, big.NewInt(1024))
	rate.Add(rate, new(big.Int).Mul(big.NewInt(pg), big.NewInt(r.MemMiB)))
	total := rate.Mul(rate, big.NewInt(seconds))
	total.Quo(total, big.NewInt(3600*1024))
	if !total.IsInt64() {
		return 0, false
	}
	return total.Int64(), true
}

// Share returns floor(amount * mpct / 100000): a percentage, in thousandths of
// a percent, of an amount.
func Share(amount, mpct int64) int64 {
	v := new(big.Int).Mul(big.NewInt(amount), big.NewInt(mpct))
	return v.Quo(v, big.NewInt(100_000)).Int64()
}
