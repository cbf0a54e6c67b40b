package store_test

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/bbusdev/bbus/store"
)

// Benchmarks of a block's end on a node: the app hash over the block's writes
// (WorkingHash, in FinalizeBlock) and the synced commit of the batch (Commit),
// on a real folder, so an fsync is in every commit. A block of 1,000 migration
// transactions writes about 5,000 keys of a few hundred bytes. Run:
//   go test -run '^$' -bench . ./store

func stage(s *store.Store, block, writes int) {
	w := s.Working()
	v := make([]byte, 300)
	rand.Read(v)
	for i := 0; i < writes; i++ {
		k := binary.BigEndian.AppendUint64([]byte("m/"), uint64(block*writes+i))
		w.Set(k, v)
	}
}

func benchCommit(b *testing.B, writes int) {
	s, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	h := int64(0)
	for b.Loop() {
		b.StopTimer()
		h++
		stage(s, int(h), writes)
		b.StartTimer()
		if _, err := s.Commit(h, t); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(h)/float64(writes), "ns/write")
}

func BenchmarkCommit(b *testing.B) {
	for _, n := range []int{10, 1000, 5000} {
		b.Run(fmt.Sprintf("writes=%d", n), func(b *testing.B) { benchCommit(b, n) })
	}
}

// BenchmarkWorkingHash is the app hash of a block of 5,000 writes.
func BenchmarkWorkingHash(b *testing.B) {
	s := store.OpenMem()
	defer s.Close()
	stage(s, 0, 5000)
	b.ReportAllocs()
	for b.Loop() {
		s.WorkingHash()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/5000, "ns/write")
}
