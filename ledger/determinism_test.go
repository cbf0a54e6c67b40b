package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// TestDeterminism feeds the same random blocks to two ledgers on two independent
// stores and requires byte-equal state after every block, and equal results,
// events and validator updates: what every validator of a chain must compute.
func TestDeterminism(t *testing.T) {
	modelGenesis := func(seed int64) *bbus.Genesis {
		return testGenesis(modelFounders, func(string) bbus.Resources { return modelCapacity }, modelParams(seed))
	}
	for seed := int64(1001); seed <= 1020; seed++ {
		trace, final := runModel(t, seed, 300, map[string]int{})
		replayTwice(t, fmt.Sprintf("seed %d", seed), trace, final, modelGenesis(seed))
	}
	// The market: agreements, oracles, reports, violations, invoices and their
	// answers, with block times that are not whole seconds.
	for seed := int64(2001); seed <= 2010; seed++ {
		trace, final := runInvoiceModel(t, seed, 300, map[string]int{})
		replayTwice(t, fmt.Sprintf("market seed %d", seed), trace, final, marketGenesisFor(seed))
	}
}

// replayTwice feeds trace to two replicas of genesis g, comparing them after
// every block, and requires them to end in final, the state of the run that
// made the trace.
func replayTwice(t *testing.T, label string, trace []traceStep, final []byte, g *bbus.Genesis) {
	t.Helper()
	a, b := newReplica(t, g), newReplica(t, g)
	blocks := 0
	for i, s := range trace {
		where := fmt.Sprintf("%s, step %d (%s)", label, i, s.desc)
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
		t.Fatalf("%s: validator updates of the last block differ:\n%s\n%s", label, ua, ub)
	}
	compareDumps(t, label+", end", a.st, b.st)
	// The run that generated the trace checked the ledger against its model;
	// the replicas must end where it ended.
	if got := dumpStore(a.st); !bytes.Equal(got, final) {
		t.Fatalf("%s: replaying the trace ends in another state than the run that made it: %s", label, firstDiff(final, got))
	}
	if blocks < 10 {
		t.Fatalf("%s: only %d blocks compared", label, blocks)
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

func newReplica(t *testing.T, g *bbus.Genesis) *replica {
	r := &replica{l: newTestLedger(), st: kv.NewMem()}
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

// TestBlockTimeZoneDoesNotMatter applies the same block on two ledgers whose
// headers carry the same instant in different zones: the states must be the
// same bytes, since the ledger normalises block time to UTC itself.
func TestBlockTimeZoneDoesNotMatter(t *testing.T) {
	g := testGenesis([]string{"a", "b"}, func(string) bbus.Resources { return bbus.Resources{CPU: 8, MemMiB: 8192} }, bbus.DefaultParams())
	var dumps [2][]byte
	for i, zone := range []*time.Location{time.UTC, time.FixedZone("CET", 3600)} {
		l, st := newTestLedger(), kv.NewMem()
		if err := l.InitGenesis(st, testChainID, g, testGenesisTime.In(zone)); err != nil {
			t.Fatal(err)
		}
		h := Header{Height: 1, Time: testGenesisTime.Add(10 * time.Second).In(zone)}
		l.BeginBlock(st, h)
		for n, a := range []bbus.Action{
			{VMRegister: &bbus.VMRegister{VM: "vm1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}},
			{MigrationPropose: &bbus.Propose{VM: "vm1", To: "b"}},
		} {
			raw := txSpec{chain: testChainID, signer: "a", nonce: uint64(n + 1), expires: h.Time.Unix() + 60, action: a}.sign()
			if r := l.Check(st, h, raw); !r.OK() {
				t.Fatalf("check %s: %s %s", a.Type(), r.Code, r.Message)
			}
			if r := l.Apply(st, h, raw); !r.OK() {
				t.Fatalf("%s: %s %s", a.Type(), r.Code, r.Message)
			}
		}
		l.EndBlock(st)
		dumps[i] = dumpStore(st)
	}
	if !bytes.Equal(dumps[0], dumps[1]) {
		t.Fatalf("the same block in two zones gave two states: %s", firstDiff(dumps[0], dumps[1]))
	}
}
