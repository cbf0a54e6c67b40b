package keys

import "sync"

// VerifyCache remembers signatures that verified, so that a node checks each
// transaction's signature once: when CheckTx admits it to the mempool, and not
// again when FinalizeBlock applies it. A hit needs the same public key, message
// and signature (their SHA-256), so the answer is the one Verify would give:
// only successes are remembered, and a miss verifies. It holds at most about
// 2*size entries and is safe for concurrent use.
type VerifyCache struct {
	mu        sync.Mutex
	size      int
	cur, prev map[[32]byte]struct{}
}

// NewVerifyCache returns a cache that holds the last size to 2*size successes.
func NewVerifyCache(size int) *VerifyCache {
	return &VerifyCache{size: size, cur: make(map[[32]byte]struct{}, size)}
}

// Verify is Verify, answered from the cache when it can be.
func (c *VerifyCache) Verify(pub, msg, sig []byte) bool {
	if len(pub) != 32 || len(sig) != 64 {
		return Verify(pub, msg, sig)
	}
	k := cacheKey(pub, msg, sig)
	if c.has(k) {
		return true
	}
	if !Verify(pub, msg, sig) {
		return false
	}
	c.add(k)
	return true
}

func (c *VerifyCache) has(k [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, hit := c.cur[k]
	if !hit {
		_, hit = c.prev[k]
	}
	return hit
}

func (c *VerifyCache) add(k [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cur) >= c.size {
		c.prev, c.cur = c.cur, make(map[[32]byte]struct{}, c.size)
	}
	c.cur[k] = struct{}{}
}
