package ledgertest_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/internal/ledgertest"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

func TestSubmitCommitsEachTxInItsOwnBlock(t *testing.T) {
	ctx := context.Background()
	c := ledgertest.New(ledgertest.Founders("c1", "c2")...)
	genesis := c.Last()
	reg := c.Sign("c1", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}})
	res, err := c.Submit(ctx, reg, true)
	if err != nil || res.Code != "" || res.Height != 1 || res.ID != "vm-1" || res.Type != "vm_register" || res.Signer != "c1" {
		t.Fatalf("submit: %+v, %v", res, err)
	}
	if last := c.Last(); last.Height != 1 || last.Time != genesis.Time.Add(ledgertest.BlockStep) {
		t.Errorf("after one tx the last block is %+v (genesis %+v)", last, genesis)
	}
	// Refused at admission: no block.
	if _, err := c.Submit(ctx, reg, true); bbus.ErrorCode(err) != bbus.EREPLAY {
		t.Errorf("replay: %v", err)
	}
	var e *bbus.Error
	if _, err := c.Submit(ctx, []byte("{}"), true); !errors.As(err, &e) || e.Code != bbus.EMALFORMED {
		t.Errorf("garbage: %v", err)
	}
	// Rejected in its block: a result with the code.
	res, err = c.Submit(ctx, c.Sign("c2", bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm-1"}}), true)
	if err != nil || res.Code != bbus.EUNAUTHORIZED || res.Height != 2 {
		t.Errorf("rejected: %+v, %v", res, err)
	}
	if got := c.Submitted(); len(got) != 4 || !bytes.Equal(got[0], reg) {
		t.Errorf("submitted %d transactions", len(got))
	}
	st, _ := c.Status(ctx)
	if st.Height != 2 || st.ChainID != ledgertest.ChainID || len(st.Validators) != 2 || st.Validators[0].Cloud != "c1" {
		t.Errorf("status %+v", st)
	}
	if err := c.View(func(r kv.Reader) error {
		_, err := ledger.VM(r, "vm-1")
		return err
	}); err != nil {
		t.Error(err)
	}
}

func TestAdvanceLapsesProposals(t *testing.T) {
	c := ledgertest.New(ledgertest.Founders("c1", "c2")...)
	for _, a := range []bbus.Action{
		{VMRegister: &bbus.VMRegister{VM: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}},
		{MigrationPropose: &bbus.Propose{VM: "vm-1", To: "c2"}},
	} {
		if r := c.Do("c1", a); !r.OK() {
			t.Fatal(r.Err())
		}
	}
	c.Advance(2 * time.Hour)
	if r := c.Do("c2", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: "mig-1"}}); r.Code != bbus.ELAPSED {
		t.Errorf("accept after the lapse: %+v", r)
	}
}
