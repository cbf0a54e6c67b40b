// Package kv defines the ordered key-value interfaces the ledger reads and writes
// through, an Overlay that stages writes over a Reader, and an in-memory Store.
// It uses the standard library only, so the ledger stays pure.
package kv

import (
	"bytes"
	"errors"
	"sort"
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
type Overlay struct {
	parent Reader
	writes map[string][]byte // a nil value is a staged delete
}

// NewOverlay returns an empty overlay over parent.
func NewOverlay(parent Reader) *Overlay {
	return &Overlay{parent: parent, writes: make(map[string][]byte)}
}

// Get implements Reader.
func (o *Overlay) Get(key []byte) []byte {
	if v, ok := o.writes[string(key)]; ok {
		return v
	}
	return o.parent.Get(key)
}

// Set stages key = value. value must not be nil.
func (o *Overlay) Set(key, value []byte) {
	if value == nil {
		value = []byte{}
	}
	o.writes[string(key)] = value
}

// Delete stages the removal of key.
func (o *Overlay) Delete(key []byte) { o.writes[string(key)] = nil }

// Len returns the number of staged writes.
func (o *Overlay) Len() int { return len(o.writes) }

// Reset drops every staged write.
func (o *Overlay) Reset() { clear(o.writes) }

// Changes returns the staged writes sorted by key.
func (o *Overlay) Changes() []Change {
	keys := make([]string, 0, len(o.writes))
	for k := range o.writes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Change, len(keys))
	for i, k := range keys {
		out[i] = Change{Key: []byte(k), Value: o.writes[k]}
	}
	return out
}

// WriteTo applies the staged writes to s in key order and resets the overlay.
func (o *Overlay) WriteTo(s Store) {
	for _, c := range o.Changes() {
		if c.Value == nil {
			s.Delete(c.Key)
		} else {
			s.Set(c.Key, c.Value)
		}
	}
	o.Reset()
}

// Iterate implements Reader, merging staged writes with the parent.
func (o *Overlay) Iterate(prefix, start []byte, fn func(key, value []byte) bool) {
	var staged []Change
	for k, v := range o.writes {
		if bytes.HasPrefix([]byte(k), prefix) && (start == nil || k >= string(start)) {
			staged = append(staged, Change{Key: []byte(k), Value: v})
		}
	}
	sort.Slice(staged, func(i, j int) bool { return bytes.Compare(staged[i].Key, staged[j].Key) < 0 })
	i := 0
	stopped := false
	o.parent.Iterate(prefix, start, func(k, v []byte) bool {
		for i < len(staged) && bytes.Compare(staged[i].Key, k) < 0 {
			if c := staged[i]; c.Value != nil && !fn(c.Key, c.Value) {
				stopped = true
				return false
			}
			i++
		}
		if i < len(staged) && bytes.Equal(staged[i].Key, k) {
			c := staged[i]
			i++
			if c.Value == nil {
				return true
			}
			if !fn(c.Key, c.Value) {
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
	for ; i < len(staged); i++ {
		if c := staged[i]; c.Value != nil && !fn(c.Key, c.Value) {
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
