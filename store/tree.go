package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/cosmos/iavl"
	ics23 "github.com/cosmos/ics23/go"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/bbusdev/bbus/kv"
)

// The tree keeps the last keepVersions versions; older ones are pruned in the
// background. Proofs are made at the last one only (the flat store, which
// gives the values, holds the last committed state alone).
const (
	keepVersions  = 2
	treeCacheSize = 200_000 // nodes held in memory
)

// tree is the state's commitment: an IAVL tree mapping each ledger key to the
// SHA-256 of its value. Leaves hold the digest, not the value, so the state is
// not stored twice; a proof carries the value beside it.
type tree struct {
	t *iavl.MutableTree

	// What stage applied to t since the last save: the overlay's size and
	// bytes when it did (a later write restages).
	staged        bool
	stagedLen     int
	stagedBytes   int
	stagedChanges bool

	mu   sync.RWMutex // held by Commit across the save; by Prove to read last
	last *iavl.ImmutableTree
}

func openTree(db *leveldb.DB, version int64) (*tree, error) {
	t := iavl.NewMutableTree(treeDB{db, newFreeBatches()}, treeCacheSize, true, iavl.NewNopLogger(),
		iavl.AsyncPruningOption(true), iavl.FlushThresholdOption(64<<20))
	latest, err := t.Load()
	if err != nil {
		return nil, fmt.Errorf("load state tree: %w", err)
	}
	switch {
	case latest > version && version == 0:
		// A crash before the genesis commit: the tree has nothing to keep.
		t.Close()
		if err := dropTree(db); err != nil {
			return nil, err
		}
		return openTree(db, 0)
	case latest > version:
		// A crash between the tree's write and the commit batch.
		if err := t.LoadVersionForOverwriting(version); err != nil {
			t.Close()
			return nil, fmt.Errorf("roll the state tree back to version %d: %w", version, err)
		}
	case latest < version:
		t.Close()
		return nil, fmt.Errorf("state database: the state tree is at version %d, the committed state at %d: restore it from a backup, or remove it to rebuild the state by replaying the chain", latest, version)
	}
	tr := &tree{t: t}
	if err := tr.setLast(version); err != nil {
		t.Close()
		return nil, err
	}
	return tr, nil
}

func dropTree(db *leveldb.DB) error {
	b := new(leveldb.Batch)
	it := db.NewIterator(util.BytesPrefix(treePrefix), nil)
	for it.Next() {
		b.Delete(bytes.Clone(it.Key()))
	}
	it.Release()
	if err := it.Error(); err != nil {
		return err
	}
	return db.Write(b, &opt.WriteOptions{Sync: true})
}

func (tr *tree) setLast(version int64) error {
	if version == 0 {
		tr.last = nil
		return nil
	}
	im, err := tr.t.GetImmutable(version)
	if err != nil {
		return fmt.Errorf("state tree version %d: %w", version, err)
	}
	tr.last = im
	return nil
}

func (tr *tree) close() { tr.t.Close() }

// root is the committed root: the app hash.
func (tr *tree) root() []byte { return tr.t.Hash() }

// stage applies the overlay's writes, but those outside the tree (leaveOut
// true: nil for none), to the working tree, unless it already did, and
// returns the working root.
func (tr *tree) stage(w *kv.Overlay, leaveOut func(key []byte) bool) []byte {
	if tr.staged && tr.stagedLen == w.Len() && tr.stagedBytes == w.Bytes() {
		return tr.t.WorkingHash()
	}
	tr.discard()
	changes := w.Changes()
	n := 0
	for _, c := range changes {
		if leaveOut != nil && leaveOut(c.Key) {
			continue
		}
		n++
		var err error
		if c.Value == nil {
			_, _, err = tr.t.Remove(c.Key)
		} else {
			d := sha256.Sum256(c.Value)
			_, err = tr.t.Set(c.Key, d[:])
		}
		if err != nil {
			panic(&kv.StorageError{Op: "state tree", Err: err})
		}
	}
	tr.staged, tr.stagedLen, tr.stagedBytes, tr.stagedChanges = true, w.Len(), w.Bytes(), n > 0
	return tr.t.WorkingHash()
}

func (tr *tree) discard() {
	if tr.staged {
		tr.t.Rollback()
		tr.staged = false
	}
}

// save writes the staged version if the block changed the state, and returns
// the version that holds the state. The caller holds mu.
func (tr *tree) save() (int64, error) {
	if !tr.staged || !tr.stagedChanges {
		tr.discard()
		return tr.t.Version(), nil
	}
	tr.staged = false
	_, v, err := tr.t.SaveVersion()
	return v, err
}

// committed makes version the one proofs are made at, and prunes the tree
// behind it. The caller holds mu.
func (tr *tree) committed(version int64) error {
	if tr.last != nil && tr.last.Version() == version {
		return nil
	}
	if err := tr.setLast(version); err != nil {
		return err
	}
	if version > keepVersions {
		return tr.t.DeleteVersionsTo(version - keepVersions)
	}
	return nil
}

// ErrLeftOut is returned by Prove for a key the tree leaves out (LeaveOut).
var ErrLeftOut = errors.New("store: the key is an index the state tree leaves out, derived from the records it holds: prove those instead")

// ErrNoState is returned by Prove before the first commit.
var ErrNoState = errors.New("store: no committed state to prove")

// Prove returns, for key at the last committed height, its value (nil if the
// key is absent) and an ICS23 commitment proof, in its protobuf encoding, of
// the key holding SHA-256(value), or of its absence, under the app hash that
// Last reports for that height. Keys of the store's own (meta, local) are
// outside the tree and are proved absent.
func (s *Store) Prove(key []byte) (value []byte, height int64, proof []byte, err error) {
	if len(key) == 0 {
		return nil, 0, nil, errors.New("store: empty key")
	}
	if s.leaveOut != nil && s.leaveOut(key) {
		return nil, 0, nil, fmt.Errorf("%w: %q", ErrLeftOut, key)
	}
	s.tree.mu.RLock()
	defer s.tree.mu.RUnlock()
	height, _, _ = s.Last()
	im := s.tree.last
	if im == nil {
		return nil, height, nil, ErrNoState
	}
	if key[0] != 0 {
		value = get(s.db.Get, key)
	}
	var cp *ics23.CommitmentProof
	if value != nil {
		cp, err = im.GetMembershipProof(key)
	} else {
		cp, err = im.GetNonMembershipProof(key)
	}
	if err != nil {
		return nil, height, nil, fmt.Errorf("store: prove %q: %w", key, err)
	}
	proof, err = cp.Marshal()
	if err != nil {
		return nil, height, nil, err
	}
	return value, height, proof, nil
}
