package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
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

// Saving a tree version writes every node its blocks changed, and under load
// most of them are orphaned by the next blocks. So the tree saves a version
// after a block that changed it only every saveEvery such blocks, or after
// one of fewer than lightBlock writes (light load), and always after a block
// that changed nothing once some did (the block that carries a new app hash
// to a header follows every block that changed it, so the tree is saved as
// soon as a burst ends). The blocks between two saves are committed with
// their journals (Commit's batch), which Open applies again after a restart.
// Proofs and snapshots are made at the last saved version.
//
// Where versions are saved is part of the app hash: IAVL hashes each node
// with the version that saves it. So the rule depends on the blocks alone,
// never on the clock, a proof or a restart, and every validator saves at the
// same heights.
const (
	saveEvery  = 10
	lightBlock = 256
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

	// unsaved holds the journals of the committed blocks whose writes the
	// working tree holds but no saved version does, oldest first, with their
	// heights.
	unsaved        [][]byte
	unsavedHeights []int64
	db             *leveldb.DB

	// A save runs in the background (startSave): saving is closed when it is
	// done, and saveErr holds its error. Only the committing goroutine reads
	// them, after wait.
	saving  chan struct{}
	saveErr error

	// mu is held from Commit to the end of a save; Prove reads last,
	// lastHeight and lastSnap under it.
	mu         sync.RWMutex
	last       *iavl.ImmutableTree
	lastHeight int64     // the height whose state last holds
	lastSnap   *viewSnap // the flat state at lastHeight
}

// viewSnap is a snapshot of the flat state that proofs read values from,
// released once it is retired and no proof view uses it.
type viewSnap struct {
	snap    *leveldb.Snapshot
	refs    int
	retired bool
	mu      sync.Mutex
}

func (v *viewSnap) acquire() { v.mu.Lock(); v.refs++; v.mu.Unlock() }

func (v *viewSnap) release() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.refs--
	if v.retired && v.refs == 0 {
		v.snap.Release()
	}
}

func (v *viewSnap) retire() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.retired = true
	if v.refs == 0 {
		v.snap.Release()
	}
}

// journalEntry is a commit's journal as the store keeps it.
type journalEntry struct {
	height int64
	data   []byte
}

