package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cosmos/iavl"
	idb "github.com/cosmos/iavl/db"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/bbusdev/bbus/kv"
)

// A state snapshot is the state tree of one committed height, exported node
// by node in IAVL's order (depth first, children before their parent), so
// that an empty store rebuilds the very same tree and so the same root: a
// leaf carries its ledger key and value (the tree holds the value's SHA-256,
// recomputed on restore), an inner node its key, height and version. Leaves
// come in key order. The snapshot is cut into chunks of at most a given
// size; each chunk is a sequence of records
//
//	height (1 byte, 0 for a leaf) | version (uvarint) | key length (uvarint) | key
//	[leaf only] value length (uvarint) | value
//
// and a record never spans two chunks.

// Export is a consistent read view of the committed state at one height,
// from which a snapshot is written without holding up later commits.
// Release it when done.
type Export struct {
	Height      int64
	AppHash     []byte
	Time        time.Time
	TreeVersion int64

	snap *leveldb.Snapshot
}

// Export returns a read view of the state as last committed, which the
// state tree must have saved (Saved; else ErrNotSavedHere). Call it on the
// goroutine that commits (between two commits); writing the snapshot from it
// may then run in the background.
func (s *Store) Export() (*Export, error) {
	if !s.tree.saved() {
		return nil, ErrNotSavedHere
	}
	if err := s.Wait(); err != nil {
		return nil, fmt.Errorf("store: snapshot view: %w", err)
	}
	snap, err := s.db.GetSnapshot()
	if err != nil {
		return nil, fmt.Errorf("store: snapshot view: %w", err)
	}
	e := &Export{snap: snap}
	e.Height, e.AppHash, e.Time = s.Last()
	if e.AppHash == nil {
		snap.Release()
		return nil, errors.New("store: no committed state to export")
	}
	tv, err := snap.Get(metaTree, nil)
	if err != nil {
		snap.Release()
		return nil, fmt.Errorf("store: snapshot view: tree version: %w", err)
	}
	e.TreeVersion = int64(binary.BigEndian.Uint64(tv))
	return e, nil
}

// ErrNotSavedHere is returned by Export at a height whose state the tree
// has not saved (under load it saves every few blocks: tree.go).
var ErrNotSavedHere = errors.New("store: the state tree did not save this height's state: export at a height it saved")

// Release frees the read view.
func (e *Export) Release() { e.snap.Release() }

// Chunks writes the snapshot, calling emit with each chunk of at most
// maxBytes (a single record larger than that gets a chunk of its own). The
// chunk passed to emit is not used again by Chunks.
func (e *Export) Chunks(maxBytes int, emit func(chunk []byte) error) error {
	t := iavl.NewMutableTree(snapTreeDB{e.snap}, 10_000, true, iavl.NewNopLogger())
	im, err := t.GetImmutable(e.TreeVersion)
	if err != nil {
		return fmt.Errorf("store: export tree version %d: %w", e.TreeVersion, err)
	}
	if !bytes.Equal(im.Hash(), e.AppHash) {
		return fmt.Errorf("store: export: tree version %d has root %X, the app hash is %X", e.TreeVersion, im.Hash(), e.AppHash)
	}
	if im.Size() == 0 {
		return emit([]byte{})
	}
	ex, err := im.Export()
	if err != nil {
		return fmt.Errorf("store: export: %w", err)
	}
	defer ex.Close()
	var chunk []byte
	for {
		n, err := ex.Next()
		if errors.Is(err, iavl.ErrorExportDone) {
			break
		}
		if err != nil {
			return fmt.Errorf("store: export: %w", err)
		}
		var rec []byte
		rec = append(rec, byte(n.Height))
		rec = binary.AppendUvarint(rec, uint64(n.Version))
		rec = binary.AppendUvarint(rec, uint64(len(n.Key)))
		rec = append(rec, n.Key...)
		if n.Height == 0 {
			v, err := e.snap.Get(n.Key, nil)
			if err != nil {
				return fmt.Errorf("store: export: value of %q: %w", n.Key, err)
			}
			if d := sha256.Sum256(v); !bytes.Equal(d[:], n.Value) {
				return fmt.Errorf("store: export: the value of %q does not match its leaf", n.Key)
			}
			rec = binary.AppendUvarint(rec, uint64(len(v)))
			rec = append(rec, v...)
		}
		if len(chunk) > 0 && len(chunk)+len(rec) > maxBytes {
			if err := emit(chunk); err != nil {
				return err
			}
			chunk = nil
		}
		chunk = append(chunk, rec...)
	}
	return emit(chunk)
}

