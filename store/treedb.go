package store

import (
	"bytes"
	"errors"

	idb "github.com/cosmos/iavl/db"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/iterator"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// treePrefix starts the keys of the state's Merkle tree (IAVL nodes) in the
// store's goleveldb. Like the store's meta keys it sorts before every key of
// the ledger, which are printable.
var treePrefix = []byte("\x00tree/")

// treeDB is IAVL's database interface over the store's goleveldb, every key
// under treePrefix. Close does nothing: the store owns the database.
type treeDB struct {
	db   *leveldb.DB
	free chan *leveldb.Batch // batch buffers to reuse (newFreeBatches; nil: none)
}

var _ idb.DB = treeDB{}

func treeKey(k []byte) []byte { return append(bytes.Clone(treePrefix), k...) }

func (t treeDB) Get(k []byte) ([]byte, error) {
	v, err := t.db.Get(treeKey(k), nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

func (t treeDB) Has(k []byte) (bool, error) { return t.db.Has(treeKey(k), nil) }

func (t treeDB) rangeOf(start, end []byte) *util.Range {
	r := util.BytesPrefix(treePrefix)
	if start != nil {
		r.Start = treeKey(start)
	}
	if end != nil {
		r.Limit = treeKey(end)
	}
	return r
}

func (t treeDB) Iterator(start, end []byte) (idb.Iterator, error) {
	it := &treeIter{it: t.db.NewIterator(t.rangeOf(start, end), nil), start: start, end: end}
	it.valid = it.it.First()
	return it, nil
}

func (t treeDB) ReverseIterator(start, end []byte) (idb.Iterator, error) {
	it := &treeIter{it: t.db.NewIterator(t.rangeOf(start, end), nil), start: start, end: end, reverse: true}
	it.valid = it.it.Last()
	return it, nil
}

func (t treeDB) Close() error { return nil }

func (t treeDB) NewBatch() idb.Batch {
	select {
	case b := <-t.free:
		return &treeBatch{db: t.db, free: t.free, b: b}
	default:
		return &treeBatch{db: t.db, free: t.free, b: new(leveldb.Batch)}
	}
}

// newFreeBatches returns the free list of a treeDB: the buffers of written
// tree batches. A block's batch holds thousands of nodes, and growing a new
// one for each block was a fifth of the bytes a node allocated.
func newFreeBatches() chan *leveldb.Batch { return make(chan *leveldb.Batch, 2) }

// release puts b on the free list, unless the list is full (or absent) or b
// is larger than a block's batch (a pruning sweep, an import): those are
// left to the collector.
func release(free chan *leveldb.Batch, b *leveldb.Batch) {
	if len(b.Dump()) > 16<<20 {
		return
	}
	b.Reset()
	select {
	case free <- b:
	default:
	}
}

func (t treeDB) NewBatchWithSize(int) idb.Batch { return t.NewBatch() }

type treeIter struct {
	it         iterator.Iterator
	start, end []byte
	reverse    bool
	valid      bool
}

func (i *treeIter) Domain() ([]byte, []byte) { return i.start, i.end }
func (i *treeIter) Valid() bool              { return i.valid }
func (i *treeIter) Key() []byte              { return bytes.Clone(i.it.Key()[len(treePrefix):]) }
func (i *treeIter) Value() []byte            { return bytes.Clone(i.it.Value()) }
func (i *treeIter) Error() error             { return i.it.Error() }
func (i *treeIter) Close() error             { i.it.Release(); return nil }

func (i *treeIter) Next() {
	if !i.valid {
		panic("store: tree iterator is not valid")
	}
	if i.reverse {
		i.valid = i.it.Prev()
	} else {
		i.valid = i.it.Next()
	}
}

// treeBatch is written unsynced: the store's synced commit batch, written
// after it to the same journal, makes it durable.
type treeBatch struct {
	db   *leveldb.DB
	free chan *leveldb.Batch
	b    *leveldb.Batch
}

func (b *treeBatch) Set(k, v []byte) error {
	if b.b == nil {
		return errors.New("store: tree batch closed")
	}
	b.b.Put(treeKey(k), v)
	return nil
}

func (b *treeBatch) Delete(k []byte) error {
	if b.b == nil {
		return errors.New("store: tree batch closed")
	}
	b.b.Delete(treeKey(k))
	return nil
}

func (b *treeBatch) Write() error {
	if b.b == nil {
		return errors.New("store: tree batch closed")
	}
	err := b.db.Write(b.b, nil)
	release(b.free, b.b)
	b.b = nil
	return err
}

func (b *treeBatch) WriteSync() error { return b.Write() }

func (b *treeBatch) Close() error {
	if b.b != nil {
		release(b.free, b.b)
		b.b = nil
	}
	return nil
}

func (b *treeBatch) GetByteSize() (int, error) {
	if b.b == nil {
		return 0, errors.New("store: tree batch closed")
	}
	return len(b.b.Dump()), nil
}
