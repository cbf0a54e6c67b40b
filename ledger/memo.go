package ledger

import (
	"slices"
	"sync"

	"github.com/bbusdev/bbus"
)

// Nearly every transaction reads its signer's cloud (or oracle) record and the
// parameters, several times: the node to check its signature ahead of CheckTx,
// CheckTx, then the rules in the block. Decoding them was about a fifth of the
// ledger's time in a block. records remembers the last decodings of those
// three types by their exact bytes, and hands out deep copies, so a caller
// gets what decoding the bytes gives and may change it freely. It changes no
// result: it is filled only by decoding (getJSON), never from a value being
// written, whose encoding may decode to a value that differs from it (a nil
// slice for an empty one), so what it holds for some bytes is their decoding,
// whichever goroutine or block read them first (memo_test.go checks that a
// copy shares no memory with what is remembered).
var records = newRecordMemo(64)

// recordMemo maps a record's bytes to its decoding, in two generations of up
// to size entries each: a hit moves an entry to the current one, and when the
// current one fills it becomes the previous, which is dropped.
type recordMemo struct {
	mu        sync.Mutex
	size      int
	cur, prev map[string]any // a *bbus.Cloud, *bbus.Oracle or *bbus.Params, never handed out
}

func newRecordMemo(size int) *recordMemo {
	return &recordMemo{size: size, cur: make(map[string]any, size)}
}

// memoized reports whether records keeps decodings of v's type.
func memoized(v any) bool {
	switch v.(type) {
	case *bbus.Cloud, *bbus.Oracle, *bbus.Params:
		return true
	}
	return false
}

// get sets v (a zero record of a memoized type) to the decoding of b and
// reports whether it knew it.
func (m *recordMemo) get(b []byte, v any) bool {
	m.mu.Lock()
	e, ok := m.cur[string(b)]
	if !ok {
		if e, ok = m.prev[string(b)]; ok {
			m.add(string(b), e)
		}
	}
	m.mu.Unlock()
	if !ok {
		return false
	}
	return copyRecord(v, e)
}

// put remembers that b decodes to v.
func (m *recordMemo) put(b []byte, v any) {
	e := cloneRecord(v)
	if e == nil {
		return
	}
	m.mu.Lock()
	if _, ok := m.cur[string(b)]; !ok {
		m.add(string(b), e)
	}
	m.mu.Unlock()
}

func (m *recordMemo) add(k string, e any) {
	if len(m.cur) >= m.size {
		m.prev, m.cur = m.cur, make(map[string]any, m.size)
	}
	m.cur[k] = e
}

// copyRecord sets dst to a deep copy of src when both are of the same memoized
// type, and reports whether they were.
func copyRecord(dst, src any) bool {
	switch d := dst.(type) {
	case *bbus.Cloud:
		if s, ok := src.(*bbus.Cloud); ok {
			*d = cloneCloud(s)
			return true
		}
	case *bbus.Oracle:
		if s, ok := src.(*bbus.Oracle); ok {
			*d = cloneOracle(s)
			return true
		}
	case *bbus.Params:
		if s, ok := src.(*bbus.Params); ok {
			*d = *s
			return true
		}
	}
	return false
}

// cloneRecord returns a deep copy of v if it is of a memoized type, else nil.
func cloneRecord(v any) any {
	switch s := v.(type) {
	case *bbus.Cloud:
		c := cloneCloud(s)
		return &c
	case *bbus.Oracle:
		c := cloneOracle(s)
		return &c
	case *bbus.Params:
		c := *s
		return &c
	}
	return nil
}

func cloneCloud(s *bbus.Cloud) bbus.Cloud {
	c := *s
	c.PubKey, c.ValidatorKey = slices.Clone(s.PubKey), slices.Clone(s.ValidatorKey)
	c.Admitted, c.Removed = cloneStamp(s.Admitted), cloneStamp(s.Removed)
	c.Approvals, c.Removals = slices.Clone(s.Approvals), slices.Clone(s.Removals)
	return c
}

func cloneOracle(s *bbus.Oracle) bbus.Oracle {
	c := *s
	c.PubKey = slices.Clone(s.PubKey)
	c.Admitted, c.Removed = cloneStamp(s.Admitted), cloneStamp(s.Removed)
	c.Approvals, c.Removals = slices.Clone(s.Approvals), slices.Clone(s.Removals)
	return c
}

func cloneStamp(s *bbus.Stamp) *bbus.Stamp {
	if s == nil {
		return nil
	}
	c := *s
	return &c
}
