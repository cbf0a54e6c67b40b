package kv

import (
	"fmt"
	"strings"
	"testing"
)

// dump lists what r iterates under prefix from start as "k=v" pairs.
func dump(r Reader, prefix, start string) string {
	var out []string
	var st []byte
	if start != "" {
		st = []byte(start)
	}
	r.Iterate([]byte(prefix), st, func(k, v []byte) bool {
		out = append(out, string(k)+"="+string(v))
		return true
	})
	return strings.Join(out, " ")
}

// TestOverlayMergesAndDeletes: reads through an overlay see its sets over the
// parent's values, its deletes hide the parent's keys, and the parent changes
// only when the overlay is written to it.
func TestOverlayMergesAndDeletes(t *testing.T) {
	parent := NewMem()
	for _, k := range []string{"a", "b", "c", "e"} {
		parent.Set([]byte("p/"+k), []byte(k))
	}
	parent.Set([]byte("q/x"), []byte("x"))
	o := NewOverlay(parent)
	o.Set([]byte("p/a"), []byte("A"))  // replaces
	o.Delete([]byte("p/b"))            // hides
	o.Set([]byte("p/d"), []byte("D"))  // adds between the parent's
	o.Delete([]byte("p/z"))            // deletes what is not there
	o.Set([]byte("p/zz"), []byte("Z")) // after the parent's last
	o.Delete([]byte("p/e"))
	o.Set([]byte("p/e"), []byte("E")) // a delete then a set: the set

	for _, c := range []struct{ prefix, start, want string }{
		{"p/", "", "p/a=A p/c=c p/d=D p/e=E p/zz=Z"},
		{"p/", "p/b", "p/c=c p/d=D p/e=E p/zz=Z"},
		{"p/", "p/d", "p/d=D p/e=E p/zz=Z"},
		{"", "", "p/a=A p/c=c p/d=D p/e=E p/zz=Z q/x=x"},
		{"q/", "", "q/x=x"},
		{"r/", "", ""},
	} {
		if got := dump(o, c.prefix, c.start); got != c.want {
			t.Errorf("Iterate(%q, %q) = %q, want %q", c.prefix, c.start, got, c.want)
		}
	}
	if o.Get([]byte("p/b")) != nil || string(o.Get([]byte("p/a"))) != "A" || string(o.Get([]byte("p/c"))) != "c" {
		t.Errorf("Get through the overlay: b %q a %q c %q", o.Get([]byte("p/b")), o.Get([]byte("p/a")), o.Get([]byte("p/c")))
	}
	if got := dump(parent, "", ""); got != "p/a=a p/b=b p/c=c p/e=e q/x=x" {
		t.Errorf("the parent changed before WriteTo: %q", got)
	}
	var changes []string
	for _, c := range o.Changes() {
		v := "<delete>"
		if c.Value != nil {
			v = string(c.Value)
		}
		changes = append(changes, string(c.Key)+"="+v)
	}
	if got := strings.Join(changes, " "); got != "p/a=A p/b=<delete> p/d=D p/e=E p/z=<delete> p/zz=Z" {
		t.Errorf("Changes = %q", got)
	}
	o.WriteTo(parent)
	if got := dump(parent, "", ""); got != "p/a=A p/c=c p/d=D p/e=E p/zz=Z q/x=x" {
		t.Errorf("after WriteTo the parent holds %q", got)
	}
	if o.Len() != 0 || o.Bytes() != 0 || dump(o, "", "") != dump(parent, "", "") {
		t.Errorf("after WriteTo the overlay holds %d writes of %d bytes", o.Len(), o.Bytes())
	}
}

// TestOverlaySetNil: a nil value is an empty value, not a delete.
func TestOverlaySetNil(t *testing.T) {
	parent := NewMem()
	parent.Set([]byte("k"), []byte("v"))
	o := NewOverlay(parent)
	o.Set([]byte("k"), nil)
	if v := o.Get([]byte("k")); v == nil || len(v) != 0 {
		t.Errorf("Get after Set(nil) = %#v, want an empty value", v)
	}
	if got := dump(o, "", ""); got != "k=" {
		t.Errorf("Iterate after Set(nil) = %q", got)
	}
	o.WriteTo(parent)
	if v := parent.Get([]byte("k")); v == nil || len(v) != 0 {
		t.Errorf("the parent after WriteTo holds %#v, want an empty value", v)
	}
}

// TestOverlayDeletesAcrossChunks: a run of staged deletes longer than the
// chunk Iterate takes at a time hides every key it covers, and iteration
// resumes after it, with or without a start inside it.
func TestOverlayDeletesAcrossChunks(t *testing.T) {
	parent := NewMem()
	key := func(i int) []byte { return []byte(fmt.Sprintf("k/%04d", i)) }
	for i := 0; i < 300; i++ {
		parent.Set(key(i), []byte("v"))
	}
	o := NewOverlay(parent)
	for i := 10; i < 10+3*stagedChunk+5; i++ {
		o.Delete(key(i))
	}
	for _, start := range []int{-1, 0, 10, 50, 10 + 3*stagedChunk + 4, 10 + 3*stagedChunk + 5} {
		var st []byte
		first := 0
		if start >= 0 {
			st, first = key(start), start
		}
		var got []string
		o.Iterate([]byte("k/"), st, func(k, _ []byte) bool { got = append(got, string(k)); return true })
		var want []string
		for i := first; i < 300; i++ {
			if i < 10 || i >= 10+3*stagedChunk+5 {
				want = append(want, string(key(i)))
			}
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("from %d: got %d keys (%v...), want %d", start, len(got), got[:min(3, len(got))], len(want))
		}
	}
}

// TestOverlayBytes counts the staged keys and values, a replaced write once.
func TestOverlayBytes(t *testing.T) {
	o := NewOverlay(NewMem())
	o.Set([]byte("ab"), []byte("xyz"))
	o.Set([]byte("ab"), []byte("x"))
	o.Delete([]byte("cd"))
	if o.Len() != 2 || o.Bytes() != 2+1+2 {
		t.Errorf("Len %d Bytes %d, want 2 and 5", o.Len(), o.Bytes())
	}
	o.Reset()
	if o.Len() != 0 || o.Bytes() != 0 {
		t.Errorf("after Reset: Len %d Bytes %d", o.Len(), o.Bytes())
	}
}
