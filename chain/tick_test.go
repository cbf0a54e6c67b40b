package chain

import (
	"bytes"
	"context"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/ledger"
)

// TestTick: a tick is admitted only for the committed height and exactly the
// ledger's next due time, once that time has come; any other tick is refused
// with a clear code. A proposal with a tick of a later height is refused. A
// block carrying a tick does what was due and the tick itself writes nothing.
func TestTick(t *testing.T) {
	app := newApp(t)
	ctx := context.Background()
	now := genesisTime.Add(time.Second)
	app.SetClock(func() time.Time { return now })
	check := func(raw []byte) string {
		t.Helper()
		r, err := app.CheckTx(ctx, &abci.CheckTxRequest{Tx: raw})
		if err != nil {
			t.Fatal(err)
		}
		return CodeOf(r.Code)
	}
	commit := func(height int64, at time.Time, txs ...[]byte) *abci.FinalizeBlockResponse {
		t.Helper()
		pp, _ := app.ProcessProposal(ctx, &abci.ProcessProposalRequest{Txs: txs, Height: height, Time: at})
		if pp.Status != abci.PROCESS_PROPOSAL_STATUS_ACCEPT {
			t.Fatalf("block %d refused", height)
		}
		fb, err := app.FinalizeBlock(ctx, &abci.FinalizeBlockRequest{Txs: txs, Height: height, Time: at})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := app.Commit(ctx, &abci.CommitRequest{}); err != nil {
			t.Fatal(err)
		}
		return fb
	}
	if _, ok := ledger.NextDue(app.store.Committed()); ok {
		t.Fatal("work due on a new chain")
	}
	if c := check(Tick(0, now)); c != bbus.EINVALID {
		t.Fatalf("a tick with nothing due: %q, want %s", c, bbus.EINVALID)
	}
	res := bbus.Resources{CPU: 1, MemMiB: 1}
	commit(1, now,
		sign("bbus-chain", "a", 1, bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm1", Resources: res}}),
		sign("bbus-chain", "a", 2, bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm1", To: "b"}}))
	due, ok := ledger.NextDue(app.store.Committed())
	if want := now.Add(time.Duration(bbus.DefaultParams().MigrationLapseSeconds) * time.Second); !ok || !due.Equal(want) {
		t.Fatalf("next due %s %v, want the lapse at %s", due, ok, want)
	}
	if c := check(Tick(1, due)); c != bbus.EINVALID {
		t.Fatalf("a tick before its time: %q, want %s", c, bbus.EINVALID)
	}
	now = due
	for _, bad := range []struct {
		raw  []byte
		code string
	}{
		{Tick(0, due), bbus.EINVALID},                // not the committed height
		{Tick(1, due.Add(-1)), bbus.EINVALID},        // not the due time
		{[]byte("bbus/tick 1"), bbus.EMALFORMED},     // no time
		{[]byte("bbus/tick 01 5"), bbus.EMALFORMED},  // not canonical
		{append(Tick(1, due), ' '), bbus.EMALFORMED}, // trailing bytes
		{[]byte("bbus/tick -1 5"), bbus.EMALFORMED},  // negative height
		{[]byte("bbus/tick 1 99999999999999999999"), bbus.EMALFORMED},
	} {
		if c := check(bad.raw); c != bad.code {
			t.Errorf("%q: %q, want %s", bad.raw, c, bad.code)
		}
	}
	tick := Tick(1, due)
	if c := check(tick); c != "" {
		t.Fatalf("the due tick: %q, want admitted", c)
	}
	pp, _ := app.ProcessProposal(ctx, &abci.ProcessProposalRequest{Txs: [][]byte{Tick(2, due)}, Height: 2, Time: due})
	if pp.Status != abci.PROCESS_PROPOSAL_STATUS_REJECT {
		t.Fatal("a proposal with a tick of its own height was accepted")
	}
	before := app.store.WorkingHash()
	fb := commit(2, due, tick)
	if fb.TxResults[0].Code != 0 {
		t.Fatalf("tick result %+v", fb.TxResults[0])
	}
	m, err := ledger.Migration(app.store.Committed(), "mig-1")
	if err != nil || m.Status != bbus.MigrationLapsed {
		t.Fatalf("after the tick's block: %+v %v, want lapsed", m, err)
	}
	if _, ok := ledger.NextDue(app.store.Committed()); ok {
		t.Fatal("work still due after the lapse")
	}
	// The tick alone, once nothing is due, changes no state.
	after := app.store.WorkingHash()
	commit(3, due.Add(time.Second), tick)
	if h := app.store.WorkingHash(); !bytes.Equal(h, after) || bytes.Equal(before, after) {
		t.Fatalf("app hash %X -> %X -> %X: want the lapse to change it and the bare tick not", before, after, h)
	}
}
