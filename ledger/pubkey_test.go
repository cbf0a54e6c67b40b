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
// (ZIP-215, which accepts R = identity, S = 0 under that key). The key enters
// the ledger with a member's invitation: the key check must refuse that
// invitation, at Check as in the block, so the forged join finds none.
func TestSmallOrderKeysRefusedAtJoin(t *testing.T) {
	zip215 := func(pub, msg, sig []byte) bool { return cmted25519.PubKey(pub).VerifySignature(msg, sig) }
	capOf := func(string) bbus.Resources { return bbus.Resources{CPU: 8, MemMiB: 8192} }
	h := Header{Height: 1, Time: testGenesisTime.Add(time.Second)}
	identity := append([]byte{1}, make([]byte, 31)...)
	newState := func(l *Ledger) kv.Store {
		st := kv.NewMem()
		if err := l.InitGenesis(st, testChainID, testGenesis([]string{"a"}, capOf, bbus.DefaultParams()), testGenesisTime); err != nil {
			t.Fatal(err)
		}
		return st
	}
	nonce := uint64(0)
	invite := func(act bbus.Action) []byte {
		nonce++
		raw, _, err := bbus.SignTx(&bbus.Body{ChainID: testChainID, Signer: "a", Nonce: nonce, Expires: h.Time.Unix() + 60, Action: act}, testKey("a"))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	forge := func(act bbus.Action) []byte {
		body, _ := bbus.EncodeBody(&bbus.Body{ChainID: testChainID, Signer: "evil", Nonce: 1, Expires: h.Time.Unix() + 60, Action: act})
		raw, _ := json.Marshal(&bbus.Tx{Body: body, Sig: append(append([]byte{}, identity...), make([]byte, 32)...)})
		return raw
	}
	type attack struct {
		field        string
		invite, join []byte
	}
	attacks := []attack{
		{"cloud_invite.pub_key", invite(bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "evil", PubKey: identity}}),
			forge(bbus.Action{CloudJoin: &bbus.CloudJoin{Name: "evil", PubKey: identity, Resources: capOf("")}})},
		{"cloud_invite.validator_pub_key", invite(bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "evil", PubKey: testPub("evil"), ValidatorKey: identity}}), nil},
		{"oracle_invite.pub_key", invite(bbus.Action{OracleInvite: &bbus.OracleInvite{Oracle: "evil", PubKey: identity}}),
			forge(bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "evil", PubKey: identity}})},
	}
	l := New(zip215).WithKeyCheck(keys.CheckPublicKey)
	for _, at := range attacks {
		st := newState(l)
		before := dumpStore(st)
		for _, r := range []Result{l.Check(st, h, at.invite), l.Apply(st, h, at.invite)} {
			if r.Code != bbus.EINVALID || !strings.Contains(r.Message, at.field) {
				t.Errorf("%s = identity: %s %s, want invalid naming the field", at.field, r.Code, r.Message)
			}
		}
		if at.join != nil {
			if r := l.Check(st, h, at.join); r.Code != bbus.ENOTINVITED {
				t.Errorf("%s: the forged join after the refused invitation: %s %s, want not_invited", at.field, r.Code, r.Message)
			}
		}
		if string(before) != string(dumpStore(st)) {
			t.Errorf("%s: the refused invitation changed the state", at.field)
		}
	}
	// Without the key check, the invitation and then the forgery go through:
	// the test shows the attack.
	weak := New(zip215)
	st := newState(weak)
	if r := weak.Apply(st, h, attacks[2].invite); !r.OK() {
		t.Fatalf("without the key check the invitation is refused (%s %s): the test no longer shows the attack", r.Code, r.Message)
	}
	if r := weak.Apply(st, h, attacks[2].join); !r.OK() {
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
