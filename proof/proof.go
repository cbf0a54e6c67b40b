// Package proof verifies, with no node, that a key of the bbus ledger's state
// held a value, or was absent, at a height: against the app hash that the
// signed header of the next height carries.
//
// The state is committed by an IAVL tree (github.com/cosmos/iavl) whose leaves
// map each ledger key to the SHA-256 of its value; the root is the app hash. A
// proof is an ICS23 CommitmentProof (github.com/cosmos/ics23) in its protobuf
// encoding, checked with ICS23's own verifier under its IAVL proof spec.
package proof

import (
	"crypto/sha256"
	"errors"
	"fmt"

	ics23 "github.com/cosmos/ics23/go"

	"github.com/bbusdev/bbus"
)

// Verify reports whether p proves that p.Key holds p.Value (or, with a nil
// Value, that p.Key is absent) in the state whose app hash is appHash. It
// returns nil only if the proof holds.
func Verify(appHash []byte, p *bbus.Proof) error {
	if len(p.Key) == 0 {
		return errors.New("proof: no key")
	}
	if len(appHash) == 0 {
		return errors.New("proof: no app hash")
	}
	var cp ics23.CommitmentProof
	if err := cp.Unmarshal(p.Proof); err != nil {
		return fmt.Errorf("proof: decode: %w", err)
	}
	if p.Value == nil {
		if cp.GetNonexist() == nil {
			return fmt.Errorf("proof: key %q: not a proof of absence", p.Key)
		}
		if !ics23.VerifyNonMembership(ics23.IavlSpec, appHash, &cp, p.Key) {
			return fmt.Errorf("proof: key %q: the proof of absence does not verify against app hash %X", p.Key, appHash)
		}
		return nil
	}
	if cp.GetExist() == nil {
		return fmt.Errorf("proof: key %q: not a proof of presence", p.Key)
	}
	d := sha256.Sum256(p.Value)
	if !ics23.VerifyMembership(ics23.IavlSpec, appHash, &cp, p.Key, d[:]) {
		return fmt.Errorf("proof: key %q: the value and proof do not verify against app hash %X", p.Key, appHash)
	}
	return nil
}
