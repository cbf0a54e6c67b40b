// Package kv defines the ordered key-value interfaces the ledger reads and writes
// through, an Overlay that stages writes over a Reader, and an in-memory Store.
// It uses the standard library and an in-memory B-tree only, so the ledger
// stays pure.
package kv

import (
	"bytes"
	"errors"
	"sort"

	"github.com/google/btree"
)

// Reader reads an ordered key-value space. Implementations panic on storage
// failure: the ledger cannot go on from a read it cannot trust.
type Reader interface {
	// Get returns the value of key, or nil if there is none. The caller must
	// not modify the returned slice.
	Get(key []byte) []byte
	// Iterate calls fn for each key that starts with prefix and is >= start
	// (start nil: from the first), in ascending byte order, until fn returns false.
	Iterate(prefix, start []byte, fn func(key, value []byte) bool)
}

// Ranger is a Reader that can also iterate a bounded range: each key in
// [start, end) in ascending order, until fn returns false. A database iterator
// bounded so stops at end without walking over the deleted entries beyond it.
type Ranger interface {
	IterateRange(start, end []byte, fn func(key, value []byte) bool)
}

// IterateRange iterates [start, end) of r: with r's own IterateRange if it has
// one, else with Iterate, stopping at end.
func IterateRange(r Reader, start, end []byte, fn func(key, value []byte) bool) {
	if rr, ok := r.(Ranger); ok {
		rr.IterateRange(start, end, fn)
		return
	}
	r.Iterate(nil, start, func(k, v []byte) bool { return bytes.Compare(k, end) < 0 && fn(k, v) })
}

// Store is a Reader that can be written.
type Store interface {
	Reader
	Set(key, value []byte)
	Delete(key []byte)
}

// Change is one staged write: Value nil means delete.
type Change struct {
	Key   []byte
	Value []byte
}

// Overlay stages writes over a parent Reader. Reads see the staged writes first.
// Nothing reaches the parent until the owner applies Changes.
//
// The staged writes are kept in key order (a B-tree), so that Iterate costs
// O(log n + what it returns) however many writes a block has staged, and Get,
// Set and Delete O(log n).
type Overlay struct {
	parent Reader
	writes *btree.BTreeG[staged]
	bytes  int // of the staged keys and values
}

// staged is one staged write; a nil value is a staged delete.
type staged struct {
	key   string
	value []byte
}

func stagedLess(a, b staged) bool { return a.key < b.key }

// NewOverlay returns an empty overlay over parent.
func NewOverlay(parent Reader) *Overlay {
	return &Overlay{parent: parent, writes: btree.NewG(32, stagedLess)}
}

// Get implements Reader.
func (o *Overlay) Get(key []byte) []byte {
	if w, ok := o.writes.Get(staged{key: string(key)}); ok {
		return w.value
	}
	return o.parent.Get(key)
}

// Set stages key = value. A nil value is staged as an empty one, not as a
// delete: only Delete stages a delete.
func (o *Overlay) Set(key, value []byte) {
	if value == nil {
		value = []byte{}
	}
	o.stage(staged{key: string(key), value: value})
}

// Delete stages the removal of key.
func (o *Overlay) Delete(key []byte) { o.stage(staged{key: string(key)}) }

func (o *Overlay) stage(w staged) {
	o.bytes += len(w.key) + len(w.value)
	if old, ok := o.writes.ReplaceOrInsert(w); ok {
		o.bytes -= len(old.key) + len(old.value)
	}
}

// Len returns the number of staged writes.
func (o *Overlay) Len() int { return o.writes.Len() }

// Bytes returns the size of the staged writes: their keys and values.
func (o *Overlay) Bytes() int { return o.bytes }

// Reset drops every staged write.
func (o *Overlay) Reset() { o.writes.Clear(false); o.bytes = 0 }

// Changes returns the staged writes sorted by key.
func (o *Overlay) Changes() []Change {
	out := make([]Change, 0, o.writes.Len())
	o.writes.Ascend(func(w staged) bool {
		out = append(out, Change{Key: []byte(w.key), Value: w.value})
		return true
	})
	return out
}

// WriteTo applies the staged writes to s in key order and resets the overlay.
func (o *Overlay) WriteTo(s Store) {
	o.writes.Ascend(func(w staged) bool {
		if w.value == nil {
			s.Delete([]byte(w.key))
		} else {
			s.Set([]byte(w.key), w.value)
		}
		return true
	})
	o.Reset()
}

// stagedChunk is how many staged writes Iterate takes from the B-tree at a
// time: the merge never holds more, and fn may stage writes between chunks.
const stagedChunk = 64

