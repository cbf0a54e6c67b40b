package store

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	ics23 "github.com/cosmos/ics23/go"
)

// BenchmarkTravellerBatchProof sizes one ICS23 batch proof, compressed, of
// every record of a VM with 1,000 migrations (its record, its 1,000
// migrations among 50,000, its 1,001 hosting intervals) in a state of about
// 100,000 keys, against one proof a record; and times its verification. It
// is the state-proof half of a bundle shaped around state proofs at one
// height (docs/BENCHMARKS.md, "Evidence export").
//
//	go test ./store -run '^$' -bench TravellerBatchProof -benchtime 1x
func BenchmarkTravellerBatchProof(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const migrations, every = 1000, 50 // the traveller's are one migration in 50
	var keys [][]byte
	h := int64(0)
	n := 0
	put := func(k, v string) {
		s.Working().Set([]byte(k), []byte(v))
		if n++; n%2000 == 0 {
			if _, err := s.Commit(h, time.Unix(h, 0)); err != nil {
				b.Fatal(err)
			}
			h++
		}
	}
	record := func(kind string, i int) string { return fmt.Sprintf(`{"%s":%d,"pad":"%0600d"}`, kind, i, i) }
	for seq := 1; seq <= migrations*every; seq++ {
		k := fmt.Sprintf("m/%016x", seq)
		put(k, record("migration", seq))
		if seq%every == 0 {
			keys = append(keys, []byte(k))
		} else {
			put(fmt.Sprintf("h/vm-%06d/%08x", seq%20000, seq), record("interval", seq))
		}
	}
	for i := 0; i <= migrations; i++ {
		k := fmt.Sprintf("h/traveller/%08x", i)
		put(k, record("interval", i))
		keys = append(keys, []byte(k))
	}
	put("v/traveller", record("vm", 0))
	keys = append(keys, []byte("v/traveller"))
	if _, err := s.Commit(h, time.Unix(h, 0)); err != nil {
		b.Fatal(err)
	}
	s.Wait()
	_, root, _ := s.Last()
	for b.Loop() {
		proofs := make([]*ics23.CommitmentProof, len(keys))
		items := make(map[string][]byte, len(keys))
		single, values := 0, 0
		for i, k := range keys {
			v, _, p, err := s.Prove(k)
			if err != nil {
				b.Fatal(err)
			}
			single += len(p)
			values += len(v)
			var cp ics23.CommitmentProof
			if err := cp.Unmarshal(p); err != nil {
				b.Fatal(err)
			}
			proofs[i] = &cp
			d := sha256.Sum256(v)
			items[string(k)] = d[:]
		}
		batch, err := ics23.CombineProofs(proofs)
		if err != nil {
			b.Fatal(err)
		}
		compressed := ics23.Compress(batch)
		raw, err := compressed.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		var decoded ics23.CommitmentProof
		if err := decoded.Unmarshal(raw); err != nil {
			b.Fatal(err)
		}
		if !ics23.BatchVerifyMembership(ics23.IavlSpec, root, &decoded, items) {
			b.Fatal("the batch proof does not verify")
		}
		verify := time.Since(start)
		b.ReportMetric(float64(len(keys)), "records")
		b.ReportMetric(float64(single), "single-proof-bytes")
		b.ReportMetric(float64(len(raw)), "batch-proof-bytes")
		b.ReportMetric(float64(values), "value-bytes")
		b.ReportMetric(float64(verify.Microseconds())/1000, "verify-ms")
	}
}
