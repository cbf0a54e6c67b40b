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
	if n := len(c.good.cur) + len(c.good.prev); n > 8 {
		t.Fatalf("the cache holds %d successes, more than twice its size", n)
	}
	if n := len(c.bad.cur) + len(c.bad.prev); n > 8 {
		t.Fatalf("the cache holds %d failures, more than twice its size", n)
	}
}

// TestFailuresDoNotPushSuccessesOut: a flood of bad signatures is
// remembered apart from the good ones, which stay answered from the cache.
func TestFailuresDoNotPushSuccessesOut(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	c := NewVerifyCache(4)
	msg := []byte("the good one")
	sig := ed25519.Sign(priv, msg)
	if !c.Verify(pub, msg, sig) {
		t.Fatal("a valid signature does not verify")
	}
	for i := 0; i < 100; i++ {
		bad := ed25519.Sign(priv, []byte(fmt.Sprintf("other %d", i)))
		if c.Verify(pub, msg, bad) {
			t.Fatalf("bad signature %d verifies", i)
		}
		if ok, known := c.lookup(cacheKey(pub, msg, bad)); ok || !known {
			t.Fatalf("bad signature %d: cached as %v, known %v", i, ok, known)
		}
	}
	if ok, known := c.lookup(cacheKey(pub, msg, sig)); !ok || !known {
		t.Fatal("failures pushed the success out of the cache")
	}
}
