package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// TestDeterminism feeds the same random blocks to two ledgers on two independent
// stores and requires byte-equal state after every block, and equal results,
// events and validator updates: what every validator of a chain must compute.
func TestDeterminism(t *testing.T) {
	for seed := int64(1001); seed <= 1020; seed++ {
		trace, final := runModel(t, seed, 300, map[string]int{})
		a, b := newReplica(t, seed), newReplica(t, seed)
		blocks := 0
		for i, s := range trace {
			where := fmt.Sprintf("seed %d, step %d (%s)", seed, i, s.desc)
			if s.header != nil {
				if a.height > 0 {
					if ua, ub := a.endBlock(), b.endBlock(); ua != ub {
						t.Fatalf("%s: validator updates differ:\n%s\n%s", where, ua, ub)
					}
					compareDumps(t, where, a.st, b.st)
					blocks++
				}
				if ea, eb := a.beginBlock(*s.header), b.beginBlock(*s.header); ea != eb {
					t.Fatalf("%s: BeginBlock events differ:\n%s\n%s", where, ea, eb)
				}
				continue
			}
			if ra, rb := a.apply(s.raw), b.apply(s.raw); ra != rb {
				t.Fatalf("%s: results differ:\n%s\n%s", where, ra, rb)
			}
		}
		if ua, ub := a.endBlock(), b.endBlock(); ua != ub {
			t.Fatalf("seed %d: validator updates of the last block differ:\n%s\n%s", seed, ua, ub)
		}
		compareDumps(t, fmt.Sprintf("seed %d, end", seed), a.st, b.st)
		// The run that generated the trace checked the ledger against the model;
		// the replicas must end where it ended.
		if got := dumpStore(a.st); !bytes.Equal(got, final) {
			t.Fatalf("seed %d: replaying the trace ends in another state than the run that made it: %s", seed, firstDiff(final, got))
		}
		if blocks < 10 {
			t.Fatalf("seed %d: only %d blocks compared", seed, blocks)
		}
	}
}

func compareDumps(t *testing.T, where string, a, b kv.Reader) {
	t.Helper()
	if da, db := dumpStore(a), dumpStore(b); !bytes.Equal(da, db) {
		t.Fatalf("%s: the two stores differ at %s", where, firstDiff(da, db))
	}
}

// replica is one validator's ledger and store.
type replica struct {
	l      *Ledger
	st     *kv.Mem
	h      Header
	height int64
}

func newReplica(t *testing.T, seed int64) *replica {
	r := &replica{l: newTestLedger(), st: kv.NewMem()}
	g := testGenesis(modelFounders, func(string) bbus.Resources { return modelCapacity }, modelParams(seed))
	if err := r.l.InitGenesis(r.st, testChainID, g, testGenesisTime); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *replica) beginBlock(h Header) string {
	r.h, r.height = h, h.Height
	return jsonString(r.l.BeginBlock(r.st, h))
}

func (r *replica) endBlock() string { return jsonString(r.l.EndBlock(r.st)) }

func (r *replica) apply(raw []byte) string { return jsonString(r.l.Apply(r.st, r.h, raw)) }

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