// stagedFrom returns up to stagedChunk staged writes under prefix with keys
// >= from (after from if strict) and below end (nil: no bound), in key order.
func (o *Overlay) stagedFrom(prefix []byte, end []byte, from string, strict bool, buf []staged) []staged {
	buf = buf[:0]
	o.writes.AscendGreaterOrEqual(staged{key: from}, func(w staged) bool {
		if strict && w.key == from {
			return true
		}
		if len(w.key) < len(prefix) || w.key[:len(prefix)] != string(prefix) || end != nil && w.key >= string(end) || len(buf) == stagedChunk {
			return false
		}
		buf = append(buf, w)
		return true
	})
	return buf
}

// Iterate implements Reader, merging staged writes with the parent.
func (o *Overlay) Iterate(prefix, start []byte, fn func(key, value []byte) bool) {
	from := string(prefix)
	if start != nil && string(start) > from {
		from = string(start)
	}
	o.merge(prefix, nil, from, func(f func(k, v []byte) bool) { o.parent.Iterate(prefix, start, f) }, fn)
}

// IterateRange implements Ranger, merging staged writes with the parent's range.
func (o *Overlay) IterateRange(start, end []byte, fn func(key, value []byte) bool) {
	o.merge(nil, end, string(start), func(f func(k, v []byte) bool) { IterateRange(o.parent, start, end, f) }, fn)
}

// merge calls fn with the staged writes under prefix from from (below end)
// merged with what parent iterates, a staged write replacing or deleting the
// parent's entry of the same key.
func (o *Overlay) merge(prefix, end []byte, from string, parent func(func(k, v []byte) bool), fn func(key, value []byte) bool) {
	chunk := o.stagedFrom(prefix, end, from, false, make([]staged, 0, stagedChunk))
	i := 0
	// next returns the next staged write, fetching the next chunk when one
	// is used up; ok is false when there are no more.
	next := func() (staged, bool) {
		if i == len(chunk) && len(chunk) == stagedChunk {
			chunk, i = o.stagedFrom(prefix, end, chunk[len(chunk)-1].key, true, chunk), 0
		}
		if i < len(chunk) {
			return chunk[i], true
		}
		return staged{}, false
	}
	stopped := false
	parent(func(k, v []byte) bool {
		for {
			w, ok := next()
			if !ok || w.key >= string(k) {
				break
			}
			i++
			if w.value != nil && !fn([]byte(w.key), w.value) {
				stopped = true
				return false
			}
		}
		if w, ok := next(); ok && w.key == string(k) {
			i++
			if w.value == nil {
				return true
			}
			if !fn(k, w.value) {
				stopped = true
				return false
			}
			return true
		}
		if !fn(k, v) {
			stopped = true
			return false
		}
		return true
	})
	if stopped {
		return
	}
	for {
		w, ok := next()
		if !ok {
			return
		}
		i++
		if w.value != nil && !fn([]byte(w.key), w.value) {
			return
		}
	}
}

// Mem is an in-memory Store, for tests and tools.
type Mem struct {
	m map[string][]byte
}

// NewMem returns an empty in-memory store.
func NewMem() *Mem { return &Mem{m: make(map[string][]byte)} }

// Get implements Reader.
func (s *Mem) Get(key []byte) []byte { return s.m[string(key)] }

// Set implements Store.
func (s *Mem) Set(key, value []byte) { s.m[string(key)] = append([]byte{}, value...) }

// Delete implements Store.
func (s *Mem) Delete(key []byte) { delete(s.m, string(key)) }

// Iterate implements Reader.
func (s *Mem) Iterate(prefix, start []byte, fn func(key, value []byte) bool) {
	keys := make([]string, 0)
	for k := range s.m {
		if bytes.HasPrefix([]byte(k), prefix) && (start == nil || k >= string(start)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !fn([]byte(k), s.m[k]) {
			return
		}
	}
}

// StorageError is what a Reader or Store panics with when its storage fails
// (a read or write error, a closed database). Whoever recovers panics to turn
// a bug into a rejected transaction must re-panic it: a node that cannot trust
// its storage must stop, not go on.
type StorageError struct {
	Op  string // what failed: "read", "iterate", ...
	Err error
}

// Error returns "storage: OP: ERR".
func (e *StorageError) Error() string { return "storage: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *StorageError) Unwrap() error { return e.Err }

// IsStorageFault reports whether v, a recovered panic value, is a storage
// fault: a *StorageError, or an error that wraps one.
func IsStorageFault(v any) bool {
	err, ok := v.(error)
	var se *StorageError
	return ok && errors.As(err, &se)
}
