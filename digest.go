package bbus

import (
	"crypto/sha256"
	"encoding/hex"
)

// NextTxDigest returns the digest of a record's transactions after the
// transaction with id txID: the hex SHA-256 of the previous digest followed
// by the id, as text (the digest before any transaction is ""). The ledger
// chains the ids of every transaction that changes a VM into VM.TxDigest,
// and a verifier chains those of a bundle the same way: the two agree only if
// the bundle holds every one of them, in order.
func NextTxDigest(digest, txID string) string {
	h := sha256.New()
	h.Write([]byte(digest))
	h.Write([]byte(txID))
	return hex.EncodeToString(h.Sum(nil))
}
