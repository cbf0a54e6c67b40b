package ledger

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// corruptVM crafts a state in which VM "broken" has a record the ledger cannot
// decode, so that any rule that reads it panics.
func corruptVM(st kv.Store) { st.Set(vmKey("broken"), []byte("{not json")) }

// TestApplyIsTotal shows a panic in a rule becoming a deterministic rejection
// (code internal, the same message on two ledgers, nothing written) and the
// next transaction of the block still applying.
func TestApplyIsTotal(t *testing.T) {
	var dumps [][]byte
	var messages []string
	for n := 0; n < 2; n++ {
		a := newAdversary(t)
		corruptVM(a.st)
		a.block(time.Second)
		before := dumpStore(a.st)
		r := a.l.Apply(a.st, a.h, a.spec("a", bbus.Action{VMTerminate: &bbus.VMRef{VM: "broken"}}).sign())
		if r.Code != bbus.EINTERNAL || r.Message == "" || r.Fault == "" {
			t.Fatalf("a panicking rule: code %q message %q fault %q, want internal with a message and the fault", r.Code, r.Message, r.Fault)
		}
		if r.ID != "" || r.Events != nil {
			t.Errorf("a rejected transaction reports id %q and events %v", r.ID, r.Events)
		}
		if after := dumpStore(a.st); !bytes.Equal(before, after) {
			t.Fatalf("the rejected transaction changed the state: %s", firstDiff(before, after))
		}
		next := a.l.Apply(a.st, a.h, a.spec("a", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm9", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}).sign())
		if !next.OK() {
			t.Fatalf("the next transaction: %s %s", next.Code, next.Message)
		}
		messages = append(messages, r.Message)
		dumps = append(dumps, dumpStore(a.st))
	}
	if messages[0] != messages[1] || !bytes.Equal(dumps[0], dumps[1]) {
		t.Fatalf("two ledgers, same transactions, different outcomes: %q %q", messages[0], messages[1])
	}
}

// faultyStore fails, as a broken disk would, on reading one key.
type faultyStore struct {
	kv.Store
	bad []byte
}

func (f faultyStore) Get(key []byte) []byte {
	if bytes.Equal(key, f.bad) {
		panic(&kv.StorageError{Op: "read", Err: errors.New("input/output error")})
	}
	return f.Store.Get(key)
}

// TestApplyStorageFaultStops shows a storage fault going through Apply as a
// panic: the node must stop, not reject the transaction and go on.
func TestApplyStorageFaultStops(t *testing.T) {
	a := newAdversary(t)
	a.block(time.Second)
	raw := a.spec("a", bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm1"}}).sign()
	defer func() {
		v := recover()
		if !kv.IsStorageFault(v) {
			t.Fatalf("Apply over a failing store: recovered %v, want the storage fault", v)
		}
	}()
	r := a.l.Apply(faultyStore{a.st, vmKey("vm1")}, a.h, raw)
	t.Fatalf("Apply over a failing store returned %s %s", r.Code, r.Message)
}
