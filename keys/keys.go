// Package keys holds the ed25519 keys a bbus home signs with, and verifies
// signatures with the rules of the consensus engine (CometBFT's ed25519, ZIP-215),
// so that a signature valid for bbus is valid for every validator.
package keys

import (
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
)

// Verify reports whether sig is pub's ed25519 signature of msg, by CometBFT's
// rules, and refuses keys CheckPublicKey refuses (non-canonical encodings and
// points of small order, under which ZIP-215 accepts forged signatures).
func Verify(pub, msg, sig []byte) bool {
	if len(pub) != cmted25519.PubKeySize || weakKey(pub) {
		return false
	}
	return cmted25519.PubKey(pub).VerifySignature(msg, sig)
}
