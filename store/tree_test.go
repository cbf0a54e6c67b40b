package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/proof"
)

func prove(t *testing.T, s *Store, key string) *bbus.Proof {
	t.Helper()
	v, h, p, err := s.Prove([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return &bbus.Proof{Key: []byte(key), Value: v, Height: h, Proof: p}
}

// TestProofsVerifyAgainstTheAppHash: a key's value and a missing key's absence
// are proved against the committed app hash; a changed value, a changed proof,
// a proof of another key or another hash fail.
func TestProofsVerifyAgainstTheAppHash(t *testing.T) {
	s := OpenMem()
	defer s.Close()
	for i := 0; i < 200; i++ {
		s.Working().Set([]byte(fmt.Sprintf("v/vm-%03d", i)), []byte(fmt.Sprintf(`{"id":"vm-%03d"}`, i)))
	}
	if _, err := s.Commit(1, time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	s.Working().Delete([]byte("v/vm-007"))
	s.Working().Set([]byte("v/vm-008"), []byte(`{"id":"vm-008","host":"b"}`))
	if _, err := s.Commit(2, time.Unix(2, 0)); err != nil {
		t.Fatal(err)
	}
	_, hash, _ := s.Last()

	in := prove(t, s, "v/vm-008")
	if in.Height != 2 || string(in.Value) != `{"id":"vm-008","host":"b"}` {
		t.Fatalf("proof of v/vm-008: height %d value %s", in.Height, in.Value)
	}
	if err := proof.Verify(hash, in); err != nil {
		t.Fatalf("presence: %v", err)
	}
	for _, key := range []string{"v/vm-007", "v/vm-999", "a", "zzz", "\x00meta/height"} {
		out := prove(t, s, key)
		if out.Value != nil {
			t.Fatalf("%q: value %q, want absent", key, out.Value)
		}
		if err := proof.Verify(hash, out); err != nil {
			t.Fatalf("absence of %q: %v", key, err)
		}
	}

	tamper := func(name string, p bbus.Proof, appHash []byte) {
		t.Helper()
		if err := proof.Verify(appHash, &p); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	old := *in
	old.Value = []byte(`{"id":"vm-008"}`)
	tamper("old value", old, hash)
	other := *in
	other.Key = []byte("v/vm-009")
	tamper("other key", other, hash)
	for i := range in.Proof {
		bad := *in
		bad.Proof = bytes.Clone(in.Proof)
		bad.Proof[i] ^= 1
		if err := proof.Verify(hash, &bad); err == nil {
			t.Fatalf("proof with byte %d changed verified", i)
		}
	}
	tamper("other app hash", *in, append([]byte{1}, hash[1:]...))
	gone := prove(t, s, "v/vm-007")
	claimed := *gone
	claimed.Value = []byte(`{"id":"vm-007"}`)
	tamper("absent key claimed present", claimed, hash)
	present := *in
	present.Value = nil
	tamper("present key claimed absent", present, hash)
}

// TestSameBlocksSameRoot: two stores fed the same blocks hold the same root at
// every height; a different write gives a different one.
func TestSameBlocksSameRoot(t *testing.T) {
	run := func(last string) [][]byte {
		s := OpenMem()
		defer s.Close()
		var roots [][]byte
		for h := int64(1); h <= 20; h++ {
			for i := 0; i < int(h%4)*10; i++ { // every fourth block is idle
				k := binary.BigEndian.AppendUint64([]byte("m/"), uint64(h*7+int64(i))%97)
				if i%5 == 4 {
					s.Working().Delete(k)
				} else {
					s.Working().Set(k, []byte(fmt.Sprint(h, i)))
				}
			}
			if h == 20 {
				s.Working().Set([]byte("x"), []byte(last))
			}
			r, err := s.Commit(h, time.Unix(h, 0))
			if err != nil {
				t.Fatal(err)
			}
			roots = append(roots, r)
		}
		return roots
	}
	a, b, c := run("a"), run("a"), run("b")
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("height %d: roots %X and %X", i+1, a[i], b[i])
		}
	}
	if bytes.Equal(a[19], c[19]) {
		t.Fatal("a different write left the root as it was")
	}
}

// TestIdleBlockKeepsTheRoot: a block that writes nothing keeps the app hash
// and saves no tree version; one that writes changes it.
func TestIdleBlockKeepsTheRoot(t *testing.T) {
	s := OpenMem()
	defer s.Close()
	s.Working().Set([]byte("a"), []byte("1"))
	h1, _ := s.Commit(1, time.Unix(1, 0))
	s.Wait()
	v1 := s.tree.t.Version()
	for h := int64(2); h < 5; h++ {
		if got := s.WorkingHash(); !bytes.Equal(got, h1) {
			t.Fatalf("working hash of an idle block %X, want %X", got, h1)
		}
		got, _ := s.Commit(h, time.Unix(h, 0))
		s.Wait()
		if !bytes.Equal(got, h1) || s.tree.t.Version() != v1 {
			t.Fatalf("idle block %d: hash %X version %d, want %X %d", h, got, s.tree.t.Version(), h1, v1)
		}
	}
	s.Working().Set([]byte("a"), []byte("2"))
	if h, _ := s.Commit(5, time.Unix(5, 0)); bytes.Equal(h, h1) {
		t.Fatal("a write kept the hash")
	}
	if p := prove(t, s, "a"); p.Height != 5 || string(p.Value) != "2" {
		t.Fatalf("proof at %d of %q", p.Height, p.Value)
	}
}

// TestCrashAroundTheTreeSave: the process dies between a block's commit
// batch and the end of its tree version's background save (the store reopens
// at that block, its tree redone from the journal), or the tree holds a
// version the commit batch never recorded (the store reopens at the block
// before, and rolls the tree back). Either way the blocks that follow give
// the roots of a store that never crashed, and proofs verify against them.
func TestCrashAroundTheTreeSave(t *testing.T) {
	block := func(s *Store, h int64) {
		for i := 0; i < 50; i++ {
			s.Working().Set([]byte(fmt.Sprintf("k/%d/%d", h, i)), []byte(fmt.Sprint(h*int64(i))))
		}
		if h > 0 {
			s.Working().Delete([]byte(fmt.Sprintf("k/%d/3", h-1)))
		}
	}
	for _, c := range []struct {
		name    string
		crashAt int64
		unsaved bool // the batch written, the save not; else the tree saved, the batch not
	}{
		{"genesis saved, batch lost", 0, false},
		{"block 3 saved, batch lost", 3, false},
		{"genesis batch written, save lost", 0, true},
		{"block 3 batch written, save lost", 3, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			var want [][]byte
			for h := int64(0); h < c.crashAt; h++ {
				block(s, h)
				r, err := s.Commit(h, time.Unix(h, 0))
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, r)
			}
			block(s, c.crashAt)
			if c.unsaved {
				s.Wait() // the last block's save, before the hook is set
				testHookSave = func() bool { return false }
				r, err := s.Commit(c.crashAt, time.Unix(c.crashAt, 0))
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, r)
				s.tree.wait()
				testHookSave = nil
			} else {
				s.WorkingHash()
				if err := s.tree.wait(); err != nil {
					t.Fatal(err)
				}
				if _, _, err := s.tree.t.SaveVersion(); err != nil {
					t.Fatal(err)
				}
			}
			s.db.Close()

			s, err = Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			h, hash, _ := s.Last()
			next := int64(len(want))
			switch {
			case next == 0:
				if h != 0 || hash != nil || s.tree.t.Version() != 0 {
					t.Fatalf("after a crash in genesis: height %d hash %X tree version %d", h, hash, s.tree.t.Version())
				}
			case h != next-1 || !bytes.Equal(hash, want[next-1]) || !bytes.Equal(s.tree.root(), hash):
				t.Fatalf("reopened at %d %X (tree %X), want %d %X", h, hash, s.tree.root(), next-1, want[next-1])
			default:
				if err := proof.Verify(hash, prove(t, s, fmt.Sprintf("k/%d/7", h))); err != nil {
					t.Fatalf("proof after reopening: %v", err)
				}
			}
			// Go on from where it reopened; a store that never crashed agrees.
			clean := OpenMem()
			defer clean.Close()
			for h := int64(0); h <= c.crashAt+2; h++ {
				block(clean, h)
				r0, _ := clean.Commit(h, time.Unix(h, 0))
				if h < next {
					continue
				}
				block(s, h)
				r, err := s.Commit(h, time.Unix(h, 0))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(r, r0) {
					t.Fatalf("height %d after recovery: root %X, a store that never crashed %X", h, r, r0)
				}
				if err := proof.Verify(r, prove(t, s, fmt.Sprintf("k/%d/7", h))); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestDamagedJournalRefused: a journal that does not decode, or does not
// give the committed root, is refused on open with a clear error and leaves
// the tree as it was.
func TestDamagedJournalRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for h := int64(0); h < 2; h++ {
		s.Working().Set([]byte(fmt.Sprint("k/", h)), []byte("v"))
		testHookSave = func() bool { return h == 0 }
		if _, err := s.Commit(h, time.Unix(h, 0)); err != nil {
			t.Fatal(err)
		}
		s.tree.wait()
	}
	testHookSave = nil
	j, err := s.db.Get(journalKey(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.db.Close()
	flipped := bytes.Clone(j)
	flipped[len(flipped)-1] ^= 1
	_, n := binary.Uvarint(j)
	huge := append(binary.AppendUvarint(nil, math.MaxUint64), j[n:]...) // a version past int64's range
	for _, bad := range [][]byte{j[:len(j)-1], j[:len(j)-33], j[:1], {}, flipped, huge} {
		db, err := leveldb.OpenFile(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Put(journalKey(1), bad, nil); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if s, err := Open(dir); err == nil || !strings.Contains(err.Error(), "journal") {
			if s != nil {
				s.Close()
			}
			t.Fatalf("journal %x (of %x): %v", bad, j, err)
		}
	}
	db, err := leveldb.OpenFile(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Put(journalKey(1), j, nil)
	db.Close()
	s, err = Open(dir)
	if err != nil {
		t.Fatalf("the journal restored: %v", err)
	}
	s.Close()
}

// TestHashChainHomeRefused: a state written before the tree (app hash a hash
// chain) is refused with ErrHashChainHome.
func TestHashChainHomeRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := leveldb.OpenFile(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Put(metaHeight, binary.BigEndian.AppendUint64(nil, 12), nil)
	db.Put(metaAppHash, bytes.Repeat([]byte{7}, 32), nil)
	db.Put([]byte("c/a"), []byte("{}"), nil)
	db.Close()
	if _, err := Open(dir); !errors.Is(err, ErrHashChainHome) {
		t.Fatalf("open of a hash-chain state: %v", err)
	}
}

// TestLeftOutKeys: keys the tree leaves out are stored and read, but change
// neither the root nor the tree, and a proof of one is refused; the same
// writes with them left in give another root.
func TestLeftOutKeys(t *testing.T) {
	index := func(k []byte) bool { return bytes.HasPrefix(k, []byte("ix/")) }
	s, all := OpenMem(), OpenMem()
	defer s.Close()
	defer all.Close()
	s.LeaveOut(index)
	for _, st := range []*Store{s, all} {
		st.Working().Set([]byte("v/a"), []byte("1"))
		st.Working().Set([]byte("ix/a"), []byte{})
		if _, err := st.Commit(1, time.Unix(1, 0)); err != nil {
			t.Fatal(err)
		}
	}
	_, h1, _ := s.Last()
	if _, hAll, _ := all.Last(); bytes.Equal(h1, hAll) {
		t.Fatal("the root is the same with the index key left in the tree")
	}
	// A block that writes only left-out keys keeps the root and saves no
	// tree version.
	s.Working().Set([]byte("ix/b"), []byte{})
	s.Working().Delete([]byte("ix/a"))
	h2, err := s.Commit(2, time.Unix(2, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h1, h2) || s.tree.t.Version() != 1 {
		t.Fatalf("root %X -> %X, tree version %d after a block of index writes", h1, h2, s.tree.t.Version())
	}
	if v := s.Committed().Get([]byte("ix/b")); v == nil || s.Committed().Get([]byte("ix/a")) != nil {
		t.Fatal("the left-out keys were not stored as written")
	}
	if _, _, _, err := s.Prove([]byte("ix/b")); !errors.Is(err, ErrLeftOut) {
		t.Fatalf("proof of a left-out key: %v, want ErrLeftOut", err)
	}
	if p := prove(t, s, "v/a"); proof.Verify(h2, p) != nil {
		t.Fatal("the record's proof does not verify")
	}
}

// heavyBlock writes more than lightBlock keys at height h (a block under
// load), and removes one of the block before.
func heavyBlock(s *Store, h int64) {
	for i := 0; i < lightBlock+44; i++ {
		s.Working().Set([]byte(fmt.Sprintf("k/%d/%d", h, i)), []byte(fmt.Sprint(h*int64(i))))
	}
	if h > 0 {
		s.Working().Delete([]byte(fmt.Sprintf("k/%d/3", h-1)))
	}
}

// TestSavesDeferredUnderLoad: blocks of many writes are saved every
// saveEvery blocks; proofs are made at the last saved height meanwhile and
// verify against that height's root; the block that changes nothing after
// them (the one that carries the last app hash) saves the rest.
func TestSavesDeferredUnderLoad(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	roots := map[int64][]byte{}
	const blocks = 2*saveEvery + 3
	for h := int64(0); h < blocks; h++ {
		heavyBlock(s, h)
		r, err := s.Commit(h, time.Unix(h, 0))
		if err != nil {
			t.Fatal(err)
		}
		roots[h] = r
		if want := (h+1)%saveEvery == 0; s.Saved() != want {
			t.Fatalf("block %d: saved %v, want %v", h, s.Saved(), want)
		}
		if h < saveEvery-1 {
			if _, _, _, err := s.Prove([]byte("k/0/7")); !errors.Is(err, ErrNotSaved) {
				t.Fatalf("block %d, before the first save: %v", h, err)
			}
			continue
		}
		pr := prove(t, s, "k/0/7")
		if ph := pr.Height; ph > h || ph <= h-saveEvery {
			t.Fatalf("block %d: proof at height %d", h, ph)
		}
		if err := proof.Verify(roots[pr.Height], pr); err != nil {
			t.Fatalf("block %d: proof at height %d: %v", h, pr.Height, err)
		}
	}
	s.Wait()
	if v := s.tree.t.Version(); v != blocks/saveEvery {
		t.Fatalf("%d heavy blocks made %d tree versions, want %d", blocks, v, blocks/saveEvery)
	}
	r, err := s.Commit(blocks, time.Unix(blocks, 0)) // changes nothing
	if err != nil {
		t.Fatal(err)
	}
	s.Wait()
	if !bytes.Equal(r, roots[blocks-1]) || !s.Saved() {
		t.Fatalf("the block after: root %X (want %X), saved %v", r, roots[blocks-1], s.Saved())
	}
	pr := prove(t, s, fmt.Sprintf("k/%d/7", blocks-1))
	if pr.Height != blocks {
		t.Fatalf("proof at height %d after the quiet block %d", pr.Height, blocks)
	}
	if err := proof.Verify(r, pr); err != nil {
		t.Fatal(err)
	}
}

// TestCrashWithDeferredSaves: a crash after the commits of several blocks
// that no saved tree version holds; the store reopens at the last of them,
// its working tree redone from their journals, answers ErrNotSaved for
// proofs until the next save, and goes on with the roots of a store that
// never crashed: its saves fall where that store's do.
func TestCrashWithDeferredSaves(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	const crashAt = saveEvery + 4
	for h := int64(0); h <= crashAt; h++ {
		heavyBlock(s, h)
		r, err := s.Commit(h, time.Unix(h, 0))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	s.Wait()
	saved := s.tree.t.Version()
	s.db.Close()

	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if h, hash, _ := s.Last(); h != crashAt || !bytes.Equal(hash, want[crashAt]) || !bytes.Equal(s.tree.t.WorkingHash(), hash) {
		t.Fatalf("reopened at %d %X (tree %X), want %d %X", h, hash, s.tree.t.WorkingHash(), crashAt, want[crashAt])
	}
	if s.tree.t.Version() != saved || s.Saved() {
		t.Fatalf("tree version %d (saved %v) after the redo, want %d and unsaved", s.tree.t.Version(), s.Saved(), saved)
	}
	if _, _, _, err := s.Prove([]byte("k/3/7")); !errors.Is(err, ErrNotSaved) {
		t.Fatalf("a proof before the next save: %v", err)
	}
	clean := OpenMem()
	defer clean.Close()
	for h := int64(0); h <= crashAt+saveEvery+2; h++ {
		heavyBlock(clean, h)
		r0, _ := clean.Commit(h, time.Unix(h, 0))
		if h <= crashAt {
			if !bytes.Equal(r0, want[h]) {
				t.Fatalf("height %d: a store that never crashed has root %X, the crashed one had %X", h, r0, want[h])
			}
			continue
		}
		heavyBlock(s, h)
		r, err := s.Commit(h, time.Unix(h, 0))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r, r0) || s.Saved() != clean.Saved() {
			t.Fatalf("height %d after recovery: root %X saved %v, a store that never crashed %X saved %v", h, r, s.Saved(), r0, clean.Saved())
		}
		want = append(want, r)
	}
	s.Wait()
	if err := proof.Verify(want[saveEvery*2-1], prove(t, s, "k/3/7")); err != nil {
		t.Fatalf("a proof after the next save: %v", err)
	}
}

// A block dropped after it was staged (FinalizeBlock run again) leaves the
// committed blocks not yet saved in the tree.
func TestDiscardKeepsUnsavedBlocks(t *testing.T) {
	s := OpenMem()
	defer s.Close()
	clean := OpenMem()
	defer clean.Close()
	for h := int64(0); h < 4; h++ {
		heavyBlock(clean, h)
		r0, _ := clean.Commit(h, time.Unix(h, 0))
		heavyBlock(s, h)
		if h == 3 {
			s.WorkingHash()
			s.Discard()
			heavyBlock(s, h)
		}
		r, err := s.Commit(h, time.Unix(h, 0))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r, r0) {
			t.Fatalf("height %d: root %X, want %X", h, r, r0)
		}
	}
}
