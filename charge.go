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
func Share(amount, mpct int64) int64 { return MulDiv(amount, mpct, 100_000) }

// MulDiv returns a * b / c rounded toward zero, computed without overflow; the
// result saturates at the int64 limits. c must not be zero.
func MulDiv(a, b, c int64) int64 {
	v := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	v.Quo(v, big.NewInt(c))
	switch {
	case v.IsInt64():
		return v.Int64()
	case v.Sign() > 0:
		return 1<<63 - 1
	default:
		return -1 << 63
	}
}
