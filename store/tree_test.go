package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
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
	v1 := s.tree.t.Version()
	for h := int64(2); h < 5; h++ {
		if got := s.WorkingHash(); !bytes.Equal(got, h1) {
			t.Fatalf("working hash of an idle block %X, want %X", got, h1)
		}
		got, _ := s.Commit(h, time.Unix(h, 0))
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

// TestCrashBetweenTreeAndCommit: the process dies after the tree wrote a
// block's version and before the commit batch; the store reopens at the
// previous height with that height's root, and the block replays to the same
// root as on a store that never crashed.
func TestCrashBetweenTreeAndCommit(t *testing.T) {
	block := func(s *Store, h int64) {
		for i := 0; i < 50; i++ {
			s.Working().Set([]byte(fmt.Sprintf("k/%d/%d", h, i)), []byte(fmt.Sprint(h*int64(i))))
		}
	}
	for name, crashAt := range map[string]int64{"genesis": 0, "block 3": 3} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			var want [][]byte
			for h := int64(0); h < crashAt; h++ {
				block(s, h)
				r, err := s.Commit(h, time.Unix(h, 0))
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, r)
			}
			block(s, crashAt)
			testHookAfterTree = func() { panic("crash") }
			func() {
				defer func() { recover() }()
				s.Commit(crashAt, time.Unix(crashAt, 0))
				t.Fatal("no crash")
			}()
			testHookAfterTree = nil
			s.tree.close()
			s.db.Close()

			s, err = Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			h, hash, _ := s.Last()
			if crashAt == 0 {
				if h != 0 || hash != nil || s.tree.t.Version() != 0 {
					t.Fatalf("after a crash in genesis: height %d hash %X tree version %d", h, hash, s.tree.t.Version())
				}
			} else if h != crashAt-1 || !bytes.Equal(hash, want[len(want)-1]) || !bytes.Equal(s.tree.root(), hash) {
				t.Fatalf("reopened at %d %X (tree %X), want %d %X", h, hash, s.tree.root(), crashAt-1, want[len(want)-1])
			}
			// Replay the lost block and one more; a store that never crashed agrees.
			clean := OpenMem()
			defer clean.Close()
			for h := int64(0); h <= crashAt+1; h++ {
				block(clean, h)
				r0, _ := clean.Commit(h, time.Unix(h, 0))
				if h < crashAt {
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
