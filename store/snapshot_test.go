package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// committedStore returns a store with blocks of writes, overwrites and
// deletes committed, so the tree has nodes of many versions.
func committedStore(t *testing.T, blocks int) *Store {
	t.Helper()
	s := OpenMem()
	at := time.Unix(1_700_000_000, 0).UTC()
	for h := 0; h <= blocks; h++ {
		w := s.Working()
		for i := 0; i < 50; i++ {
			w.Set([]byte(fmt.Sprintf("k/%05d", (h*37+i)%700)), []byte(fmt.Sprintf("v%d-%d", h, i)))
		}
		if h%3 == 2 {
			w.Delete([]byte(fmt.Sprintf("k/%05d", h*37%700)))
		}
		s.SetLocal(append(bytes.Clone(LocalPrefix), fmt.Sprintf("idx/%d", h)...), []byte("x"))
		if _, err := s.Commit(int64(h), at.Add(time.Duration(h)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func exportChunks(t *testing.T, s *Store, max int) (*Export, [][]byte) {
	t.Helper()
	e, err := s.Export()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release()
	var chunks [][]byte
	if err := e.Chunks(max, func(c []byte) error { chunks = append(chunks, c); return nil }); err != nil {
		t.Fatal(err)
	}
	return e, chunks
}

func restoreAll(s *Store, e *Export, chunks [][]byte, appHash []byte) error {
	r, err := s.BeginRestore(e.Height, e.TreeVersion, e.Time)
	if err != nil {
		return err
	}
	for _, c := range chunks {
		if err := r.Add(c); err != nil {
			r.Abort()
			return err
		}
	}
	return r.Finish(appHash, nil)
}

func TestSnapshotRestoresTheSameRootAndState(t *testing.T) {
	src := committedStore(t, 40)
	defer src.Close()
	e, chunks := exportChunks(t, src, 2048)
	if len(chunks) < 3 {
		t.Fatalf("%d chunks: the bound did not cut the snapshot", len(chunks))
	}
	for i, c := range chunks[:len(chunks)-1] {
		if len(c) > 2048 {
			t.Fatalf("chunk %d has %d bytes, over the bound", i, len(c))
		}
	}
	// The source commits on while the export's view stays where it was.
	src.Working().Set([]byte("k/later"), []byte("x"))
	if _, err := src.Commit(41, e.Time.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	_, again := exportChunks(t, src, 1<<20)
	if len(again) != 1 {
		t.Fatalf("%d chunks under a 1 MiB bound", len(again))
	}

	dst := OpenMem()
	defer dst.Close()
	if err := restoreAll(dst, e, chunks, e.AppHash); err != nil {
		t.Fatal(err)
	}
	h, hash, bt := dst.Last()
	if h != 40 || !bytes.Equal(hash, e.AppHash) || !bt.Equal(e.Time) {
		t.Fatalf("restored at %d %X %s, want 40 %X %s", h, hash, bt, e.AppHash, e.Time)
	}
	// Every ledger key of the source at height 40 (before "k/later") is there.
	n := 0
	src.Committed().Iterate([]byte("k/"), nil, func(k, v []byte) bool {
		if string(k) == "k/later" {
			return true
		}
		n++
		if got := dst.Committed().Get(k); !bytes.Equal(got, v) {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
		return true
	})
	m := 0
	dst.Committed().Iterate([]byte("k/"), nil, func(k, v []byte) bool { m++; return true })
	if n == 0 || n != m {
		t.Fatalf("source has %d keys, restored %d", n, m)
	}
	if v := dst.Committed().Get(append(bytes.Clone(LocalPrefix), "idx/3"...)); v != nil {
		t.Fatalf("a node's local index travelled in the snapshot")
	}
	// The restored store proves and commits on like the source.
	if _, _, _, err := dst.Prove([]byte("k/00001")); err != nil {
		t.Fatal(err)
	}
	dst.Working().Set([]byte("k/later"), []byte("x"))
	h2, err := dst.Commit(41, e.Time.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, srcHash, _ := src.Last(); !bytes.Equal(h2, srcHash) {
		t.Fatalf("after the same block: restored %X, source %X", h2, srcHash)
	}
}

func TestSnapshotRestoreRefusesBadInput(t *testing.T) {
	src := committedStore(t, 20)
	defer src.Close()
	e, chunks := exportChunks(t, src, 4096)
	dst := OpenMem()
	defer dst.Close()

	// A root other than the trusted app hash: refused, store left empty.
	wrong := bytes.Clone(e.AppHash)
	wrong[0] ^= 1
	if err := restoreAll(dst, e, chunks, wrong); !errors.Is(err, ErrRootMismatch) {
		t.Fatalf("wrong app hash: %v", err)
	}
	if h, hash, _ := dst.Last(); h != 0 || hash != nil {
		t.Fatalf("after a refused restore: %d %X", h, hash)
	}
	// A value changed in a chunk: the rebuilt root differs.
	bad := make([][]byte, len(chunks))
	copy(bad, chunks)
	last := bytes.Clone(chunks[len(chunks)-1])
	i := bytes.LastIndex(last, []byte("v"))
	last[i+1] ^= 1
	bad[len(bad)-1] = last
	if err := restoreAll(dst, e, bad, e.AppHash); !errors.Is(err, ErrRootMismatch) {
		t.Fatalf("tampered value: %v", err)
	}
	// A chunk dropped, and garbage: refused as bad chunks.
	if err := restoreAll(dst, e, chunks[1:], e.AppHash); err == nil {
		t.Fatal("a snapshot without its first chunk was restored")
	}
	if err := restoreAll(dst, e, [][]byte{{0, 200, 200, 200}}, e.AppHash); !errors.Is(err, ErrBadChunk) {
		t.Fatalf("garbage: %v", err)
	}
	if m := countKeys(dst); m != 0 {
		t.Fatalf("%d keys left after refused restores", m)
	}
	// The good snapshot still restores into the same store.
	if err := restoreAll(dst, e, chunks, e.AppHash); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.BeginRestore(e.Height, e.TreeVersion, e.Time); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("restore over a state: %v", err)
	}
}

func countKeys(s *Store) int {
	n := 0
	it := s.db.NewIterator(nil, nil)
	for it.Next() {
		n++
	}
	it.Release()
	return n
}

// TestSnapshotRestoreRefusesMisroutingInnerKey changes the key of an inner
// node: IAVL does not hash inner keys, so the rebuilt root would be the
// trusted one over a tree whose lookups go astray; the restore refuses it.
func TestSnapshotRestoreRefusesMisroutingInnerKey(t *testing.T) {
	src := committedStore(t, 10)
	defer src.Close()
	e, chunks := exportChunks(t, src, 1<<20)
	c := bytes.Clone(chunks[0])
	changed := false
	for off := 0; off < len(c) && !changed; {
		height := c[off]
		off++
		_, n := binary.Uvarint(c[off:])
		off += n
		kl, n := binary.Uvarint(c[off:])
		off += n
		if height > 0 {
			c[off+int(kl)-1] ^= 1 // same length, another key
			changed = true
			break
		}
		off += int(kl)
		vl, n := binary.Uvarint(c[off:])
		off += n + int(vl)
	}
	if !changed {
		t.Fatal("no inner node in the snapshot")
	}
	dst := OpenMem()
	defer dst.Close()
	err := restoreAll(dst, e, [][]byte{c}, e.AppHash)
	if !errors.Is(err, ErrBadChunk) || !strings.Contains(err.Error(), "right subtree's first key") {
		t.Fatalf("inner key changed: %v", err)
	}
	if m := countKeys(dst); m != 0 {
		t.Fatalf("%d keys left", m)
	}
}

// TestSnapshotRestoreAfterOneCutShort: a restore that stopped mid-way (the
// node was stopped) leaves values behind; the next restore starts clean, so
// no key of the first one is left in the state.
func TestSnapshotRestoreAfterOneCutShort(t *testing.T) {
	src := committedStore(t, 10)
	defer src.Close()
	e, chunks := exportChunks(t, src, 1024)
	dst := OpenMem()
	defer dst.Close()
	r, err := dst.BeginRestore(e.Height, e.TreeVersion, e.Time)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(chunks[0]); err != nil {
		t.Fatal(err)
	}
	// Cut short, no Abort; a stray value as if from another snapshot.
	dst.db.Put([]byte("k/stray"), []byte("x"), nil)
	if err := restoreAll(dst, e, chunks, e.AppHash); err != nil {
		t.Fatal(err)
	}
	if v := dst.Committed().Get([]byte("k/stray")); v != nil {
		t.Fatalf("a value of the restore cut short is in the state: %q", v)
	}
}