// Restore rebuilds the state of a snapshot into an empty store. Add the
// chunks in order, then Finish; Abort (or a failed Finish) leaves the store
// empty again.
type Restore struct {
	s           *Store
	height      int64
	treeVersion int64
	time        time.Time
	imp         *iavl.Importer
	nodes       int64
	// The key range and height of each subtree the importer holds
	// unresolved: an inner node's key is not in its hash, so a snapshot
	// could rebuild the right root over keys that misroute every lookup;
	// Add checks each inner node's key is its right subtree's first key.
	stack []subtree
}

type subtree struct {
	first, last []byte
	height      int8
}

// ErrNotEmpty is returned by BeginRestore for a store that holds a state.
var ErrNotEmpty = errors.New("store: a snapshot is restored only into an empty state")

// BeginRestore starts restoring the snapshot of height, whose tree is at
// treeVersion and whose block time is blockTime.
func (s *Store) BeginRestore(height, treeVersion int64, blockTime time.Time) (*Restore, error) {
	if err := s.Wait(); err != nil {
		return nil, err
	}
	if h, hash, _ := s.Last(); h != 0 || hash != nil || s.tree.t.Version() != 0 {
		return nil, ErrNotEmpty
	}
	if height < 1 || treeVersion < 1 || treeVersion > height+1 {
		return nil, fmt.Errorf("store: snapshot of height %d with tree version %d is not possible", height, treeVersion)
	}
	s.Discard()
	// Nothing was committed, but a restore cut short (the node stopped
	// mid-way) may have left values and tree nodes behind.
	if err := wipe(s.db); err != nil {
		return nil, fmt.Errorf("store: restore: %w", err)
	}
	s.tree.close()
	t, err := openTree(s.db, 0, 0, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("store: restore: %w", err)
	}
	s.tree = t
	s.cache.drop()
	imp, err := s.tree.t.Import(treeVersion)
	if err != nil {
		return nil, fmt.Errorf("store: restore: %w", err)
	}
	return &Restore{s: s, height: height, treeVersion: treeVersion, time: blockTime.UTC(), imp: imp}, nil
}

// ErrBadChunk is wrapped by Add's errors for a chunk that does not decode
// into the tree (the snapshot is bad, not the transfer).
var ErrBadChunk = errors.New("store: bad snapshot chunk")

// Add restores one chunk: its tree nodes and the leaves' values.
func (r *Restore) Add(chunk []byte) (err error) {
	defer func() {
		// The importer trusts its input's shape; a malformed one must not
		// take the node down.
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrBadChunk, p)
		}
	}()
	b := new(leveldb.Batch)
	for len(chunk) > 0 {
		height := int8(chunk[0])
		chunk = chunk[1:]
		version, n := binary.Uvarint(chunk)
		if n <= 0 || version < 1 || version > uint64(r.treeVersion) || height < 0 {
			return fmt.Errorf("%w: record %d: version or height out of range", ErrBadChunk, r.nodes)
		}
		chunk = chunk[n:]
		key, rest, ok := field(chunk)
		if !ok || len(key) == 0 || key[0] == 0 {
			return fmt.Errorf("%w: record %d: bad key", ErrBadChunk, r.nodes)
		}
		chunk = rest
		node := &iavl.ExportNode{Key: bytes.Clone(key), Version: int64(version), Height: height}
		if height == 0 {
			v, rest, ok := field(chunk)
			if !ok {
				return fmt.Errorf("%w: record %d: bad value", ErrBadChunk, r.nodes)
			}
			chunk = rest
			d := sha256.Sum256(v)
			node.Value = d[:]
			b.Put(node.Key, v)
		}
		if err := r.check(node); err != nil {
			return fmt.Errorf("%w: record %d: %v", ErrBadChunk, r.nodes, err)
		}
		if err := r.imp.Add(node); err != nil {
			return fmt.Errorf("%w: record %d: %v", ErrBadChunk, r.nodes, err)
		}
		r.nodes++
	}
	if err := r.s.db.Write(b, nil); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	return nil
}

