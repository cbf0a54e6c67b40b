package chain

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/bbusdev/bbus"
)

// The index of validator-set changes names the height at which CometBFT
// applies the ledger's validator updates (two blocks after the block that
// made them), and where it starts.
func TestValidatorChangeIndex(t *testing.T) {
	app := newApp(t)
	ctx := context.Background()
	commit := func(h int64, txs ...[]byte) {
		t.Helper()
		res, err := app.FinalizeBlock(ctx, &abci.FinalizeBlockRequest{Txs: txs, Height: h, Time: genesisTime.Add(time.Duration(h) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res.TxResults {
			if r.Code != 0 {
				t.Fatalf("block %d, tx %d: %s", h, i, r.Log)
			}
		}
		if _, err := app.Commit(ctx, &abci.CommitRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	pub := key("c").Public().(ed25519.PublicKey)
	val := key("c-validator").Public().(ed25519.PublicKey)
	commit(1)
	commit(2, sign("bbus-chain", "a", 1, bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "c", PubKey: pub, ValidatorKey: val}}))
	commit(3, sign("bbus-chain", "c", 1, bbus.Action{CloudJoin: &bbus.CloudJoin{Name: "c", PubKey: pub, ValidatorKey: val,
		Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}))
	if got, _ := ValidatorChanges(app.store.Committed(), 0, 100); len(got) != 0 {
		t.Fatalf("changes before the admission: %v", got)
	}
	commit(4, sign("bbus-chain", "b", 1, bbus.Action{CloudApprove: &bbus.CloudApprove{Cloud: "c", PubKey: pub}}))
	commit(5)
	got, indexed := ValidatorChanges(app.store.Committed(), 0, 100)
	if len(got) != 1 || got[0] != 6 || indexed != 1 {
		t.Fatalf("changes %v, indexed from %d; want [6] from 1", got, indexed)
	}
	if got, _ := ValidatorChanges(app.store.Committed(), 6, 100); len(got) != 0 {
		t.Fatalf("changes above 6: %v", got)
	}
	if got, _ := ValidatorChanges(app.store.Committed(), 5, 6); len(got) != 1 {
		t.Fatalf("changes in (5, 6]: %v", got)
	}
}
