package node

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

// signer signs transactions as a cloud of a home.
func signer(t *testing.T, home, cloud, chainID string) func(a bbus.Action) []byte {
	t.Helper()
	k, err := keys.Load(home, cloud)
	if err != nil {
		t.Fatal(err)
	}
	var nonce uint64
	return func(a bbus.Action) []byte {
		nonce++
		raw, _, err := bbus.SignTx(&bbus.Body{ChainID: chainID, Signer: cloud, Nonce: nonce,
			Expires: time.Now().Add(5 * time.Minute).Unix(), Action: a}, k.PrivKey)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
}

func TestSingleNodeCommitsAndSurvivesRestart(t *testing.T) {
	home := t.TempDir()
	c := DefaultConfig("local")
	c.P2PListen = "tcp://127.0.0.1:0" // a port of its own choosing: no other program can take it first
	if _, err := Init(InitOptions{Home: home, Cloud: "local", Config: &c}); err != nil {
		t.Fatal(err)
	}
	n, err := Open(home, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(""); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sign := signer(t, home, "local", "bbus-local")
	res, err := n.Submit(ctx, sign(bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-1", Resources: bbus.Resources{CPU: 2, MemMiB: 1024}}}), true)
	if err != nil || res.Code != "" || res.Height == 0 || res.ID != "vm-1" {
		t.Fatalf("register: %+v %v", res, err)
	}
	// A rule of the ledger: the same id again is rejected in its block.
	res2, err := n.Submit(ctx, sign(bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-1", Resources: bbus.Resources{CPU: 2, MemMiB: 1024}}}), true)
	if err != nil || res2.Code != bbus.EEXISTS {
		t.Fatalf("duplicate: %+v %v", res2, err)
	}
	// A bad signature never reaches a block.
	raw := sign(bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm-1"}})
	bad := append([]byte{}, raw...)
	bad[len(bad)-5] ^= 1
	if _, err := n.Submit(ctx, bad, true); bbus.ErrorCode(err) != bbus.EBADSIG && bbus.ErrorCode(err) != bbus.EMALFORMED {
		t.Fatalf("bad signature: %v", err)
	}
	t.Logf("register committed at height %d, duplicate rejected at %d: %s", res.Height, res2.Height, res2.Message)
	st, err := n.Status(ctx)
	if err != nil || st.ChainID != "bbus-local" || len(st.Validators) != 1 || st.Validators[0].Cloud != "local" {
		t.Fatalf("status %+v %v", st, err)
	}
	height, hash, _ := n.store.Last()
	n.Stop()

	n, err = Open(home, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	if err := n.Start(""); err != nil {
		t.Fatal(err)
	}
	h2, hash2, _ := n.store.Last()
	if h2 < height || (h2 == height && string(hash2) != string(hash)) {
		t.Fatalf("after restart at %d %X, before %d %X", h2, hash2, height, hash)
	}
	err = n.View(func(r kv.Reader) error {
		vm, err := ledger.VM(r, "vm-1")
		if err == nil && vm.Host != "local" {
			t.Errorf("vm host %s", vm.Host)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Replaying the committed bytes is rejected.
	first := sign(bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm-1"}})
	if r, err := n.Submit(ctx, first, true); err != nil || r.Code != "" {
		t.Fatalf("terminate: %+v %v", r, err)
	}
	if _, err := n.Submit(ctx, first, true); bbus.ErrorCode(err) != bbus.EREPLAY {
		t.Fatalf("replay: %v", err)
	}
}
