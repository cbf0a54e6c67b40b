package evidence_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/evidence"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/proof"
	"github.com/bbusdev/bbus/store"
)

// BenchmarkStateProof measures the proof of one VM record in a state of one
// million records, written directly through the store (in blocks of 10,000,
// as a chain would commit them), and verifies it as an auditor does. Run
// (a few minutes):
//
//	go test -run '^$' -bench StateProof -benchtime 100x ./evidence
func BenchmarkStateProof(b *testing.B) {
	const records, perBlock = 1_000_000, 10_000
	st, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var height int64
	for i := 0; i < records; i++ {
		id := fmt.Sprintf("vm-%07d", i)
		rec, _ := json.Marshal(&bbus.VM{ID: id, Owner: "cloud0", Host: "cloud1", Resources: bbus.Resources{CPU: 2, MemMiB: 2048},
			State: bbus.VMRunning, Registered: bbus.Stamp{At: t0, Height: 1, Tx: fmt.Sprintf("%064x", i)}, Intervals: 1, Txs: 1})
		st.Working().Set(ledger.VMKey(id), rec)
		if (i+1)%perBlock == 0 {
			height++
			if _, err := st.Commit(height, t0.Add(time.Duration(height)*time.Second)); err != nil {
				b.Fatal(err)
			}
		}
	}
	_, appHash, _ := st.Last()
	key := ledger.VMKey("vm-0500000")
	size := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, h, p, err := st.Prove(key)
		if err != nil || v == nil {
			b.Fatal(v, err)
		}
		if err := proof.Verify(appHash, &bbus.Proof{Key: key, Value: v, Height: h, Proof: p}); err != nil {
			b.Fatal(err)
		}
		size = len(p) + len(v) + len(key)
	}
	b.ReportMetric(float64(size), "proof-bytes")
}

// BenchmarkVerifyThousandMigrations verifies the bundle of a VM migrated
// 1,000 times between two clouds of a real two-validator chain (3,001
// transactions, sent without waiting so that a block holds many), and
// reports its size and the memory one verification allocates. Building the
// chain takes a few minutes. Run:
//
//	go test -run '^$' -bench VerifyThousandMigrations -benchtime 20x ./evidence
func BenchmarkVerifyThousandMigrations(b *testing.B) {
	f := startFederation(b)
	f.join()
	const n = 1000
	k0, err := keys.Load(f.homes[0], "cloud0")
	if err != nil {
		b.Fatal(err)
	}
	k1, err := keys.Load(f.homes[1], "cloud1")
	if err != nil {
		b.Fatal(err)
	}
	sign := map[string]*keys.Key{"cloud0": k0, "cloud1": k1}
	ctx := context.Background()
	submit := func(cloud string, a bbus.Action, wait bool) *bbus.TxResult {
		f.nonce++
		raw, _, err := bbus.SignTx(&bbus.Body{ChainID: "bbus-evidence", Signer: cloud, Nonce: f.nonce,
			Expires: time.Now().Add(time.Hour).Unix(), Action: a}, sign[cloud].PrivKey)
		if err != nil {
			b.Fatal(err)
		}
		res, err := f.nodes[0].Submit(ctx, raw, wait)
		if err != nil || res.Code != "" {
			b.Fatalf("%s by %s: %+v %v", a.Type(), cloud, res, err)
		}
		return res
	}
	submit("cloud0", bbus.Action{VMRegister: &bbus.VMRegister{VM: "busy", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}, true)
	// The VM migrates alone: its migrations are mig-1, mig-2, ... in order.
	for i := 1; i <= n; i++ {
		from, to := fmt.Sprint("cloud", (i+1)%2), fmt.Sprint("cloud", i%2)
		m := ledger.MigrationID(uint64(i))
		submit(from, bbus.Action{MigrationPropose: &bbus.Propose{VM: "busy", To: to}}, false)
		submit(to, bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: m}}, false)
		submit(to, bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: m}}, i == n || i%100 == 0)
	}
	bundle := f.export(0, "busy")
	rep, err := evidence.Verify(bundle, f.genesis)
	if err != nil {
		b.Fatal(err)
	}
	if len(rep.Txs) != 3*n+1 || len(rep.Intervals) != n+1 {
		b.Fatalf("%d transactions, %d intervals", len(rep.Txs), len(rep.Intervals))
	}
	if out := os.Getenv("BBUS_BUNDLE_OUT"); out != "" {
		os.WriteFile(out, bundle, 0o644)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := evidence.Verify(bundle, f.genesis); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(len(bundle)), "bundle-bytes")
	b.ReportMetric(float64(rep.Headers), "headers")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N), "alloc-bytes/op")
}
