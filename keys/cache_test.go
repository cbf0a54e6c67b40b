package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
)

func TestVerifyCacheAnswersAsVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	c := NewVerifyCache(4)
	for i := 0; i < 20; i++ {
		msg := []byte(fmt.Sprintf("message %d", i%6))
		sig := ed25519.Sign(priv, msg)
		for round := 0; round < 2; round++ { // the second round may be answered from the cache
			if !c.Verify(pub, msg, sig) {
				t.Fatalf("message %d, round %d: a valid signature does not verify", i, round)
			}
			bad := append([]byte{}, sig...)
			bad[10] ^= 1
			if c.Verify(pub, msg, bad) || c.Verify(other, msg, sig) || c.Verify(pub, append(msg, '!'), sig) {
				t.Fatalf("message %d, round %d: a cached success verifies another signature, key or message", i, round)
			}
			if c.Verify(pub[:31], msg, sig) || c.Verify(pub, msg, sig[:63]) {
				t.Fatal("a short key or signature verifies")
			}
		}
	}
	if n := len(c.cur) + len(c.prev); n > 8 {
		t.Fatalf("the cache holds %d entries, more than twice its size", n)
	}
}
