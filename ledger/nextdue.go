package ledger

import (
	"encoding/binary"
	"time"

	"github.com/bbusdev/bbus/kv"
)

// NextDue returns the earliest time at which BeginBlock has something to do
// that a user sees: a migration proposal that lapses, an invitation or an
// application that expires, an agreement proposal that expires. Each of these
// happens only in a block, so a node makes one when the time comes (the chain
// makes no empty blocks). It reads the first entry of each time-ordered queue
// (the lapse queue from its cursor), never scanning one. Forgetting expired
// transaction ids is left out: nobody sees it, it waits for the next block.
func NextDue(r kv.Reader) (time.Time, bool) {
	var due time.Time
	found := false
	note := func(t time.Time) {
		if !found || t.Before(due) {
			due, found = t, true
		}
	}
	// first returns the 8 bytes after prefix of the first key under prefix
	// from start.
	first := func(prefix, start []byte) (uint64, bool) {
		var v uint64
		ok := false
		r.Iterate(prefix, start, func(k, _ []byte) bool {
			if len(k) >= len(prefix)+8 {
				v, ok = binary.BigEndian.Uint64(k[len(prefix):]), true
			}
			return false
		})
		return v, ok
	}
	if ns, ok := first(prefixLapse, r.Get(keyLapseCursor)); ok {
		note(time.Unix(0, int64(ns)).UTC())
	}
	for _, p := range [][]byte{prefixInviteExpiry, prefixPendingExpiry} {
		if ns, ok := first(p, nil); ok {
			note(time.Unix(0, int64(ns)).UTC())
		}
	}
	if s, ok := first(prefixProposalExpiry, nil); ok {
		note(time.Unix(int64(s), 0).UTC())
	}
	return due, found
}
