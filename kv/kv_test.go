package kv

import (
	"bytes"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
)

// sortedReader is a parent that seeks like a database: sorted keys, binary search.
type sortedReader struct{ keys []string }

func (r *sortedReader) Get(key []byte) []byte { return nil }

func (r *sortedReader) Iterate(prefix, start []byte, fn func(key, value []byte) bool) {
	from := string(prefix)
	if string(start) > from {
		from = string(start)
	}
	for i := sort.SearchStrings(r.keys, from); i < len(r.keys) && strings.HasPrefix(r.keys[i], string(prefix)); i++ {
		if !fn([]byte(r.keys[i]), []byte("interval")) {
			return
		}
	}
}

// TestOverlayIterateMatchesStore checks the overlay's merged iteration against
// a plain store holding the same writes, over random writes, prefixes, starts
// and early stops, with chunks of staged writes larger than one fetch.
func TestOverlayIterateMatchesStore(t *testing.T) {
	rnd := rand.New(rand.NewSource(1))
	key := func() []byte { return []byte(fmt.Sprintf("%c/%03d", 'a'+rnd.Intn(3), rnd.Intn(400))) }
	for round := 0; round < 50; round++ {
		parent, want := NewMem(), NewMem()
		for i := 0; i < 300; i++ {
			k, v := key(), []byte(fmt.Sprint(i))
			parent.Set(k, v)
			want.Set(k, v)
		}
		o := NewOverlay(parent)
		for i := 0; i < 500; i++ {
			k := key()
			if rnd.Intn(3) == 0 {
				o.Delete(k)
				want.Delete(k)
			} else {
				v := []byte(fmt.Sprint("o", i))
				o.Set(k, v)
				want.Set(k, v)
			}
		}
		for q := 0; q < 40; q++ {
			prefix := []byte{}
			if rnd.Intn(4) > 0 {
				prefix = []byte(fmt.Sprintf("%c/", 'a'+rnd.Intn(4)))
			}
			var start []byte
			if rnd.Intn(2) == 0 {
				start = key()
			}
			stop := rnd.Intn(300)
			collect := func(r Reader) []string {
				var out []string
				r.Iterate(prefix, start, func(k, v []byte) bool {
					out = append(out, string(k)+"="+string(v))
					return len(out) < stop
				})
				return out
			}
			got, exp := collect(o), collect(want)
			if fmt.Sprint(got) != fmt.Sprint(exp) {
				t.Fatalf("round %d prefix %q start %q stop %d:\n got %v\nwant %v", round, prefix, start, stop, got, exp)
			}
			// A bounded range, through the overlay (merging with the
			// parent's range) and through a plain store.
			lo, hi := key(), key()
			if string(lo) > string(hi) {
				lo, hi = hi, lo
			}
			ranged := func(r Reader) []string {
				var out []string
				IterateRange(r, lo, hi, func(k, v []byte) bool {
					out = append(out, string(k)+"="+string(v))
					return len(out) < stop
				})
				return out
			}
			if got, exp := ranged(o), ranged(want); fmt.Sprint(got) != fmt.Sprint(exp) {
				t.Fatalf("round %d range %q..%q stop %d:\n got %v\nwant %v", round, lo, hi, stop, got, exp)
			}
		}
		for _, c := range o.Changes() {
			if !bytes.Equal(o.Get(c.Key), want.Get(c.Key)) {
				t.Fatalf("Get(%q) = %q, want %q", c.Key, o.Get(c.Key), want.Get(c.Key))
			}
		}
	}
}

// TestOverlayIterateWhileWriting stages writes from inside Iterate's callback,
// as the ledger may: iteration goes on, seeing each staged key once.
func TestOverlayIterateWhileWriting(t *testing.T) {
	o := NewOverlay(NewMem())
	for i := 0; i < 500; i++ {
		o.Set([]byte(fmt.Sprintf("k/%04d", i)), []byte("x"))
	}
	n := 0
	o.Iterate([]byte("k/"), nil, func(k, _ []byte) bool {
		n++
		o.Set(append([]byte("z/"), k...), []byte("y"))
		o.Delete(k)
		return true
	})
	if n != 500 || o.Len() != 1000 {
		t.Fatalf("saw %d keys, %d staged writes; want 500, 1000", n, o.Len())
	}
}

// BenchmarkOverlayBusyBlock is an invoice closed in a busy block: 5,000 other
// writes are staged, then the invoice reads one VM's intervals (a short prefix
// scan) and stages one line, 10,000 times.
func BenchmarkOverlayBusyBlock(b *testing.B) {
	parent := &sortedReader{}
	for i := 0; i < 10_000; i++ {
		parent.keys = append(parent.keys, fmt.Sprintf("h/vm%05d/1", i))
	}
	for n := 0; n < b.N; n++ {
		o := NewOverlay(parent)
		for i := 0; i < 5_000; i++ {
			o.Set([]byte(fmt.Sprintf("r/%05d", i)), []byte("other"))
		}
		for i := 0; i < 10_000; i++ {
			o.Iterate([]byte(fmt.Sprintf("h/vm%05d/", i)), nil, func(_, _ []byte) bool { return true })
			o.Set([]byte(fmt.Sprintf("il/1/%05d", i)), []byte("line"))
		}
	}
}
