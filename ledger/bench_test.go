package ledger_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/store"
)

// Benchmarks of the ledger's hot paths as a node runs them: Check (CheckTx,
// against the committed state) and Apply of each action of a migration's
// lifecycle (FinalizeBlock, against the block's overlay on the goleveldb
// store, signature check included), and the queries the REST API serves most.
// Transactions are signed before the timer starts. Run:
//   go test -run '^$' -bench . ./ledger

var benchT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// benchFed is a two-cloud federation on an in-memory goleveldb store.
type benchFed struct {
	l     *ledger.Ledger
	st    *store.Store
	h     ledger.Header
	key   [2]ed25519.PrivateKey
	id    [2]string
	nonce uint64
	n     int // transactions applied since the last commit
	vms   int
}

func newBenchFed(b *testing.B) *benchFed {
	b.Helper()
	f := &benchFed{l: ledger.New(keys.Verify), st: store.OpenMem(), id: [2]string{"cloud0", "cloud1"}}
	b.Cleanup(func() { f.st.Close() })
	g := &bbus.Genesis{Params: bbus.DefaultParams()}
	max := bbus.Resources{CPU: bbus.MaxResource, MemMiB: bbus.MaxResource, DiskIOPS: bbus.MaxResource, NetMbps: bbus.MaxResource}
	for k := range f.key {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		val, _, _ := ed25519.GenerateKey(rand.Reader)
		f.key[k] = priv
		g.Clouds = append(g.Clouds, bbus.GenesisCloud{ID: f.id[k], Name: f.id[k], PubKey: pub, ValidatorKey: val, Power: 10, Capacity: max})
	}
	if err := f.l.InitGenesis(f.st.Working(), "bbus-bench", g, benchT0); err != nil {
		b.Fatal(err)
	}
	if _, err := f.st.Commit(0, benchT0); err != nil {
		b.Fatal(err)
	}
	f.h = ledger.Header{Height: 1, Time: benchT0.Add(time.Second)}
	return f
}

func (f *benchFed) sign(k int, a bbus.Action) []byte {
	f.nonce++
	raw, _, err := bbus.SignTx(&bbus.Body{ChainID: "bbus-bench", Signer: f.id[k], Nonce: f.nonce,
		Expires: benchT0.Add(10 * time.Minute).Unix(), Action: a}, f.key[k])
	if err != nil {
		panic(err)
	}
	return raw
}

// apply applies raw in the current block and commits every 1000 transactions,
// as blocks would.
func (f *benchFed) apply(b *testing.B, raw []byte) ledger.Result {
	r := f.l.Apply(f.st.Working(), f.h, raw)
	if !r.OK() {
		b.Fatalf("%s: %s", r.Code, r.Message)
	}
	if f.n++; f.n == 1000 {
		f.commit(b)
	}
	return r
}

func (f *benchFed) commit(b *testing.B) {
	if _, err := f.st.Commit(f.h.Height, f.h.Time); err != nil {
		b.Fatal(err)
	}
	f.n = 0
	f.h.Height++
}

func (f *benchFed) newVM() string {
	f.vms++
	return fmt.Sprintf("vm-%d", f.vms)
}

var benchVM = bbus.Resources{CPU: 2, MemMiB: 4096, DiskIOPS: 500, NetMbps: 100}

// lifecycle prepares n migrations up to (not including) stage 0 register, 1
// propose, 2 accept, 3 complete, and returns the n transactions of that stage.
func (f *benchFed) lifecycle(b *testing.B, n, stage int) [][]byte {
	b.Helper()
	out := make([][]byte, n)
	for i := range out {
		vm := f.newVM()
		reg := f.sign(0, bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: benchVM}})
		if stage == 0 {
			out[i] = reg
			continue
		}
		f.apply(b, reg)
		prop := f.sign(0, bbus.Action{MigrationPropose: &bbus.Propose{VM: vm, To: f.id[1]}})
		if stage == 1 {
			out[i] = prop
			continue
		}
		mig := f.apply(b, prop).ID
		acc := f.sign(1, bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: mig}})
		if stage == 2 {
			out[i] = acc
			continue
		}
		f.apply(b, acc)
		out[i] = f.sign(1, bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: mig}})
	}
	f.commit(b)
	return out
}