// openTree opens the tree that holds the committed state's version as of the
// last save; journals are the commit batches' records of the blocks since
// (and maybe some before it, which a crash kept from being dropped): those of
// version are applied again to the working tree, unsaved.
func openTree(db *leveldb.DB, version, height int64, journals []journalEntry, appHash []byte) (*tree, error) {
	t := iavl.NewMutableTree(treeDB{db, newFreeBatches()}, treeCacheSize, true, iavl.NewNopLogger(),
		iavl.AsyncPruningOption(true), iavl.FlushThresholdOption(64<<20))
	latest, err := t.Load()
	if err != nil {
		return nil, fmt.Errorf("load state tree: %w", err)
	}
	var mine []journalEntry // the journals of version, when the tree has not saved it
	if latest == version-1 {
		for _, j := range journals {
			// Compared unsigned: a damaged version past int64's range is not
			// taken for an old one and dropped.
			if v, n := binary.Uvarint(j.data); n > 0 && v == uint64(version) {
				mine = append(mine, j)
			} else if n <= 0 || v > uint64(version) {
				t.Close()
				return nil, fmt.Errorf("state database: the journal of block %d is damaged: restore it from a backup, or remove it to rebuild the state by replaying the chain", j.height)
			}
		}
	}
	switch {
	case latest > version && version == 0:
		// A crash before the genesis commit: the tree has nothing to keep.
		t.Close()
		if err := dropTree(db); err != nil {
			return nil, err
		}
		return openTree(db, 0, 0, nil, nil)
	case latest == version-1 && len(mine) > 0:
		// A stop (or crash) after the commits of blocks the tree had not
		// saved yet: they go back to the working tree, to be saved where
		// every validator saves them.
		data := make([][]byte, len(mine))
		for i, j := range mine {
			data[i] = j.data
		}
		if err := redo(t, version, data, appHash); err != nil {
			t.Close()
			return nil, err
		}
		// A save the rule had due that the stop cut short is made now, where
		// every other validator made it.
		last := mine[len(mine)-1]
		_, writes, _ := journalHead(last.data)
		if saveDue(len(mine), int(writes), height == last.height) {
			if _, v, err := t.SaveVersion(); err != nil || v != version {
				t.Close()
				return nil, fmt.Errorf("state database: save state tree version %d: saved %d: %v", version, v, err)
			}
			mine = nil
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
	tr := &tree{t: t, db: db}
	if len(mine) > 0 {
		// The values of the saved version's height are gone from the flat
		// state: proofs resume at the next save.
		for _, j := range mine {
			tr.unsaved = append(tr.unsaved, j.data)
			tr.unsavedHeights = append(tr.unsavedHeights, j.height)
		}
	} else if err := tr.setLast(version, height); err != nil {
		t.Close()
		return nil, err
	}
	if len(mine) < len(journals) {
		// Journals of versions the tree holds: done with.
		b := new(leveldb.Batch)
		for _, j := range journals {
			if !slices.ContainsFunc(mine, func(m journalEntry) bool { return m.height == j.height }) {
				b.Delete(journalKey(j.height))
			}
		}
		if err := db.Write(b, &opt.WriteOptions{Sync: true}); err != nil {
			t.Close()
			return nil, err
		}
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

// setLast makes version, which holds the state of height, the one proofs
// are made at, with the flat state as it is now (call it between commits).
func (tr *tree) setLast(version, height int64) error {
	snap, err := tr.db.GetSnapshot()
	if err != nil {
		return err
	}
	return tr.setLastAt(version, height, snap)
}

// setLastAt is setLast with the flat state of height in snap, which it owns.
func (tr *tree) setLastAt(version, height int64, snap *leveldb.Snapshot) error {
	var im *iavl.ImmutableTree
	if version != 0 {
		var err error
		if im, err = tr.t.GetImmutable(version); err != nil {
			snap.Release()
			return fmt.Errorf("state tree version %d: %w", version, err)
		}
	}
	if tr.lastSnap != nil {
		tr.lastSnap.retire()
	}
	tr.last, tr.lastHeight, tr.lastSnap = im, height, &viewSnap{snap: snap}
	return nil
}

func (tr *tree) close() {
	tr.wait() // its error was reported to the commit that follows, if any
	tr.mu.Lock()
	if tr.lastSnap != nil {
		tr.lastSnap.retire()
		tr.lastSnap = nil
	}
	tr.mu.Unlock()
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

// root is the committed root, the app hash: that of the working tree, which
// holds the blocks committed since the last save. Call it between commits.
func (tr *tree) root() []byte { return tr.t.WorkingHash() }

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
	tr.journal = binary.AppendUvarint(tr.journal, uint64(w.Len())) // for the save rule, after a restart
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
	if !tr.staged {
		return
	}
	// Rollback drops every write since the last save: those of the
	// committed blocks not saved yet come back from their journals.
	tr.t.Rollback()
	tr.staged = false
	for _, j := range tr.unsaved {
		if err := apply(tr.t, j); err != nil {
			panic(&kv.StorageError{Op: "state tree", Err: err})
		}
	}
}

// pending returns the version that will hold the staged state and, if the
// block changed the tree, the journal of its writes (nil otherwise). Call it
// after stage.
func (tr *tree) pending() (version int64, journal []byte) {
	if !tr.staged || !tr.stagedChanges {
		if len(tr.unsaved) > 0 {
			return tr.t.Version() + 1, nil
		}
		return tr.t.Version(), nil
	}
	return tr.t.Version() + 1, tr.journal
}

// commit ends the commit of height, whose state the tree will hold as
// version: it saves the tree in the background when the rule above says so,
// and otherwise keeps the block's journal for the next save. It unlocks mu,
// which the caller holds, when the save it starts ends (at once when it
// starts none).
func (tr *tree) commit(version, height int64) {
	changed := tr.staged && tr.stagedChanges
	writes := tr.stagedLen
	tr.staged = false
	if changed {
		tr.unsaved = append(tr.unsaved, bytes.Clone(tr.journal))
		tr.unsavedHeights = append(tr.unsavedHeights, height)
	}
	switch {
	case len(tr.unsaved) == 0:
		// Nothing to save: the last version holds this height's state too.
		tr.saveErr = tr.committed(version, height, nil)
		tr.mu.Unlock()
	case saveDue(len(tr.unsaved), writes, changed):
		tr.startSave(version, height)
	default:
		tr.mu.Unlock()
	}
}

// saved reports whether the tree has saved (or is saving) the last
// committed state. Call it between commits.
func (tr *tree) saved() bool { return len(tr.unsaved) == 0 }

// startSave saves the working tree, which holds the committed state of
// height, as version in the background, then unlocks mu. The caller holds mu,
// and nothing is staged.
func (tr *tree) startSave(version, height int64) {
	snap, err := tr.db.GetSnapshot() // the flat state of height: no commit comes before the save ends
	if err != nil {
		tr.saveErr = fmt.Errorf("save version %d: %w", version, err)
		tr.mu.Unlock()
		return
	}
	heights := tr.unsavedHeights
	tr.unsaved, tr.unsavedHeights = nil, nil
	done := make(chan struct{})
	tr.saving = done
	go func() {
		defer close(done)
		defer tr.mu.Unlock()
		if testHookSave != nil && !testHookSave() {
			snap.Release()
			return
		}
		if _, v, err := tr.t.SaveVersion(); err != nil {
			tr.saveErr = fmt.Errorf("save version %d: %w", version, err)
			snap.Release()
			return
		} else if v != version {
			tr.saveErr = fmt.Errorf("saved version %d, the commit recorded %d", v, version)
			snap.Release()
			return
		}
		if tr.saveErr = tr.committed(version, height, snap); tr.saveErr != nil {
			return
		}
		b := new(leveldb.Batch)
		for _, h := range heights {
			b.Delete(journalKey(h))
		}
		if err := tr.db.Write(b, nil); err != nil {
			tr.saveErr = fmt.Errorf("drop the journals of version %d: %w", version, err)
		}
	}()
}

// testHookSave, set by tests, runs before a background save; false skips it
// (the process died after the commit batch).
var testHookSave func() bool

// apply applies a journal's writes to the working tree.
func apply(t *iavl.MutableTree, journal []byte) error {
	_, writes, rest := journalHead(journal)
	if writes < 0 {
		return errBadJournal
	}
	for j := rest; len(j) > 0; {
		l, n := binary.Uvarint(j)
		if n <= 0 || uint64(len(j)-n) < l+1 {
			return errBadJournal
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
			return errBadJournal
		}
		if err != nil {
			return err
		}
	}
	return nil
}

var errBadJournal = errors.New("journal does not decode")

// journalHead returns a journal's version, its block's write count (-1 if
// the journal does not decode) and its entries.
func journalHead(journal []byte) (version, writes int64, entries []byte) {
	v, n := binary.Uvarint(journal)
	if n <= 0 {
		return 0, -1, nil
	}
	w, m := binary.Uvarint(journal[n:])
	if m <= 0 || w > 1<<40 {
		return 0, -1, nil
	}
	return int64(v), int64(w), journal[n+m:]
}

// saveDue is the save rule: after a block that changed the tree, the unsaved
// blocks now being unsaved, of which the last had writes writes, or after a
// block that changed nothing (changed false).
func saveDue(unsaved int, writes int, changed bool) bool {
	return unsaved > 0 && (!changed || unsaved >= saveEvery || writes < lightBlock)
}

// redo applies the journals of the blocks version will hold, oldest first,
// to the working tree at the version before, and checks that they give the
// committed app hash. It does not save: the blocks are saved where every
// validator saves them (the rule above).
func redo(t *iavl.MutableTree, version int64, journals [][]byte, appHash []byte) error {
	bad := fmt.Errorf("state database: the journal of state tree version %d is damaged: restore it from a backup, or remove it to rebuild the state by replaying the chain", version)
	for _, journal := range journals {
		if v, writes, _ := journalHead(journal); writes < 0 || v != version {
			return bad
		}
		if err := apply(t, journal); errors.Is(err, errBadJournal) {
			t.Rollback()
			return bad
		} else if err != nil {
			t.Rollback()
			return fmt.Errorf("state database: redo state tree version %d: %w", version, err)
		}
	}
	if root := t.WorkingHash(); !bytes.Equal(root, appHash) {
		t.Rollback()
		return fmt.Errorf("state database: the journal of state tree version %d gives the root %X, not the committed app hash %X: restore it from a backup, or remove it to rebuild the state by replaying the chain", version, root, appHash)
	}
	return nil
}

// committed makes version, which holds the state of height, the one proofs
// are made at, with the flat state of height in snap (nil: the version and
// the values proofs read are those of the last save, unchanged), and prunes
// the tree behind it. Its caller holds mu.
func (tr *tree) committed(version, height int64, snap *leveldb.Snapshot) error {
	if snap == nil || tr.last != nil && tr.last.Version() == version {
		if snap != nil {
			snap.Release()
		}
		tr.lastHeight = height
		return nil
	}
	if err := tr.setLastAt(version, height, snap); err != nil {
		return err
	}
	if version > keepVersions {
		return tr.t.DeleteVersionsTo(version - keepVersions)
	}
	return nil
}

// ProofView runs fn over the state at the height Prove proves at (the last
// the tree saved), so that what fn reads matches what is proved while that
// version is the last: a builder of evidence reads and proves from it.
func (s *Store) ProofView(fn func(r kv.Reader, height int64) error) error {
	s.tree.mu.RLock()
	v, h := s.tree.lastSnap, s.tree.lastHeight
	if v == nil || s.tree.last == nil {
		unsaved := len(s.tree.unsavedHeights) > 0
		s.tree.mu.RUnlock()
		if unsaved {
			return ErrNotSaved
		}
		return ErrNoState
	}
	v.acquire()
	s.tree.mu.RUnlock()
	defer v.release()
	return fn(snapshot{v.snap}, h)
}

// ErrLeftOut is returned by Prove for a key the tree leaves out (LeaveOut).
var ErrLeftOut = errors.New("store: the key is an index the state tree leaves out, derived from the records it holds: prove those instead")

// ErrNotSaved is returned by Prove when the state tree holds no saved
// version whose values the node still has: before its first save under
// load, and after a restart until its next save (within saveEvery blocks).
var ErrNotSaved = errors.New("store: the state tree has not saved a version of the committed blocks yet: proofs resume at its next save, within a few blocks")

// ErrNoState is returned by Prove before the first commit.
var ErrNoState = errors.New("store: no committed state to prove")

// Prove returns, for key at the last height the tree saved, its value (nil
// if the key is absent) and an ICS23 commitment proof, in its protobuf
// encoding, of the key holding SHA-256(value), or of its absence, under the
// app hash of that height. Keys of the store's own (meta, local) are
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
	height = s.tree.lastHeight
	if err := s.tree.saveErr; err != nil {
		return nil, height, nil, fmt.Errorf("store: the state tree was not saved: %w", err)
	}
	im := s.tree.last
	if im == nil && len(s.tree.unsavedHeights) > 0 {
		return nil, height, nil, ErrNotSaved
	}
	if im == nil {
		return nil, height, nil, ErrNoState
	}
	if key[0] != 0 {
		value = get(s.tree.lastSnap.snap.Get, key)
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
