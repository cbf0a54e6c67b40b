package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
)

func signedBatch(tb testing.TB, n int) []Signed {
	tb.Helper()
	var items []Signed
	for i := 0; i < n; i++ {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		msg := []byte(fmt.Sprintf("transaction %d", i))
		items = append(items, Signed{Pub: pub, Msg: msg, Sig: ed25519.Sign(priv, msg)})
	}
	return items
}

// TestPrimeAnswersAsVerify: a batch with good signatures, a bad one, a
// signature under a small-order key (which the engine's rules accept, and
// Verify refuses) and malformed ones primes the cache with the good ones as
// good and the bad one as bad, and Verify's answers are the same as without
// priming.
func TestPrimeAnswersAsVerify(t *testing.T) {
	good := signedBatch(t, 20)
	bad := good[3]
	bad.Sig = append([]byte{}, bad.Sig...)
	bad.Sig[5] ^= 1
	identity := append([]byte{1}, make([]byte, 31)...)
	forged := Signed{Pub: identity, Msg: []byte("any message"), Sig: append(append([]byte{}, identity...), make([]byte, 32)...)}
	short := Signed{Pub: good[0].Pub[:31], Msg: good[0].Msg, Sig: good[0].Sig}
	c := NewVerifyCache(100)
	c.Prime(append(append([]Signed{}, good...), bad, forged, short))
	for i, it := range good {
		if ok, known := c.lookup(cacheKey(it.Pub, it.Msg, it.Sig)); !ok || !known {
			t.Errorf("good signature %d was not remembered as good", i)
		}
		if !c.Verify(it.Pub, it.Msg, it.Sig) {
			t.Errorf("good signature %d does not verify", i)
		}
	}
	for name, it := range map[string]Signed{"bad": bad, "small-order key": forged, "short key": short} {
		if ok, _ := c.lookup(cacheKey(it.Pub, it.Msg, it.Sig)); ok {
			t.Errorf("the %s signature was remembered as good", name)
		}
		if c.Verify(it.Pub, it.Msg, it.Sig) {
			t.Errorf("the %s signature verifies after priming", name)
		}
	}
	// A batch of one, and a batch of what is already known.
	one := signedBatch(t, 1)
	c.Prime(one)
	c.Prime(good)
	if ok, _ := c.lookup(cacheKey(one[0].Pub, one[0].Msg, one[0].Sig)); !ok {
		t.Error("a batch of one was not remembered")
	}
	// The bad signature of the batch is remembered as bad.
	if ok, known := c.lookup(cacheKey(bad.Pub, bad.Msg, bad.Sig)); ok || !known {
		t.Errorf("the bad signature: cached as %v, known %v", ok, known)
	}
}

// BenchmarkPrime: a node's check of 64 signatures in one batch, against one
// by one. Run:
//
//	go test -run '^$' -bench Prime ./keys
func BenchmarkPrime(b *testing.B) {
	items := signedBatch(b, 64)
	b.Run("batch-64", func(b *testing.B) {
		for b.Loop() {
			NewVerifyCache(100).Prime(items)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/signature")
	})
	b.Run("one-by-one", func(b *testing.B) {
		for b.Loop() {
			c := NewVerifyCache(100)
			for _, it := range items {
				c.Verify(it.Pub, it.Msg, it.Sig)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/signature")
	})
}
