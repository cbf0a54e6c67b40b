// Package store keeps the ledger's state in an embedded ordered key-value engine
// (goleveldb) and commits each block's writes, with the block's height, time and
// app hash, in one atomic synced batch.
//
// The app hash is the root of an IAVL Merkle tree (github.com/cosmos/iavl) over
// the ledger's state: every key the ledger wrote, mapped to the SHA-256 of its
// value. The tree lives in the same goleveldb under its own prefix and is the
// commitment only: reads go to the flat keys (and their cache). Prove gives an
// ICS23 proof that a key holds a value, or is absent, at the last committed
// height; package proof verifies it against an app hash. A block that changes
// nothing saves no tree version and leaves the hash as it was.
package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/syndtr/goleveldb/leveldb"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/bbusdev/bbus/kv"
)

// The store's own keys live under a prefix the ledger never uses (its keys are
// printable), so they are outside the hashed state.
var (
	metaHeight  = []byte("\x00meta/height")
	metaAppHash = []byte("\x00meta/app_hash")
	metaTime    = []byte("\x00meta/time")
	// metaTree is the tree version that holds the committed state (versions
	// count the blocks that changed the state, not heights).
	metaTree = []byte("\x00meta/tree_version")
	// metaJournal/<height> records the tree's writes of each commit that
	// changed it and that no saved tree version holds yet: the version, then
	// each key with its value's digest or a removal.
	metaJournal = []byte("\x00meta/tree_journal/")
	// LocalPrefix starts the keys of what a node keeps for itself beside the
	// state (indexes): written with SetLocal, outside the app hash.
	LocalPrefix = []byte("\x00local/")
)

// Store is the committed state plus the block being built on top of it.
type Store struct {
	db      *leveldb.DB
	working *kv.Overlay
	local   []kv.Change // SetLocal's writes for the next commit
	cache   readCache   // of committed reads (cache.go)
	tree    *tree       // the commitment (tree.go)
	// leaveOut picks the keys the tree leaves out (LeaveOut; nil: none).
	leaveOut func(key []byte) bool
	batch    leveldb.Batch // Commit's, reused (its buffer grows to a block's writes once)

	mu      sync.RWMutex // guards the committed meta below
	height  int64
	appHash []byte
	time    time.Time
}

// Open opens (or creates) the store in dir.
func Open(dir string) (*Store, error) {
	db, err := leveldb.OpenFile(dir, &opt.Options{
		WriteBuffer:        16 << 20,
		BlockCacheCapacity: 32 << 20,
		ErrorIfMissing:     false,
		// Most reads in CheckTx look for keys that are not there (a new
		// transaction's replay entry): a Bloom filter answers those without
		// reading a table block.
		Filter: filter.NewBloomFilter(10),
	})
	if err != nil {
		if lerrors.IsCorrupted(err) {
			return nil, fmt.Errorf("state database %s is corrupt (%v): restore it from a backup, or remove it to rebuild the state by replaying the chain", dir, err)
		}
		return nil, fmt.Errorf("open state database %s: %w", dir, err)
	}
	return newStore(db)
}

// OpenMem opens a store held in memory, for tests and tools.
func OpenMem() *Store {
	db, err := leveldb.Open(storage.NewMemStorage(), &opt.Options{Filter: filter.NewBloomFilter(10)})
	if err != nil {
		panic(err)
	}
	s, err := newStore(db)
	if err != nil {
		panic(err)
	}
	return s
}

func newStore(db *leveldb.DB) (*Store, error) {
	s := &Store{db: db}
	s.working = kv.NewOverlay(committed{s})
	version := int64(0)
	var journals []journalEntry
	if v, err := db.Get(metaHeight, nil); err == nil {
		s.height = int64(binary.BigEndian.Uint64(v))
		s.appHash, _ = db.Get(metaAppHash, nil)
		if t, err := db.Get(metaTime, nil); err == nil {
			s.time = time.Unix(0, int64(binary.BigEndian.Uint64(t))).UTC()
		}
		tv, err := db.Get(metaTree, nil)
		if err != nil {
			db.Close()
			return nil, ErrHashChainHome
		}
		version = int64(binary.BigEndian.Uint64(tv))
		it := db.NewIterator(util.BytesPrefix(metaJournal), nil)
		for it.Next() {
			if k := it.Key(); len(k) == len(metaJournal)+8 {
				journals = append(journals, journalEntry{height: int64(binary.BigEndian.Uint64(k[len(metaJournal):])), data: bytes.Clone(it.Value())})
			}
		}
		it.Release()
		if err := it.Error(); err != nil {
			db.Close()
			return nil, fmt.Errorf("read state database: %w", err)
		}
	} else if !errors.Is(err, leveldb.ErrNotFound) {
		db.Close()
		return nil, fmt.Errorf("read state database: %w", err)
	}
	t, err := openTree(db, version, s.height, journals, s.appHash)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.tree = t
	if root := t.root(); s.appHash != nil && !bytes.Equal(root, s.appHash) {
		t.close()
		db.Close()
		return nil, fmt.Errorf("state database: the state tree's root %X at version %d is not the committed app hash %X: restore it from a backup, or remove it to rebuild the state by replaying the chain", root, version, s.appHash)
	}
	return s, nil
}

