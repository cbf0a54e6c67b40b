package keys

import "sync"

// VerifyCache remembers signatures that verified, so that a node checks each
// transaction's signature once: when CheckTx admits it to the mempool, and not
// again when FinalizeBlock applies it. A hit needs the same public key, message
// and signature (their SHA-256), so the answer is the one Verify would give. It
// holds at most about 2*size successes and, apart, 2*size failures (so that
// failures, which anyone who can submit may send, never push a success out),
// and is safe for concurrent use.
type VerifyCache struct {
	mu        sync.Mutex
	size      int
	good, bad rotating
}

// rotating is a set of at most 2*size keys: the current half and the last.
type rotating struct{ cur, prev map[[32]byte]struct{} }

func (r *rotating) has(k [32]byte) bool {
	_, hit := r.cur[k]
	if !hit {
		_, hit = r.prev[k]
	}
	return hit
}

func (r *rotating) add(k [32]byte, size int) {
	if r.cur == nil || len(r.cur) >= size {
		r.prev, r.cur = r.cur, make(map[[32]byte]struct{}, size)
	}
	r.cur[k] = struct{}{}
}

// NewVerifyCache returns a cache that holds the last size to 2*size successes
// (and as many failures).
func NewVerifyCache(size int) *VerifyCache {
	return &VerifyCache{size: max(size, 1)}
}

// Verify is Verify, answered from the cache when it can be.
func (c *VerifyCache) Verify(pub, msg, sig []byte) bool {
	if len(pub) != 32 || len(sig) != 64 {
		return Verify(pub, msg, sig)
	}
	k := cacheKey(pub, msg, sig)
	if ok, known := c.lookup(k); known {
		return ok
	}
	ok := Verify(pub, msg, sig)
	c.add(k, ok)
	return ok
}

// lookup returns what the cache knows of the signature with key k.
func (c *VerifyCache) lookup(k [32]byte) (ok, known bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.good.has(k) {
		return true, true
	}
	return false, c.bad.has(k)
}

func (c *VerifyCache) add(k [32]byte, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok {
		c.good.add(k, c.size)
	} else {
		c.bad.add(k, c.size)
	}
}
