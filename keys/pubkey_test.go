package keys

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	"testing"

	"filippo.io/edwards25519"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
)

// torsionPoints returns the encodings of the eight points of small order,
// found as [l]P for points P of the full group.
func torsionPoints(t *testing.T) map[string]bool {
	one, _ := edwards25519.NewScalar().SetCanonicalBytes(append([]byte{1}, make([]byte, 31)...))
	minusOne := edwards25519.NewScalar().Negate(one) // l - 1
	found := map[string]bool{}
	for i := uint64(0); len(found) < 8 && i < 10000; i++ {
		h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, i))
		p, err := new(edwards25519.Point).SetBytes(h[:])
		if err != nil {
			continue
		}
		lp := new(edwards25519.Point).ScalarMult(minusOne, p)
		lp.Add(lp, p)
		found[string(lp.Bytes())] = true
	}
	if len(found) != 8 {
		t.Fatalf("found %d points of small order, want 8", len(found))
	}
	return found
}

// nonCanonical returns encodings with y >= p, or x = 0 and the sign bit set,
// that decode to points.
func nonCanonical() [][]byte {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	var out [][]byte
	le := func(n *big.Int, sign bool) []byte {
		b := n.FillBytes(make([]byte, 32))
		for i, j := 0, 31; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
		if sign {
			b[31] |= 0x80
		}
		return b
	}
	for y := int64(0); y < 19; y++ {
		for _, sign := range []bool{false, true} {
			b := le(new(big.Int).Add(p, big.NewInt(y)), sign)
			if _, err := new(edwards25519.Point).SetBytes(b); err == nil {
				out = append(out, b)
			}
		}
	}
	out = append(out, le(big.NewInt(1), true), le(new(big.Int).Sub(p, big.NewInt(1)), true)) // x = 0, sign set
	return out
}

// TestSmallOrderKeysRefused shows the forgery a small-order key allows under
// the consensus engine's rules, and that CheckPublicKey and Verify refuse
// every such key.
func TestSmallOrderKeysRefused(t *testing.T) {
	identity := append([]byte{1}, make([]byte, 31)...)
	forged := append(append([]byte{}, identity...), make([]byte, 32)...) // R = identity, S = 0
	if !cmted25519.PubKey(identity).VerifySignature([]byte("any message"), forged) {
		t.Fatal("the attack does not reproduce: the engine's ZIP-215 verification refuses R=identity S=0 under the identity key")
	}
	small := torsionPoints(t)
	if !small[string(identity)] {
		t.Fatal("the identity is not among the points of small order found")
	}
	for enc := range small {
		pub := []byte(enc)
		if CheckPublicKey(pub) == nil {
			t.Errorf("CheckPublicKey accepted the small-order point %x", pub)
		}
		if !weakKey(pub) {
			t.Errorf("weakKey missed the small-order point %x", pub)
		}
		if Verify(pub, []byte("any message"), forged) {
			t.Errorf("Verify accepted a forged signature under the small-order key %x", pub)
		}
	}
	canonicalInTable := 0
	for _, s := range smallOrder {
		if small[string(s[:])] {
			canonicalInTable++
		}
	}
	if canonicalInTable != 8 {
		t.Errorf("the table holds %d of the 8 canonical small-order encodings", canonicalInTable)
	}
	for _, pub := range nonCanonical() {
		if CheckPublicKey(pub) == nil {
			t.Errorf("CheckPublicKey accepted the non-canonical encoding %x", pub)
		}
		if !weakKey(pub) {
			t.Errorf("weakKey missed the non-canonical encoding %x", pub)
		}
	}
	if err := CheckPublicKey(make([]byte, 31)); err == nil {
		t.Error("CheckPublicKey accepted 31 bytes")
	}
	// Bytes that encode no point at all.
	notPoint, _ := hex.DecodeString("0200000000000000000000000000000000000000000000000000000000000000")
	if _, err := new(edwards25519.Point).SetBytes(notPoint); err == nil {
		t.Fatal("y=2 decodes; pick another example")
	}
	if CheckPublicKey(notPoint) == nil {
		t.Error("CheckPublicKey accepted bytes that encode no point")
	}
}

// TestWeakKeyAgreesWithCheckPublicKey compares the cheap table of Verify with
// the curve arithmetic of CheckPublicKey on real keys, on points with a
// torsion component (which are of large order, so allowed) and on random
// encodings of points.
func TestWeakKeyAgreesWithCheckPublicKey(t *testing.T) {
	msg := []byte("message")
	for i := 0; i < 200; i++ {
		seed := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
		k := ed25519.NewKeyFromSeed(seed[:])
		pub := k.Public().(ed25519.PublicKey)
		if err := CheckPublicKey(pub); err != nil {
			t.Fatalf("a real key is refused: %v", err)
		}
		if !Verify(pub, msg, ed25519.Sign(k, msg)) {
			t.Fatal("Verify refused a real signature")
		}
	}
	for i := uint64(0); i < 2000; i++ {
		h := sha256.Sum256(binary.LittleEndian.AppendUint64([]byte("point"), i))
		if _, err := new(edwards25519.Point).SetBytes(h[:]); err != nil {
			continue
		}
		if weak, refused := weakKey(h[:]), CheckPublicKey(h[:]) != nil; weak != refused {
			t.Errorf("%x: weakKey %v, CheckPublicKey refuses %v", h, weak, refused)
		}
	}
}
