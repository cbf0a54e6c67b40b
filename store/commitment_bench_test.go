package store

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cosmos/iavl"
	"github.com/lazyledger/smt"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

// The two candidate commitments compared before choosing IAVL
// (docs/DESIGN.md, "State, store and app hash"): IAVL (github.com/cosmos/iavl,
// what the store uses) and a sparse Merkle tree (github.com/lazyledger/smt),
// each on goleveldb, each mapping a key to the SHA-256 of its value. A block
// sets `writes` keys (four in five already there, as a block of migrations
// updates VMs and clouds and adds replay and migration keys) in a state of
// `keys` keys; its cost is the tree's update, its root and its write to
// goleveldb. Then the proof of one key. Run (about five minutes):
//   go test -run '^$' -bench Commitment -benchtime 20x ./store

type candidate interface {
	set(k, digest []byte)
	commit() []byte // root; the block's nodes written
	proofSize(k []byte) int
}

type iavlCandidate struct{ t *iavl.MutableTree }

func (c *iavlCandidate) set(k, d []byte) {
	if _, err := c.t.Set(k, d); err != nil {
		panic(err)
	}
}

func (c *iavlCandidate) commit() []byte {
	h, _, err := c.t.SaveVersion()
	if err != nil {
		panic(err)
	}
	return h
}

func (c *iavlCandidate) proofSize(k []byte) int {
	im, err := c.t.GetImmutable(c.t.Version())
	if err != nil {
		panic(err)
	}
	p, err := im.GetMembershipProof(k)
	if err != nil {
		panic(err)
	}
	bz, _ := p.Marshal()
	return len(bz)
}

// smtStore is smt's MapStore on goleveldb, writes held until the block's end.
type smtStore struct {
	db      *leveldb.DB
	pending map[string][]byte
}

func (s *smtStore) Get(k []byte) ([]byte, error) {
	if v, ok := s.pending[string(k)]; ok {
		return v, nil
	}
	v, err := s.db.Get(k, nil)
	if err != nil {
		return nil, &smt.InvalidKeyError{Key: k}
	}
	return v, nil
}

func (s *smtStore) Set(k, v []byte) error { s.pending[string(k)] = v; return nil }
func (s *smtStore) Delete(k []byte) error { delete(s.pending, string(k)); return nil }

type smtCandidate struct {
	t  *smt.SparseMerkleTree
	st *smtStore
}

func (c *smtCandidate) set(k, d []byte) {
	if _, err := c.t.Update(k, d); err != nil {
		panic(err)
	}
}

func (c *smtCandidate) commit() []byte {
	b := new(leveldb.Batch)
	for k, v := range c.st.pending {
		b.Put([]byte(k), v)
	}
	if err := c.st.db.Write(b, nil); err != nil {
		panic(err)
	}
	c.st.pending = map[string][]byte{}
	return c.t.Root()
}

func (c *smtCandidate) proofSize(k []byte) int {
	p, err := c.t.ProveCompact(k)
	if err != nil {
		panic(err)
	}
	n := len(p.NonMembershipLeafData) + len(p.BitMask) + len(p.SiblingData) + 8
	for _, s := range p.SideNodes {
		n += len(s)
	}
	return n
}

func benchKey(i int) []byte { return binary.BigEndian.AppendUint64([]byte("m/"), uint64(i)) }

func benchDigest(i, round int) []byte {
	d := sha256.Sum256(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(i)), uint64(round)))
	return d[:]
}

func BenchmarkCommitment(b *testing.B) {
	for _, keys := range []int{100_000, 1_000_000} {
		for _, name := range []string{"iavl", "smt"} {
			b.Run(fmt.Sprintf("%s/keys=%d/writes=1000", name, keys), func(b *testing.B) {
				db, err := leveldb.OpenFile(b.TempDir(), &opt.Options{WriteBuffer: 16 << 20, BlockCacheCapacity: 32 << 20, Filter: filter.NewBloomFilter(10)})
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				var c candidate
				if name == "iavl" {
					t := iavl.NewMutableTree(treeDB{db: db}, treeCacheSize, true, iavl.NewNopLogger(), iavl.FlushThresholdOption(64<<20))
					defer t.Close()
					c = &iavlCandidate{t}
				} else {
					st := &smtStore{db: db, pending: map[string][]byte{}}
					c = &smtCandidate{smt.NewSparseMerkleTree(st, sha256.New()), st}
				}
				for i := 0; i < keys; i++ {
					c.set(benchKey(i), benchDigest(i, 0))
					if i%10_000 == 9_999 {
						c.commit()
					}
				}
				c.commit()
				rng := rand.New(rand.NewPCG(1, 2))
				next, round := keys, 0
				b.ResetTimer()
				for b.Loop() {
					round++
					for w := 0; w < 1000; w++ {
						i := rng.IntN(next)
						if w%5 == 4 {
							i, next = next, next+1
						}
						c.set(benchKey(i), benchDigest(i, round))
					}
					c.commit()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/write")
				b.StopTimer()
				start, size := time.Now(), 0
				for i := 0; i < 100; i++ {
					size += c.proofSize(benchKey(i * keys / 100))
				}
				b.ReportMetric(float64(time.Since(start).Nanoseconds())/100, "proof-ns")
				b.ReportMetric(float64(size)/100, "proof-bytes")
			})
		}
	}
}

// BenchmarkProve is the proof of one record at 100k keys, through the store.
func BenchmarkProve(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	v := make([]byte, 300)
	for h := 0; h < 10; h++ {
		for i := 0; i < 10_000; i++ {
			s.Working().Set(benchKey(h*10_000+i), v)
		}
		s.Commit(int64(h), time.Unix(int64(h), 0))
	}
	n := 0
	for b.Loop() {
		_, _, p, err := s.Prove(benchKey(n % 100_000))
		if err != nil {
			b.Fatal(err)
		}
		n += 7919
		b.ReportMetric(float64(len(p)), "proof-bytes")
	}
}