// check keeps the stack of subtrees as the importer builds them, and
// refuses a node that does not fit a search tree: leaves out of key order,
// an inner node without two subtrees below it, or whose key is not the
// first of its right subtree.
func (r *Restore) check(n *iavl.ExportNode) error {
	if n.Height == 0 {
		if k := len(r.stack); k > 0 && bytes.Compare(r.stack[k-1].last, n.Key) >= 0 {
			return fmt.Errorf("leaf %q out of key order", n.Key)
		}
		r.stack = append(r.stack, subtree{first: n.Key, last: n.Key})
		return nil
	}
	k := len(r.stack)
	if k < 2 {
		return errors.New("inner node without two subtrees")
	}
	left, right := r.stack[k-2], r.stack[k-1]
	if left.height >= n.Height || right.height >= n.Height || n.Height != max(left.height, right.height)+1 {
		return errors.New("inner node height does not fit its subtrees")
	}
	if !bytes.Equal(n.Key, right.first) {
		return fmt.Errorf("inner node key %q is not its right subtree's first key %q", n.Key, right.first)
	}
	r.stack = append(r.stack[:k-2], subtree{first: left.first, last: right.last, height: n.Height})
	return nil
}

func field(b []byte) (f, rest []byte, ok bool) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return nil, nil, false
	}
	return b[n : n+int(l)], b[n+int(l):], true
}

// ErrRootMismatch is wrapped by Finish's error when the restored tree's root
// is not the app hash the snapshot had to have.
var ErrRootMismatch = errors.New("store: the restored state's root is not the trusted app hash")

// Finish completes the tree and commits the restored state as height's, if
// and only if the tree's root is appHash (the app hash of the header the
// caller trusts for that height). derive (nil: none) then writes, from the
// restored records, the keys the tree leaves out (Store.LeaveOut), which the
// snapshot does not carry; they are committed with the restored state. On any
// error the store is left empty.
func (r *Restore) Finish(appHash []byte, derive func(kv.Store)) error {
	s := r.s
	if len(r.stack) > 1 {
		r.Abort()
		return fmt.Errorf("%w: the snapshot ends with %d subtrees, not one tree", ErrBadChunk, len(r.stack))
	}
	if err := r.imp.Commit(); err != nil {
		r.Abort()
		return fmt.Errorf("%w: %v", ErrBadChunk, err)
	}
	r.imp = nil
	if root := s.tree.t.Hash(); !bytes.Equal(root, appHash) {
		r.Abort()
		return fmt.Errorf("%w: the snapshot of height %d rebuilds root %X, the header's app hash is %X", ErrRootMismatch, r.height, root, appHash)
	}
	b := new(leveldb.Batch)
	if derive != nil {
		s.cache.drop()
		derive(s.working)
		for _, c := range s.working.Changes() {
			if s.leaveOut == nil || !s.leaveOut(c.Key) || c.Value == nil {
				s.working.Reset()
				r.Abort()
				return fmt.Errorf("store: restore: deriving the indexes wrote %q, which is not a key the tree leaves out", c.Key)
			}
			b.Put(c.Key, c.Value)
		}
		s.working.Reset()
	}
	s.tree.mu.Lock()
	defer s.tree.mu.Unlock()
	b.Put(metaHeight, binary.BigEndian.AppendUint64(nil, uint64(r.height)))
	b.Put(metaAppHash, appHash)
	b.Put(metaTime, binary.BigEndian.AppendUint64(nil, uint64(r.time.UnixNano())))
	b.Put(metaTree, binary.BigEndian.AppendUint64(nil, uint64(r.treeVersion)))
	if err := s.db.Write(b, &opt.WriteOptions{Sync: true}); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	s.cache.drop()
	s.mu.Lock()
	s.height, s.appHash, s.time = r.height, bytes.Clone(appHash), r.time
	s.mu.Unlock()
	if err := s.tree.setLast(r.treeVersion, r.height); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	return nil
}

