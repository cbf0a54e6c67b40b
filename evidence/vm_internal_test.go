package evidence

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/ledger"
)

// A VM's record that names a last migration but counts none (what only a
// forged state could hold) is refused with a reason, not a panic.
func TestVMRecordWithoutItsMigrations(t *testing.T) {
	vm := &bbus.VM{ID: "vm-1", Owner: "c0", Host: "c0", Intervals: 1, Txs: 1, LastMigration: "mig-1"}
	raw, _ := json.Marshal(vm)
	key := string(ledger.VMKey("vm-1"))
	p := &proved{height: 5, values: map[string][]byte{key: raw}, fields: map[string]string{key: "state.proofs[0]"}}
	reg := &vtx{field: "txs[0]", height: 3, stx: &bbus.SignedTx{ID: "t1", Body: bbus.Body{Signer: "c0",
		Action: bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-1"}}}}}
	h := &history{}
	h.add(reg)
	v := &verifier{b: &Bundle{VM: "vm-1"}}
	err := v.vmComplete(p, []*vtx{reg}, h)
	if err == nil || !strings.Contains(err.Error(), "counts 0 migrations, the last mig-1") {
		t.Fatalf("got %v", err)
	}
}
