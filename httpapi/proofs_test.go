package httpapi_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/node"
	"github.com/bbusdev/bbus/proof"
	"github.com/bbusdev/bbus/tokens"
)

// TestStateProofs: a VM's record, fetched with its proof from a real node, is
// verified with package proof alone against the app hash in the signed header
// of the next height; so is a missing VM's absence; a changed record fails.
func TestStateProofs(t *testing.T) {
	ctx := context.Background()
	l := startNode(t, func(c *node.Config) { c.CreateEmptyBlocksInterval = node.Duration(time.Second) })
	w := l.client(l.token(t, tokens.ScopeWrite))
	c := l.client("")
	if _, err := w.RegisterVM(ctx, bbus.VMRequest{ID: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}, true); err != nil {
		t.Fatal(err)
	}
	// The app hash of height H is in the header of H+1.
	nextAppHash := func(h int64) []byte {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			b, err := c.Block(ctx, h+1)
			if err == nil {
				hash, err := hex.DecodeString(b.AppHash)
				if err != nil {
					t.Fatal(err)
				}
				return hash
			}
			if bbus.ErrorCode(err) != bbus.ENOTFOUND || time.Now().After(deadline) {
				t.Fatalf("block %d: %v", h+1, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	p, err := c.RecordProof(ctx, "vm", "vm-1")
	if err != nil {
		t.Fatal(err)
	}
	var vm bbus.VM
	if err := json.Unmarshal(p.Value, &vm); err != nil || vm.ID != "vm-1" || string(p.Key) != "v/vm-1" {
		t.Fatalf("proof of vm-1: key %q value %s (%v)", p.Key, p.Value, err)
	}
	appHash := nextAppHash(p.Height)
	if err := proof.Verify(appHash, p); err != nil {
		t.Fatalf("vm-1 against the header of height %d: %v", p.Height+1, err)
	}
	forged := *p
	forged.Value = []byte(string(p.Value[:len(p.Value)-1]) + ` `)
	if proof.Verify(appHash, &forged) == nil {
		t.Fatal("a changed record verified")
	}
	byKey, err := c.Proof(ctx, []byte("v/vm-1"))
	if err != nil || string(byKey.Value) != string(p.Value) {
		t.Fatalf("by key: %+v %v", byKey, err)
	}

	none, err := c.RecordProof(ctx, "vm", "vm-2")
	if err != nil || none.Value != nil {
		t.Fatalf("proof of a missing VM: %+v %v", none, err)
	}
	if err := proof.Verify(nextAppHash(none.Height), none); err != nil {
		t.Fatalf("absence of vm-2: %v", err)
	}

	for name, q := range map[string]string{
		"nothing":  "",
		"two":      "?vm=vm-1&cloud=local",
		"bad hex":  "?key=zz",
		"empty":    "?key=",
		"bad id":   "?vm=a/b",
		"long key": "?key=" + hex.EncodeToString(make([]byte, 1025)),
	} {
		resp := call(t, "GET", l.base+"/v1/proofs"+q, nil)
		wantError(t, name, resp, 400, bbus.EINVALID)
	}
}
