package ledger

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/kv"
)

// TestSmallOrderKeysRefusedAtJoin runs the forgery of an identity key
// against a ledger whose signature check is the consensus engine's own
// (ZIP-215, which accepts R = identity, S = 0 under that key): the key check
// must refuse the join, at Check as in the block.
func TestSmallOrderKeysRefusedAtJoin(t *testing.T) {
	zip215 := func(pub, msg, sig []byte) bool { return cmted25519.PubKey(pub).VerifySignature(msg, sig) }
	l := New(zip215).WithKeyCheck(keys.CheckPublicKey)
	st := kv.NewMem()
	capOf := func(string) bbus.Resources { return bbus.Resources{CPU: 8, MemMiB: 8192} }
	if err := l.InitGenesis(st, testChainID, testGenesis([]string{"a", "b"}, capOf, bbus.DefaultParams()), testGenesisTime); err != nil {
		t.Fatal(err)
	}
	h := Header{Height: 1, Time: testGenesisTime.Add(time.Second)}
	identity := append([]byte{1}, make([]byte, 31)...)
	forge := func(act bbus.Action) []byte {
		body, _ := bbus.EncodeBody(&bbus.Body{ChainID: testChainID, Signer: "evil", Nonce: 1, Expires: h.Time.Unix() + 60, Action: act})
		raw, _ := json.Marshal(&bbus.Tx{Body: body, Sig: append(append([]byte{}, identity...), make([]byte, 32)...)})
		return raw
	}
	for name, raw := range map[string][]byte{
		"cloud_join.pub_key":  forge(bbus.Action{CloudJoin: &bbus.CloudJoin{Name: "evil", PubKey: identity, Resources: capOf("")}}),
		"oracle_join.pub_key": forge(bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "evil", PubKey: identity}}),
	} {
		before := dumpStore(st)
		for _, r := range []Result{l.Check(st, h, raw), l.Apply(st, h, raw)} {
			if r.Code != bbus.EINVALID || !strings.Contains(r.Message, name) {
				t.Errorf("%s = identity with a forged signature: %s %s, want invalid naming the field", name, r.Code, r.Message)
			}
		}
		if string(before) != string(dumpStore(st)) {
			t.Errorf("%s: the refused join changed the state", name)
		}
	}
	// Without the key check, the forgery goes through: the test shows the attack.
	if r := New(zip215).Check(st, h, forge(bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "evil", PubKey: identity}})); !r.OK() {
		t.Fatalf("the forged join is refused without the key check too (%s %s): the test no longer shows the attack", r.Code, r.Message)
	}
}

// TestGenesisRefusesSmallOrderKeys: a founding cloud's keys follow the same rule.
func TestGenesisRefusesSmallOrderKeys(t *testing.T) {
	identity := append([]byte{1}, make([]byte, 31)...)
	capOf := func(string) bbus.Resources { return bbus.Resources{CPU: 8, MemMiB: 8192} }
	for _, field := range []string{"pub_key", "validator_pub_key"} {
		g := testGenesis([]string{"a", "b"}, capOf, bbus.DefaultParams())
		if field == "pub_key" {
			g.Clouds[1].PubKey = identity
		} else {
			g.Clouds[1].ValidatorKey = identity
		}
		err := newTestLedger().InitGenesis(kv.NewMem(), testChainID, g, testGenesisTime)
		if bbus.ErrorCode(err) != bbus.EINVALID || !strings.Contains(bbus.ErrorMessage(err), field) {
			t.Errorf("genesis with the identity as %s: %v", field, err)
		}
	}
}