// Abort drops what the restore wrote, leaving the store empty.
func (r *Restore) Abort() {
	if r.imp != nil {
		r.imp.Close()
		r.imp = nil
	}
	s := r.s
	s.tree.close()
	if err := wipe(s.db); err != nil {
		panic(fmt.Errorf("store: drop a failed restore: %w", err))
	}
	t, err := openTree(s.db, 0, 0, nil, nil)
	if err != nil {
		panic(fmt.Errorf("store: drop a failed restore: %w", err))
	}
	s.tree = t
	s.cache.drop()
}

// wipe deletes every key of db.
func wipe(db *leveldb.DB) error {
	for {
		b := new(leveldb.Batch)
		it := db.NewIterator(&util.Range{}, nil)
		for it.Next() && b.Len() < 10_000 {
			b.Delete(bytes.Clone(it.Key()))
		}
		it.Release()
		if err := it.Error(); err != nil {
			return err
		}
		if b.Len() == 0 {
			return nil
		}
		if err := db.Write(b, &opt.WriteOptions{Sync: true}); err != nil {
			return err
		}
	}
}

// snapTreeDB is IAVL's database interface over a read view of the store's
// goleveldb: the tree as it was when the view was taken. It cannot write.
type snapTreeDB struct{ snap *leveldb.Snapshot }

var _ idb.DB = snapTreeDB{}

func (t snapTreeDB) Get(k []byte) ([]byte, error) {
	v, err := t.snap.Get(treeKey(k), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

func (t snapTreeDB) Has(k []byte) (bool, error) { return t.snap.Has(treeKey(k), nil) }

func (t snapTreeDB) Iterator(start, end []byte) (idb.Iterator, error) {
	it := &treeIter{it: t.snap.NewIterator(treeDB{}.rangeOf(start, end), nil), start: start, end: end}
	it.valid = it.it.First()
	return it, nil
}

func (t snapTreeDB) ReverseIterator(start, end []byte) (idb.Iterator, error) {
	it := &treeIter{it: t.snap.NewIterator(treeDB{}.rangeOf(start, end), nil), start: start, end: end, reverse: true}
	it.valid = it.it.Last()
	return it, nil
}

func (t snapTreeDB) Close() error { return nil }

func (t snapTreeDB) NewBatch() idb.Batch { return readOnlyBatch{} }

func (t snapTreeDB) NewBatchWithSize(int) idb.Batch { return readOnlyBatch{} }

var errReadOnly = errors.New("store: the snapshot view of the state tree is read-only")

type readOnlyBatch struct{}

func (readOnlyBatch) Set(k, v []byte) error     { return errReadOnly }
func (readOnlyBatch) Delete(k []byte) error     { return errReadOnly }
func (readOnlyBatch) Write() error              { return errReadOnly }
func (readOnlyBatch) WriteSync() error          { return errReadOnly }
func (readOnlyBatch) Close() error              { return nil }
func (readOnlyBatch) GetByteSize() (int, error) { return 0, nil }

// drop empties the cache.
func (c *readCache) drop() {
	c.mu.Lock()
	c.gen++
	c.m = nil
	c.mu.Unlock()
}
