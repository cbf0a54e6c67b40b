package evidence_test

import (
	"testing"
	"time"

	"github.com/bbusdev/bbus/evidence"
)

// FuzzVerify feeds Verify bundles derived from a real one: whatever the
// bytes, it returns a report or an error, and never panics.
//
//	go test ./evidence -run '^$' -fuzz FuzzVerify -fuzztime 90s -fuzzminimizetime 1s
//
// (minimizing an input found in the 15 KB seed takes a minute by default).
func FuzzVerify(f *testing.F) {
	genesis := readTestdata(f, "genesis.json")
	f.Add(readTestdata(f, "vm-1.json"))
	f.Add([]byte(`{"format":"bbus-evidence/3"}`))
	f.Add([]byte(`{"format":"bbus-evidence/3","chain_id":"bbus-evidence","vm":"vm-1","state":{"height":1,"proofs":[]},"txs":[],"headers":[{"header":null}],"validator_sets":[]}`))
	f.Fuzz(func(t *testing.T, bundle []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			rep, err := evidence.Verify(bundle, genesis)
			if err == nil && rep == nil {
				panic("no report and no error")
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Verify still runs after 5 s on %q", bundle)
		}
	})
}