func benchApply(b *testing.B, stage int) {
	f := newBenchFed(b)
	txs := f.lifecycle(b, b.N, stage)
	b.ReportAllocs()
	b.ResetTimer()
	for _, raw := range txs {
		f.apply(b, raw)
	}
}

func BenchmarkApplyVMRegister(b *testing.B)        { benchApply(b, 0) }
func BenchmarkApplyMigrationPropose(b *testing.B)  { benchApply(b, 1) }
func BenchmarkApplyMigrationAccept(b *testing.B)   { benchApply(b, 2) }
func BenchmarkApplyMigrationComplete(b *testing.B) { benchApply(b, 3) }

// BenchmarkCheck is CheckTx's work for a proposal: decode, chain, expiry,
// replay, signer and signature against the committed state.
func BenchmarkCheck(b *testing.B) {
	f := newBenchFed(b)
	txs := f.lifecycle(b, b.N, 1)
	last := ledger.Header{Height: f.h.Height - 1, Time: f.h.Time}
	r := f.st.Committed()
	b.ReportAllocs()
	b.ResetTimer()
	for _, raw := range txs {
		if res := f.l.Check(r, last, raw); !res.OK() {
			b.Fatalf("%s: %s", res.Code, res.Message)
		}
	}
}

// BenchmarkBeginBlock is the start of a block that has nothing to lapse or
// forget, over a state of 10,000 migrations.
func BenchmarkBeginBlock(b *testing.B) {
	f := newBenchFed(b)
	for _, raw := range f.lifecycle(b, 10000, 3) {
		f.apply(b, raw)
	}
	f.commit(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f.l.BeginBlock(f.st.Working(), f.h)
		f.st.Discard()
	}
}

// queryFed is a committed state of 10,000 completed migrations, plus one VM
// that migrated back and forth 10 times.
func queryFed(b *testing.B) *benchFed {
	f := newBenchFed(b)
	for _, raw := range f.lifecycle(b, 10000, 3) {
		f.apply(b, raw)
	}
	vm := "vm-traveller"
	f.apply(b, f.sign(0, bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: benchVM}}))
	for i := 0; i < 10; i++ {
		from, to := i%2, (i+1)%2
		mig := f.apply(b, f.sign(from, bbus.Action{MigrationPropose: &bbus.Propose{VM: vm, To: f.id[to]}})).ID
		f.apply(b, f.sign(to, bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: mig}}))
		f.apply(b, f.sign(to, bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: mig}}))
	}
	f.commit(b)
	return f
}

// BenchmarkQueryVMHistory is GET /v1/vms/{id}/history for a VM with 10
// migrations and 11 hosting intervals.
func BenchmarkQueryVMHistory(b *testing.B) {
	f := queryFed(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		err := f.st.View(func(r kv.Reader) error {
			h, err := ledger.VMHistory(r, "vm-traveller")
			if err == nil && len(h.Migrations) != 10 {
				err = fmt.Errorf("%d migrations", len(h.Migrations))
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueryMigrationsPage is GET /v1/migrations?cloud=cloud1&limit=100
// over 10,000 migrations.
func BenchmarkQueryMigrationsPage(b *testing.B) {
	f := queryFed(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		err := f.st.View(func(r kv.Reader) error {
			ms, next, err := ledger.Migrations(r, bbus.MigrationFilter{Cloud: "cloud1"}, bbus.Page{Limit: 100})
			if err == nil && (len(ms) != 100 || next == "") {
				err = fmt.Errorf("%d migrations, next %q", len(ms), next)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
