package keys

import (
	"crypto/sha256"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
)

// Signed is one signature to check: the public key, the signed bytes and the
// signature.
type Signed struct{ Pub, Msg, Sig []byte }

// Prime checks the signatures of items in one batch and remembers the
// answers, so that Verify gives them from the cache. A batch costs about
// half as much per signature as checking them one by one (BenchmarkPrime),
// and it applies Verify's rules (CometBFT's ed25519 batch verifier, with the
// ZIP-215 rules its single check uses; weak keys left out), so priming never
// changes an answer. A weak or malformed key is left for Verify, which
// refuses it on its own.
func (c *VerifyCache) Prime(items []Signed) {
	var todo []Signed
	var ks [][32]byte
	for _, it := range items {
		if len(it.Pub) != cmted25519.PubKeySize || len(it.Sig) != cmted25519.SignatureSize || weakKey(it.Pub) {
			continue
		}
		k := cacheKey(it.Pub, it.Msg, it.Sig)
		if _, known := c.lookup(k); known {
			continue
		}
		todo, ks = append(todo, it), append(ks, k)
	}
	switch len(todo) {
	case 0:
		return
	case 1:
		c.add(ks[0], Verify(todo[0].Pub, todo[0].Msg, todo[0].Sig)) // its key is hashed already
		return
	}
	bv := cmted25519.NewBatchVerifier()
	for _, it := range todo {
		if err := bv.Add(cmted25519.PubKey(it.Pub), it.Msg, it.Sig); err != nil {
			return
		}
	}
	_, valid := bv.Verify()
	for i, ok := range valid {
		c.add(ks[i], ok)
	}
}

func cacheKey(pub, msg, sig []byte) [32]byte {
	h := sha256.New()
	h.Write(pub)
	h.Write(sig)
	h.Write(msg)
	var k [32]byte
	h.Sum(k[:0])
	return k
}
