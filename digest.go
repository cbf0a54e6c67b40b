package bbus

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// NextTxDigest returns the digest of a record's transactions after one more:
// the transaction stamped s (its id, block height and block time). It is the
// hex SHA-256 of the previous digest ("" before any transaction), s.Tx,
// s.Height, and s.At's Unix seconds and nanoseconds, each string preceded by
// its length and each number in 8 bytes, big-endian. The ledger chains every
// transaction that changes a VM into VM.TxDigest, and a verifier chains those
// of a bundle the same way: the two agree only if the bundle holds every one
// of them, in order, each at the height and time of its block.
func NextTxDigest(digest string, s Stamp) string {
	h := sha256.New()
	var n [8]byte
	num := func(v uint64) {
		binary.BigEndian.PutUint64(n[:], v)
		h.Write(n[:])
	}
	str := func(v string) {
		num(uint64(len(v)))
		h.Write([]byte(v))
	}
	str(digest)
	str(s.Tx)
	num(uint64(s.Height))
	num(uint64(s.At.Unix()))
	num(uint64(s.At.Nanosecond()))
	return hex.EncodeToString(h.Sum(nil))
}
