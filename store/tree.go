package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
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

	// journal is the staged writes' record for the commit batch (journal).
	journal []byte

	// The save of the last committed version runs in the background
	// (saveAsync): saving is closed when it is done, and saveErr holds its
	// error. Only the committing goroutine reads them, after wait.
	saving  chan struct{}
	saveErr error

	mu   sync.RWMutex // held from Commit to the end of the save; by Prove to read last
	last *iavl.ImmutableTree
}

// openTree opens the tree that holds the committed state's version; journal
// is the commit batch's record of that version's writes (nil: none), which
// redoes a save the process did not live to finish.
func openTree(db *leveldb.DB, version int64, journal, appHash []byte) (*tree, error) {
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
		return openTree(db, 0, nil, nil)
	case latest == version-1 && journal != nil:
		// A crash after the commit batch, before the tree's save.
		if err := redo(t, version, journal, appHash); err != nil {
			t.Close()
			return nil, err
		}
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

func (tr *tree) close() {
	tr.wait() // its error was reported to the commit that follows, if any
	tr.t.Close()
}

// wait returns once the background save, if one runs, is done, with its
// error. Call it before anything that reads or changes t.
func (tr *tree) wait() error {
	if tr.saving != nil {
		<-tr.saving
		tr.saving = nil
	}
	return tr.saveErr
}

// root is the committed root: the app hash.
func (tr *tree) root() []byte { return tr.t.Hash() }

// stage applies the overlay's writes, but those outside the tree (leaveOut
// true: nil for none), to the working tree, unless it already did, and
// returns the working root.
func (tr *tree) stage(w *kv.Overlay, leaveOut func(key []byte) bool) []byte {
	if err := tr.wait(); err != nil {
		panic(&kv.StorageError{Op: "state tree", Err: err})
	}
	if tr.staged && tr.stagedLen == w.Len() && tr.stagedBytes == w.Bytes() {
		return tr.t.WorkingHash()
	}
	tr.discard()
	changes := w.Changes()
	n := 0
	tr.journal = binary.AppendUvarint(tr.journal[:0], uint64(tr.t.Version()+1))
	for _, c := range changes {
		if leaveOut != nil && leaveOut(c.Key) {
			continue
		}
		n++
		tr.journal = binary.AppendUvarint(tr.journal, uint64(len(c.Key)))
		tr.journal = append(tr.journal, c.Key...)
		var err error
		if c.Value == nil {
			tr.journal = append(tr.journal, 0)
			_, _, err = tr.t.Remove(c.Key)
		} else {
			d := sha256.Sum256(c.Value)
			tr.journal = append(tr.journal, 1)
			tr.journal = append(tr.journal, d[:]...)
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
	// Staged writes mean no save runs (stage waited for it). Without them
	// there is nothing to drop, and a save may go on in the background.
	if tr.staged {
		tr.t.Rollback()
		tr.staged = false
	}
}

// pending returns the version that will hold the staged state and, if the
// block changed the tree, the journal of its writes (nil otherwise). Call it
// after stage.
func (tr *tree) pending() (version int64, journal []byte) {
	if !tr.staged || !tr.stagedChanges {
		return tr.t.Version(), nil
	}
	return tr.t.Version() + 1, tr.journal
}

// saveAsync saves the staged version, if the block changed the tree, in the
// background, makes it the one proofs are made at, and unlocks mu, which the
// caller holds. The next stage, discard or close waits for it.
func (tr *tree) saveAsync(version int64) {
	if !tr.staged || !tr.stagedChanges {
		tr.discard()
		tr.saveErr = tr.committed(version)
		tr.mu.Unlock()
		return
	}
	tr.staged = false
	done := make(chan struct{})
	tr.saving = done
	go func() {
		defer close(done)
		defer tr.mu.Unlock()
		if testHookSave != nil && !testHookSave() {
			return
		}
		if _, v, err := tr.t.SaveVersion(); err != nil {
			tr.saveErr = fmt.Errorf("save version %d: %w", version, err)
			return
		} else if v != version {
			tr.saveErr = fmt.Errorf("saved version %d, the commit recorded %d", v, version)
			return
		}
		tr.saveErr = tr.committed(version)
	}()
}

// testHookSave, set by tests, runs before a background save; false skips it
// (the process died after the commit batch).
var testHookSave func() bool

// redo saves version from its journal onto the tree at the version before,
// if that gives the committed app hash.
func redo(t *iavl.MutableTree, version int64, journal, appHash []byte) error {
	bad := fmt.Errorf("state database: the journal of state tree version %d is damaged: restore it from a backup, or remove it to rebuild the state by replaying the chain", version)
	v, n := binary.Uvarint(journal)
	if n <= 0 || int64(v) != version {
		return bad
	}
	for j := journal[n:]; len(j) > 0; {
		l, n := binary.Uvarint(j)
		if n <= 0 || uint64(len(j)-n) < l+1 {
			return bad
		}
		key := j[n : n+int(l)]
		j = j[n+int(l):]
		var err error
		switch {
		case j[0] == 0:
			_, _, err = t.Remove(key)
			j = j[1:]
		case j[0] == 1 && len(j) >= 1+sha256.Size:
			_, err = t.Set(key, j[1:1+sha256.Size])
			j = j[1+sha256.Size:]
		default:
			return bad
		}
		if err != nil {
			return fmt.Errorf("state database: redo state tree version %d: %w", version, err)
		}
	}
	if root := t.WorkingHash(); !bytes.Equal(root, appHash) {
		t.Rollback()
		return fmt.Errorf("state database: the journal of state tree version %d gives the root %X, not the committed app hash %X: restore it from a backup, or remove it to rebuild the state by replaying the chain", version, root, appHash)
	}
	if _, v, err := t.SaveVersion(); err != nil || v != version {
		return fmt.Errorf("state database: redo state tree version %d: saved %d: %v", version, v, err)
	}
	return nil
}

// committed makes version the one proofs are made at, and prunes the tree
// behind it. Its caller holds mu.
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
	if err := s.tree.saveErr; err != nil {
		return nil, height, nil, fmt.Errorf("store: the state tree was not saved: %w", err)
	}
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
