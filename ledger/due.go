package ledger

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/bbusdev/bbus/kv"
)

// The queues BeginBlock works through (migration lapses, invitations and
// applications that lapse, agreement proposals that expire, transaction ids
// to forget) share one gate: keyNextDue holds a time (Unix nanoseconds, big
// endian) before which none of them has anything due. It is a lower bound:
// each new entry lowers it to the entry's time, and only a BeginBlock that
// reaches it works through the queues, then sets it to their earliest entry.
// So a block with nothing due reads one key, whatever the queues or the
// ledger's history hold, and writes nothing.
var keyNextDue = []byte("meta/next_due")

// never is the gate of queues that are all empty.
const never = uint64(1<<63 - 1)

// dueNanos is t in Unix nanoseconds, never for a time past what they hold.
func dueNanos(t time.Time) uint64 {
	if t.Year() >= 2262 {
		return never
	}
	if t.Unix() < 0 {
		return 0
	}
	return uint64(t.UnixNano())
}

// dueSecond is when an entry timed in whole Unix seconds s is due: at s, or
// (after true) once s has passed, at s+1.
func dueSecond(s uint64, after bool) uint64 {
	if after {
		s++
	}
	if s >= never/1_000_000_000 {
		return never
	}
	return s * 1_000_000_000
}

// noteDue lowers the gate to at (Unix nanoseconds) for an entry just queued.
func noteDue(st kv.Store, at uint64) {
	if v := st.Get(keyNextDue); v == nil || binary.BigEndian.Uint64(v) <= at {
		return // an absent gate makes the next BeginBlock look, and set it
	}
	st.Set(keyNextDue, uint64be(at))
}

// nothingDue reports whether the gate says no queue has anything due at t.
func nothingDue(st kv.Reader, t time.Time) bool {
	v := st.Get(keyNextDue)
	return v != nil && binary.BigEndian.Uint64(v) > dueNanos(t)
}

// setNextDue sets the gate to the earliest entry of the queues, each read
// from its cursor (or its front): a few seeks, in a block that had work.
func setNextDue(st kv.Store) {
	next := never
	first := func(prefix, cursorKey []byte, due func(k []byte) uint64) {
		start := []byte(nil)
		if cursorKey != nil {
			start = st.Get(cursorKey)
		}
		st.Iterate(prefix, start, func(k, _ []byte) bool {
			if len(k) >= len(prefix)+8 {
				next = min(next, due(k[len(prefix):len(prefix)+8]))
			}
			return false
		})
	}
	nanos := func(b []byte) uint64 { return min(binary.BigEndian.Uint64(b), never) }
	first(prefixLapse, keyLapseCursor, nanos)
	first(prefixInviteExpiry, nil, nanos)
	first(prefixPendingExpiry, nil, nanos)
	first(prefixProposalExpiry, nil, func(b []byte) uint64 { return dueSecond(binary.BigEndian.Uint64(b), false) })
	first(prefixReplayChunk, keyReplayCursor, func(b []byte) uint64 { return dueSecond(binary.BigEndian.Uint64(b), true) })
	if v := st.Get(keyNextDue); v == nil || !bytes.Equal(v, uint64be(next)) {
		st.Set(keyNextDue, uint64be(next))
	}
}