// ErrHashChainHome is returned by Open for a state written by bbus before the
// state tree (ledger rules version 2 and older, whose app hash was a hash
// chain over write sets): such a home cannot be upgraded in place.
var ErrHashChainHome = errors.New("state database was written by an older bbus whose app hash is a hash chain over write sets (ledger rules version 2 or older), not the root of the state tree: this bbus cannot continue that chain; keep running the older bbus for it, or start a new chain in a new home")

// Close closes the database. Staged writes are dropped.
func (s *Store) Close() error {
	s.tree.close()
	return s.db.Close()
}

// Last returns the height, app hash and block time of the last committed block
// (height 0 and a nil hash for a store that never committed).
func (s *Store) Last() (height int64, appHash []byte, blockTime time.Time) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.height, s.appHash, s.time
}

// Committed returns a reader of the committed state. Reads made through it while
// a commit runs may see either side of it; use View for a consistent picture.
func (s *Store) Committed() kv.Reader { return committed{s} }

// View runs fn over a snapshot of the committed state.
func (s *Store) View(fn func(r kv.Reader) error) error {
	snap, err := s.db.GetSnapshot()
	if err != nil {
		return err
	}
	defer snap.Release()
	return fn(snapshot{snap})
}

// Working returns the state of the block being built: the committed state plus
// the writes staged since the last commit.
func (s *Store) Working() kv.Store { return s.working }

// Discard drops the writes staged since the last commit.
func (s *Store) Discard() {
	s.working.Reset()
	s.local = s.local[:0]
	s.tree.discard()
}

// SetLocal stages a write under LocalPrefix that the next Commit writes in the
// same atomic batch as the block's state but leaves out of the app hash: what
// one node indexes for itself. Committed, it reads like any other key.
func (s *Store) SetLocal(key, value []byte) {
	if !bytes.HasPrefix(key, LocalPrefix) {
		panic(fmt.Sprintf("store: local key %q is not under %q", key, LocalPrefix))
	}
	s.local = append(s.local, kv.Change{Key: bytes.Clone(key), Value: bytes.Clone(value)})
}

// LeaveOut makes the state tree, and so the app hash, proofs and snapshots,
// leave out the keys for which leaveOut is true: indexes derived from the
// records the tree holds (ledger.Derived), which a restore rebuilds
// (Restore.Finish). They are stored and read like any other key. Every node
// of a chain must leave out the same keys; call it before the first block.
func (s *Store) LeaveOut(leaveOut func(key []byte) bool) { s.leaveOut = leaveOut }

// WorkingHash returns the app hash the state will have once the staged writes
// are committed: the root of the tree with them applied. Called after the
// block's last write, it spares Commit the work.
func (s *Store) WorkingHash() []byte {
	return s.tree.stage(s.working, s.leaveOut)
}

