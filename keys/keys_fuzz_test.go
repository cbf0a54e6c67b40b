package keys

import (
	"crypto/ed25519"
	"crypto/sha256"
	"testing"
)

// FuzzVerify checks the signature rules on arbitrary keys, messages and
// signatures: no panic; a signature made with the key verifies; the same
// signature fails for another message or with any one bit of it flipped.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("seed"), []byte("message"), uint16(0), []byte{})
	f.Add([]byte{}, []byte{}, uint16(511), make([]byte, 64))
	f.Fuzz(func(t *testing.T, seed, msg []byte, flip uint16, junk []byte) {
		s := sha256.Sum256(seed)
		key := ed25519.NewKeyFromSeed(s[:])
		pub := key.Public().(ed25519.PublicKey)
		sig := ed25519.Sign(key, msg)
		if !Verify(pub, msg, sig) {
			t.Fatal("a valid signature does not verify")
		}
		if Verify(pub, append(append([]byte{}, msg...), 0), sig) {
			t.Fatal("a signature verifies another message")
		}
		bad := append([]byte{}, sig...)
		bad[int(flip/8)%len(bad)] ^= 1 << (flip % 8)
		if Verify(pub, msg, bad) {
			t.Fatalf("a signature with bit %d flipped verifies", flip)
		}
		Verify(junk, msg, junk) // arbitrary keys and signatures must not panic
		Verify(pub, msg, junk)
	})
}
