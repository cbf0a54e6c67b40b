package chain

import "github.com/bbusdev/bbus"

// codes maps ABCI result codes (the index) to bbus error codes and back. Code 0
// is success. The numbers are part of the chain's history: append, never reorder.
var codes = []string{
	"",
	bbus.EMALFORMED,
	bbus.EINVALID,
	bbus.EWRONGCHAIN,
	bbus.EBADSIG,
	bbus.EEXPIRED,
	bbus.EREPLAY,
	bbus.EUNKNOWNSIGNER,
	bbus.EUNAUTHORIZED,
	bbus.ENOTMEMBER,
	bbus.ENOTFOUND,
	bbus.EEXISTS,
	bbus.ECAPACITY,
	bbus.ESTATE,
	bbus.EOPEN,
	bbus.ELAPSED,
	bbus.ETOOLARGE,
	bbus.EINTERNAL,
	bbus.ENOTINVITED,
}

// ABCICode returns the ABCI result code of a bbus error code.
func ABCICode(code string) uint32 {
	for i, c := range codes {
		if c == code {
			return uint32(i)
		}
	}
	return ABCICode(bbus.EINTERNAL)
}

// CodeOf returns the bbus error code of an ABCI result code.
func CodeOf(n uint32) string {
	if int(n) < len(codes) {
		return codes[n]
	}
	return bbus.EINTERNAL
}