// Commit writes the staged writes with the block's height and time, in one
// synced batch, and returns the new app hash. The batch also records the
// tree's writes (a journal of keys and digests); the tree's new version is
// saved after it in the background, off the path of the next block, which
// waits for it only before it changes the tree. A crash before that save
// ends is redone from the journal by the next Open.
func (s *Store) Commit(height int64, blockTime time.Time) ([]byte, error) {
	changes := s.working.Changes()
	hash := s.tree.stage(s.working, s.leaveOut)
	version, journal := s.tree.pending()
	b := &s.batch
	b.Reset()
	for _, c := range changes {
		if c.Value == nil {
			b.Delete(c.Key)
		} else {
			b.Put(c.Key, c.Value)
		}
	}
	for _, c := range s.local {
		b.Put(c.Key, c.Value)
	}
	b.Put(metaHeight, binary.BigEndian.AppendUint64(nil, uint64(height)))
	b.Put(metaAppHash, hash)
	b.Put(metaTime, binary.BigEndian.AppendUint64(nil, uint64(blockTime.UnixNano())))
	b.Put(metaTree, binary.BigEndian.AppendUint64(nil, uint64(version)))
	if journal != nil {
		b.Put(journalKey(height), journal)
	}
	err := s.db.Write(b, &opt.WriteOptions{Sync: true})
	if len(b.Dump()) > maxKeptBatch {
		s.batch = leveldb.Batch{} // an outsized block's buffer is not kept
	}
	if err != nil {
		return nil, fmt.Errorf("commit block %d: %w", height, err)
	}
	s.cache.commit(changes, s.local, []kv.Change{{Key: metaHeight}, {Key: metaAppHash}, {Key: metaTime}, {Key: metaTree}})
	s.working.Reset()
	s.local = s.local[:0]
	// Proofs wait for the save: they read the height and the tree's last
	// version under tree.mu, which the save releases.
	s.tree.mu.Lock()
	s.mu.Lock()
	s.height, s.appHash, s.time = height, hash, blockTime.UTC()
	s.mu.Unlock()
	s.tree.commit(version, height)
	return hash, nil
}

// journalKey is where the journal of the commit of height is kept until the
// tree saves a version that holds it.
func journalKey(height int64) []byte {
	return binary.BigEndian.AppendUint64(bytes.Clone(metaJournal), uint64(height))
}

// Saved reports whether the state tree has saved (or is saving) the last
// committed state, so that Export may be called. Call it between commits.
func (s *Store) Saved() bool { return s.tree.saved() }

// maxKeptBatch bounds the commit batch buffer a store keeps between blocks.
const maxKeptBatch = 16 << 20

// Wait returns once the state tree's background save, if one runs, is done,
// with its error if it failed. Under load the tree saves only every few
// blocks (tree.go); Saved says whether it holds the last commit.
func (s *Store) Wait() error {
	if err := s.tree.wait(); err != nil {
		return fmt.Errorf("state tree: %w", err)
	}
	return nil
}

type iteratorI interface {
	Next() bool
	Key() []byte
	Value() []byte
	Release()
	Error() error
}

func get(get func([]byte, *opt.ReadOptions) ([]byte, error), key []byte) []byte {
	v, err := get(key, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil
	}
	if err != nil {
		panic(&kv.StorageError{Op: "read", Err: err})
	}
	return v
}

func iterate(it iteratorI, fn func(k, v []byte) bool) {
	defer it.Release()
	for it.Next() {
		if !fn(it.Key(), it.Value()) {
			break
		}
	}
	if err := it.Error(); err != nil {
		panic(&kv.StorageError{Op: "iterate", Err: err})
	}
}

func rangeOf(prefix, start []byte) *util.Range {
	r := util.BytesPrefix(prefix)
	if start != nil && bytes.Compare(start, r.Start) > 0 {
		r.Start = start
	}
	return r
}

type committed struct{ s *Store }

func (c committed) Get(key []byte) []byte { return c.s.cache.get(key, c.read) }

func (c committed) read(key []byte) []byte { return get(c.s.db.Get, key) }

func (c committed) Iterate(prefix, start []byte, fn func(k, v []byte) bool) {
	iterate(c.s.db.NewIterator(rangeOf(prefix, start), nil), fn)
}

// IterateRange implements kv.Ranger: the database iterator is bounded, so it
// stops at end without walking over deleted entries beyond it.
func (c committed) IterateRange(start, end []byte, fn func(k, v []byte) bool) {
	iterate(c.s.db.NewIterator(&util.Range{Start: start, Limit: end}, nil), fn)
}

type snapshot struct{ snap *leveldb.Snapshot }

func (s snapshot) Get(key []byte) []byte { return get(s.snap.Get, key) }

func (s snapshot) Iterate(prefix, start []byte, fn func(k, v []byte) bool) {
	iterate(s.snap.NewIterator(rangeOf(prefix, start), nil), fn)
}

// IterateRange implements kv.Ranger.
func (s snapshot) IterateRange(start, end []byte, fn func(k, v []byte) bool) {
	iterate(s.snap.NewIterator(&util.Range{Start: start, Limit: end}, nil), fn)
}
