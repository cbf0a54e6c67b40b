package store

import (
	"bytes"
	"testing"
	"time"

	"github.com/bbusdev/bbus/kv"
)

func TestCommitPersistsAtomically(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	w := s.Working()
	w.Set([]byte("a/1"), []byte("x"))
	w.Set([]byte("a/2"), []byte("y"))
	want := s.WorkingHash()
	h1, err := s.Commit(1, time.Unix(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h1, want) || len(h1) != 32 {
		t.Fatalf("commit hash %x, working hash said %x", h1, want)
	}
	// A block with no writes keeps the hash.
	if h, _ := s.Commit(2, time.Unix(101, 0)); !bytes.Equal(h, h1) {
		t.Fatalf("empty block changed the hash: %x -> %x", h1, h)
	}
	// Staged but uncommitted writes are lost on close, committed ones are not.
	s.Working().Delete([]byte("a/1"))
	s.Working().Set([]byte("a/3"), []byte("z"))
	s.Close()

	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	height, hash, bt := s.Last()
	if height != 2 || !bytes.Equal(hash, h1) || !bt.Equal(time.Unix(101, 0)) {
		t.Fatalf("reopened at %d %x %v", height, hash, bt)
	}
	var keys []string
	s.View(func(r kv.Reader) error {
		r.Iterate([]byte("a/"), nil, func(k, v []byte) bool { keys = append(keys, string(k)+"="+string(v)); return true })
		return nil
	})
	if got := join(keys); got != "a/1=x,a/2=y" {
		t.Fatalf("state after reopen: %s", got)
	}
	if s.Committed().Get([]byte("\x00meta/height")) == nil {
		t.Fatal("meta missing")
	}
}

func TestSameWritesSameHashDifferentWritesDiffer(t *testing.T) {
	mk := func(v string) []byte {
		s := OpenMem()
		defer s.Close()
		s.Working().Set([]byte("k"), []byte("v"))
		s.Commit(1, time.Unix(1, 0))
		s.Working().Set([]byte("k2"), []byte(v))
		h, _ := s.Commit(2, time.Unix(2, 0))
		return h
	}
	if !bytes.Equal(mk("a"), mk("a")) {
		t.Fatal("same history, different hash")
	}
	if bytes.Equal(mk("a"), mk("b")) {
		t.Fatal("different history, same hash")
	}
}

func join(xs []string) string {
	var b bytes.Buffer
	for i, x := range xs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(x)
	}
	return b.String()
}

// TestLocalWrites: what a node keeps for itself commits with the block, reads
// back, and leaves the app hash alone.
func TestLocalWrites(t *testing.T) {
	s := OpenMem()
	defer s.Close()
	s.Working().Set([]byte("a/1"), []byte("x"))
	want := s.WorkingHash()
	key := append(append([]byte{}, LocalPrefix...), "idx/1"...)
	s.SetLocal(key, []byte("v"))
	h, err := s.Commit(1, time.Unix(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h, want) {
		t.Fatalf("a local write changed the app hash: %x, want %x", h, want)
	}
	if got := s.Committed().Get(key); string(got) != "v" {
		t.Fatalf("local write reads %q", got)
	}
	// Discarded with the block's other staged writes.
	s.SetLocal(append(append([]byte{}, LocalPrefix...), "idx/2"...), []byte("w"))
	s.Discard()
	if _, err := s.Commit(2, time.Unix(101, 0)); err != nil {
		t.Fatal(err)
	}
	if got := s.Committed().Get(append(append([]byte{}, LocalPrefix...), "idx/2"...)); got != nil {
		t.Fatalf("a discarded local write committed: %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("SetLocal outside LocalPrefix did not panic")
		}
	}()
	s.SetLocal([]byte("c/x"), nil)
}

// TestStorageFaultType shows a failed read of the database panicking with a
// *kv.StorageError, which the ledger lets through so that the node stops.
func TestStorageFaultType(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for name, read := range map[string]func(){
		"get":     func() { s.Committed().Get([]byte("c/a")) },
		"iterate": func() { s.Committed().Iterate([]byte("c/"), nil, func(_, _ []byte) bool { return true }) },
	} {
		func() {
			defer func() {
				if v := recover(); !kv.IsStorageFault(v) {
					t.Errorf("%s on a closed database: panic %v (%T), want a *kv.StorageError", name, v, v)
				}
			}()
			read()
		}()
	}
}

// TestCommitBatchReuse: the commit batch is reused from block to block
// without carrying a block's writes into the next (a key deleted after an
// outsized block stays deleted), and an outsized block's buffer is dropped.
func TestCommitBatchReuse(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 1<<20)
	for i := 0; i < 17; i++ {
		s.Working().Set([]byte{'b', byte('a' + i)}, big)
	}
	if _, err := s.Commit(1, time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	if n := len(s.batch.Dump()); n != 0 {
		t.Fatalf("the batch of a 17 MB block kept %d bytes", n)
	}
	s.Working().Set([]byte("small"), []byte("1"))
	if _, err := s.Commit(2, time.Unix(2, 0)); err != nil {
		t.Fatal(err)
	}
	kept := len(s.batch.Dump())
	if kept == 0 || kept > 1<<10 {
		t.Fatalf("the batch of a small block keeps %d bytes", kept)
	}
	s.Working().Delete([]byte("small"))
	s.Working().Delete([]byte("ba"))
	if _, err := s.Commit(3, time.Unix(3, 0)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := s.Committed().Get([]byte("small")); v != nil {
		t.Fatalf("a deleted key came back: %q", v)
	}
	if v := s.Committed().Get([]byte("ba")); v != nil {
		t.Fatal("a deleted key of the big block came back")
	}
	if v := s.Committed().Get([]byte("bq")); !bytes.Equal(v, big) {
		t.Fatalf("the big block's last key: %d bytes", len(v))
	}
	if h, _, _ := s.Last(); h != 3 {
		t.Fatalf("height %d", h)
	}
}
