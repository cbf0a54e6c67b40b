package chain

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/store"
)

// BenchmarkBlock is a node's work for one block at saturation, as bbus bench
// loads it: 1,000 transactions, a quarter of each step of a migration's
// lifecycle (register, propose, accept, complete) for VMs at different steps,
// each admitted by CheckTx and then finalized and committed (state tree,
// index, synced batch) on a store in a real folder. Transactions are signed
// with the timer stopped. Run:
//
//	go test -run '^$' -bench Block -benchtime 30x ./chain
func BenchmarkBlock(b *testing.B) {
	g := bbus.Genesis{Params: bbus.DefaultParams()}
	max := bbus.Resources{CPU: bbus.MaxResource, MemMiB: bbus.MaxResource, DiskIOPS: bbus.MaxResource, NetMbps: bbus.MaxResource}
	for _, id := range []string{"a", "b"} {
		g.Clouds = append(g.Clouds, bbus.GenesisCloud{ID: id, Name: id, PubKey: key(id).Public().(ed25519.PublicKey), Capacity: max})
	}
	val := key("validator").Public().(ed25519.PublicKey)
	g.Clouds[0].ValidatorKey, g.Clouds[0].Power = val, 10
	state, _ := json.Marshal(&g)
	st, err := store.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	app := New(ledger.New(keys.NewVerifyCache(5000).Verify).WithKeyCheck(keys.CheckPublicKey), st)
	ctx := context.Background()
	now := genesisTime
	app.SetClock(func() time.Time { return now })
	if _, err := app.InitChain(ctx, &abci.InitChainRequest{ChainId: "bbus-chain", Time: genesisTime, AppStateBytes: state,
		Validators: []abci.ValidatorUpdate{{Power: 10, PubKeyType: "ed25519", PubKeyBytes: val}}}); err != nil {
		b.Fatal(err)
	}
	const perStep = 250
	nonce := uint64(0)
	tx := func(signer string, a bbus.Action) []byte {
		nonce++
		raw, _, err := bbus.SignTx(&bbus.Body{ChainID: "bbus-chain", Signer: signer, Nonce: nonce, Expires: now.Unix() + 600, Action: a}, key(signer))
		if err != nil {
			b.Fatal(err)
		}
		return raw
	}
	var proposed, accepted []string // VMs registered, migrations proposed, accepted in the last blocks
	var registered []string
	height, vms := int64(0), 0
	txs, writes := 0, 0
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		b.StopTimer()
		height++
		now = genesisTime.Add(time.Duration(height) * time.Second)
		var block [][]byte
		for _, m := range accepted {
			block = append(block, tx("b", bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: m}}))
		}
		for _, m := range proposed {
			block = append(block, tx("b", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: m}}))
		}
		nProp := len(block)
		for _, vm := range registered {
			block = append(block, tx("a", bbus.Action{MigrationPropose: &bbus.Propose{VM: vm, To: "b"}}))
		}
		first := len(block)
		var regs []string
		for range perStep {
			vms++
			vm := fmt.Sprintf("vm-%d", vms)
			regs = append(regs, vm)
			block = append(block, tx("a", bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: bbus.Resources{CPU: 1, MemMiB: 512}}}))
		}
		b.StartTimer()
		for _, raw := range block {
			if r, _ := app.CheckTx(ctx, &abci.CheckTxRequest{Tx: raw}); r.Code != 0 {
				b.Fatalf("check: %s", r.Log)
			}
		}
		fb, err := app.FinalizeBlock(ctx, &abci.FinalizeBlockRequest{Txs: block, Height: height, Time: now})
		if err != nil {
			b.Fatal(err)
		}
		writes += st.Working().(interface{ Len() int }).Len()
		if _, err := app.Commit(ctx, &abci.CommitRequest{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		txs += len(block)
		accepted = proposed
		proposed = nil
		for i, r := range fb.TxResults {
			if r.Code != 0 {
				b.Fatalf("tx %d: %s", i, r.Log)
			}
			if i >= nProp && i < first {
				proposed = append(proposed, string(r.Data))
			}
		}
		registered = regs
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(txs), "ns/tx")
	b.ReportMetric(float64(writes)/float64(txs), "writes/tx")
	// The process's CPU, signing included, over the loop: on a shared machine
	// it moves less than the elapsed time.
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(txs), "cpu-ns/tx")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
