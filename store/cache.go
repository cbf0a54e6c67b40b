package store

import (
	"sync"

	"github.com/bbusdev/bbus/kv"
)

// readCache keeps values of the committed state, so that what every
// transaction reads (the chain's id and parameters, the signers' records) and
// what the last blocks wrote (the records the next steps of a migration read)
// is not looked up in goleveldb again. Commit puts its writes in before it
// returns, so the cache never answers with a value older than the last
// commit; a read that raced a commit is not kept (gen).
type readCache struct {
	mu  sync.RWMutex
	gen uint64
	m   map[string][]byte
}

// readCacheSize bounds the entries; a full cache starts over.
const readCacheSize = 32768

func (c *readCache) get(key []byte, read func([]byte) []byte) []byte {
	c.mu.RLock()
	v, ok := c.m[string(key)]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return v
	}
	v = read(key)
	if v == nil {
		return nil // absent keys are mostly new ones (replay checks): not worth keeping
	}
	v = v[:len(v):len(v)] // an append by a caller copies
	c.mu.Lock()
	if c.gen == gen {
		if c.m == nil || len(c.m) >= readCacheSize {
			c.m = make(map[string][]byte, readCacheSize/4)
		}
		c.m[string(key)] = v
	}
	c.mu.Unlock()
	return v
}

// commit makes the cache hold a commit's writes: the state's new values (the
// next blocks read what this one wrote: a VM registered, then proposed to
// migrate, ...) and no value of the other keys written.
func (c *readCache) commit(state []kv.Change, other ...[]kv.Change) {
	c.mu.Lock()
	c.gen++
	if c.m == nil || len(c.m)+len(state) > readCacheSize {
		c.m = make(map[string][]byte, readCacheSize/4)
	}
	for _, ch := range state {
		if ch.Value == nil {
			delete(c.m, string(ch.Key))
		} else if len(c.m) < readCacheSize {
			c.m[string(ch.Key)] = ch.Value[:len(ch.Value):len(ch.Value)]
		} else {
			delete(c.m, string(ch.Key))
		}
	}
	for _, cs := range other {
		for _, ch := range cs {
			delete(c.m, string(ch.Key))
		}
	}
	c.mu.Unlock()
}
