package ledger

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// adversary is a small federation in a known state that attacks are run against.
type adversary struct {
	t     *testing.T
	l     *Ledger
	st    *kv.Mem
	h     Header
	nonce uint64
	seen  [][]byte // committed transactions, for replays
}

func (a *adversary) spec(signer string, act bbus.Action) txSpec {
	a.nonce++
	return txSpec{chain: testChainID, signer: signer, nonce: a.nonce, expires: a.h.Time.Unix() + 600, action: act}
}

// must commits a transaction that has to succeed, in a block of its own.
func (a *adversary) must(signer string, act bbus.Action) string {
	a.t.Helper()
	a.block(time.Second)
	raw := a.spec(signer, act).sign()
	r := a.l.Apply(a.st, a.h, raw)
	if !r.OK() {
		a.t.Fatalf("setup %s by %s: %s: %s", r.Type, signer, r.Code, r.Message)
	}
	a.seen = append(a.seen, raw)
	a.l.EndBlock(a.st)
	return r.ID
}

func (a *adversary) block(d time.Duration) {
	a.h = Header{Height: a.h.Height + 1, Time: a.h.Time.Add(d)}
	a.l.BeginBlock(a.st, a.h)
}

func newAdversary(t *testing.T) *adversary {
	a := &adversary{t: t, l: newTestLedger(), st: kv.NewMem(), h: Header{Time: testGenesisTime}}
	capacity := func(string) bbus.Resources {
		return bbus.Resources{CPU: 16, MemMiB: 16384, DiskIOPS: 1000, NetMbps: 1000}
	}
	if err := a.l.InitGenesis(a.st, testChainID, testGenesis([]string{"a", "b", "c", "d"}, capacity, bbus.DefaultParams()), testGenesisTime); err != nil {
		t.Fatal(err)
	}
	res := bbus.Resources{CPU: 2, MemMiB: 2048}
	a.must("a", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm1", Resources: res}})
	a.must("b", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm2", Resources: res}})
	agr := a.must("b", bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: "b", Consumer: "a",
		PriceVCPUHour: 1_000_000, Availability: 99_000, PenaltyPct: 10_000}})
	a.must("a", bbus.Action{AgreementSign: &bbus.AgreementRef{Agreement: agr}})
	a.must("a", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm1", To: "b", Agreement: agr}}) // mig-1
	a.must("b", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm2", To: "c"}})                 // mig-2
	for _, id := range []string{"o", "p", "q"} {
		a.must("a", bbus.Action{OracleInvite: &bbus.OracleInvite{Oracle: id, PubKey: testPub(id)}})
	}
	a.must("a", bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "e", PubKey: testPub("e")}})
	a.must("a", bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "f", PubKey: testPub("a")}})
	a.must("a", bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "rng", PubKey: testPub("rng")}}) // for the range cases
	a.must("a", bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "g", PubKey: testPub("g"), ValidatorKey: testValKey("g")}})
	a.must("o", bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "probe", PubKey: testPub("o")}})
	for _, m := range []string{"b", "c"} { // with a's invitation, three of four
		a.must(m, bbus.Action{OracleApprove: &bbus.OracleApprove{Oracle: "o", PubKey: testPub("o")}})
	}
	a.must("p", bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "pending", PubKey: testPub("p")}})
	a.must("e", bbus.Action{CloudJoin: &bbus.CloudJoin{Name: "applicant", PubKey: testPub("e"), Resources: res}})
	for _, m := range []string{"a", "b", "c"} {
		a.must(m, bbus.Action{CloudRemove: &bbus.CloudRef{Cloud: "d"}})
	}
	a.block(time.Minute)
	// o reports vm2 over [now-20, now-10); a votes to remove o (not passed).
	now := a.h.Time.Unix()
	a.must("o", bbus.Action{Report: &bbus.ReportAction{VM: "vm2", Start: now - 20, End: now - 10, Availability: 50_000}})
	a.must("a", bbus.Action{OracleRemove: &bbus.OracleRef{Oracle: "o"}})
	a.block(time.Minute)
	return a
}

// nonCanonicalS adds the group order to a signature's S: the same signature in
// a form that strict verifiers must refuse.
func nonCanonicalS(sig []byte) []byte {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	le := func(b []byte) []byte {
		out := make([]byte, len(b))
		for i := range b {
			out[i] = b[len(b)-1-i]
		}
		return out
	}
	s := new(big.Int).SetBytes(le(sig[32:]))
	s.Add(s, l)
	out := append([]byte{}, sig[:32]...)
	sb := le(s.FillBytes(make([]byte, 32)))
	return append(out, sb...)
}

// withSig replaces the signature of a raw transaction.
func withSig(raw, sig []byte) []byte {
	var tx bbus.Tx
	json.Unmarshal(raw, &tx)
	tx.Sig = sig
	b, _ := json.Marshal(&tx)
	return b
}

// TestAdversarialInputs sends transactions built to break a rule and checks
// each is rejected with its code and leaves the state exactly as it was.
func TestAdversarialInputs(t *testing.T) {
	a := newAdversary(t)
	ok := a.spec("a", bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm1"}}).sign()
	res := bbus.Resources{CPU: 1, MemMiB: 1}
	sign := func(signer string, act bbus.Action) []byte { return a.spec(signer, act).sign() }
	signWith := func(s txSpec, f func(*txSpec)) []byte { f(&s); return s.sign() }
	now := a.h.Time.Unix()
	cases := []struct {
		name string
		raw  []byte
		code string
	}{
		// Encodings.
		{"empty", nil, bbus.EMALFORMED},
		{"empty object", []byte("{}"), bbus.EMALFORMED},
		{"not JSON", []byte("\x00\xffgarbage"), bbus.EMALFORMED},
		{"truncated", ok[:len(ok)-10], bbus.EMALFORMED},
		{"trailing space", append(append([]byte{}, ok...), ' '), bbus.EMALFORMED},
		{"indented", func() []byte { var b bytes.Buffer; json.Indent(&b, ok, "", " "); return b.Bytes() }(), bbus.EMALFORMED},
		{"unknown body field", bytes.Replace(ok, []byte(`"nonce"`), []byte(`"extra":1,"nonce"`), 1), bbus.EMALFORMED},
		{"unknown envelope field", bytes.Replace(ok, []byte(`,"sig"`), []byte(`,"x":1,"sig"`), 1), bbus.EMALFORMED},
		{"duplicate field", bytes.Replace(ok, []byte(`"signer":"a"`), []byte(`"signer":"b","signer":"a"`), 1), bbus.EMALFORMED},
		{"escaped character", bytes.Replace(ok, []byte(`"vm1"`), []byte(`"\u0076m1"`), 1), bbus.EMALFORMED},
		{"nonce as string", bytes.Replace(ok, []byte(`"nonce":`), []byte(`"nonce":"1",`), 1), bbus.EMALFORMED},
		{"two actions", bytes.Replace(ok, []byte(`{"vm_terminate"`), []byte(`{"vm_register":{"vm":"x","cpu":1,"mem_mib":1,"disk_iops":0,"net_mbps":0},"vm_terminate"`), 1), bbus.EMALFORMED},
		{"no action", bytes.Replace(ok, []byte(`{"vm_terminate":{"vm":"vm1"}}`), []byte(`{}`), 1), bbus.EMALFORMED},
		{"null action", bytes.Replace(ok, []byte(`{"vm_terminate":{"vm":"vm1"}}`), []byte(`{"vm_terminate":null}`), 1), bbus.EMALFORMED},
		{"oversized", sign("a", bbus.Action{VMRegister: &bbus.VMRegister{VM: "big", Image: strings.Repeat("a", 20000), Resources: res}}), bbus.ETOOLARGE},
		{"short signature", withSig(ok, make([]byte, 10)), bbus.EBADSIG},
		{"no signature", withSig(ok, nil), bbus.EBADSIG},
		// Chain, expiry, replay.
		{"wrong chain", signWith(a.spec("a", bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm1"}}), func(s *txSpec) { s.chain = "other" }), bbus.EWRONGCHAIN},
		{"replay", a.seen[0], bbus.EREPLAY},
		{"replay of another chain's transaction", signWith(a.spec("a", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm1", Resources: res}}), func(s *txSpec) { s.chain = "bbus-elsewhere" }), bbus.EWRONGCHAIN},
		{"expired", signWith(a.spec("a", bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm1"}}), func(s *txSpec) { s.expires = now - 1 }), bbus.EEXPIRED},
		{"negative expiry", signWith(a.spec("a", bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm1"}}), func(s *txSpec) { s.expires = -1 }), bbus.EEXPIRED},
		{"expiry too far ahead", signWith(a.spec("a", bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm1"}}), func(s *txSpec) { s.expires = now + 86400 }), bbus.EEXPIRED},
		// Signatures and identities.
		{"signed with another key", signWith(a.spec("a", bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm1"}}), func(s *txSpec) { s.key = testKey("b") }), bbus.EBADSIG},
		{"flipped signature bit", func() []byte { var tx bbus.Tx; json.Unmarshal(ok, &tx); tx.Sig[5] ^= 1; return withSig(ok, tx.Sig) }(), bbus.EBADSIG},
		{"malleated signature (S+L)", func() []byte { var tx bbus.Tx; json.Unmarshal(ok, &tx); return withSig(ok, nonCanonicalS(tx.Sig)) }(), bbus.EBADSIG},
		{"unknown signer", sign("zed", bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm1"}}), bbus.EUNKNOWNSIGNER},
		{"removed member signs", sign("d", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vmd", Resources: res}}), bbus.ENOTMEMBER},
		{"pending applicant signs", sign("e", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vme", Resources: res}}), bbus.ENOTMEMBER},
		{"unapproved oracle reports", sign("p", bbus.Action{Report: &bbus.ReportAction{VM: "vm2", Start: now - 30, End: now - 20, Availability: 50_000}}), bbus.ENOTMEMBER},
		{"member poses as oracle", sign("a", bbus.Action{Report: &bbus.ReportAction{VM: "vm2", Start: now - 30, End: now - 20, Availability: 50_000}}), bbus.EUNAUTHORIZED},
		{"oracle acts as a cloud", sign("o", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vmo", Resources: res}}), bbus.EUNAUTHORIZED},
		{"join with someone else's key", signWith(a.spec("f", bbus.Action{CloudJoin: &bbus.CloudJoin{Name: "f", PubKey: testPub("a"), Resources: res}}), func(s *txSpec) { s.key = testKey("f") }), bbus.EBADSIG},
		{"join under a taken id", sign("a", bbus.Action{CloudJoin: &bbus.CloudJoin{Name: "again", PubKey: testPub("a"), Resources: res}}), bbus.ENOTINVITED},
		// Invitations: nobody uninvited writes, and an invitation binds its keys.
		{"uninvited cloud join", sign("stranger", bbus.Action{CloudJoin: &bbus.CloudJoin{Name: "s", PubKey: testPub("stranger"), Resources: res}}), bbus.ENOTINVITED},
		{"uninvited oracle join", sign("stranger", bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "s", PubKey: testPub("stranger")}}), bbus.ENOTINVITED},
		{"squatter on an invited id", signWith(a.spec("g", bbus.Action{CloudJoin: &bbus.CloudJoin{Name: "g", PubKey: testPub("h"), ValidatorKey: testValKey("g"), Resources: res}}), func(s *txSpec) { s.key = testKey("h") }), bbus.ENOTINVITED},
		{"join without the invited validator key", sign("g", bbus.Action{CloudJoin: &bbus.CloudJoin{Name: "g", PubKey: testPub("g"), ValidatorKey: testValKey("h"), Resources: res}}), bbus.ENOTINVITED},
		{"cloud invitation used by an oracle join", sign("g", bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "g", PubKey: testPub("g")}}), bbus.ENOTINVITED},
		{"oracle invitation used by a cloud join", sign("q", bbus.Action{CloudJoin: &bbus.CloudJoin{Name: "q", PubKey: testPub("q"), Resources: res}}), bbus.ENOTINVITED},
		{"approve naming another key", sign("b", bbus.Action{CloudApprove: &bbus.CloudApprove{Cloud: "e", PubKey: testPub("h")}}), bbus.ESTATE},
		{"approve without a key", sign("b", bbus.Action{CloudApprove: &bbus.CloudApprove{Cloud: "e"}}), bbus.EINVALID},
		{"oracle approve naming another key", sign("b", bbus.Action{OracleApprove: &bbus.OracleApprove{Oracle: "p", PubKey: testPub("h")}}), bbus.ESTATE},
		{"invite a taken id", sign("b", bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "e", PubKey: testPub("x")}}), bbus.EEXISTS},
		{"invite an invited id", sign("b", bbus.Action{OracleInvite: &bbus.OracleInvite{Oracle: "g", PubKey: testPub("x")}}), bbus.EEXISTS},
		{"invite a validator key a cloud holds", sign("b", bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "x", PubKey: testPub("x"), ValidatorKey: testValKey("a")}}), bbus.EEXISTS},
		{"invite a validator key an invitation holds", sign("b", bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "x", PubKey: testPub("x"), ValidatorKey: testValKey("g")}}), bbus.EEXISTS},
		{"invite with a short key", sign("b", bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "x", PubKey: testPub("x")[:31]}}), bbus.EINVALID},
		{"invite with a short validator key", sign("b", bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "x", PubKey: testPub("x"), ValidatorKey: []byte{1}}}), bbus.EINVALID},
		{"invite with a bad id", sign("b", bbus.Action{OracleInvite: &bbus.OracleInvite{Oracle: "x/y", PubKey: testPub("x")}}), bbus.EINVALID},
		{"invite by a pending applicant", sign("e", bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "x", PubKey: testPub("x")}}), bbus.ENOTMEMBER},
		{"invite by an oracle", sign("o", bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "x", PubKey: testPub("x")}}), bbus.EUNAUTHORIZED},
		{"invite by a removed member", sign("d", bbus.Action{OracleInvite: &bbus.OracleInvite{Oracle: "x", PubKey: testPub("x")}}), bbus.ENOTMEMBER},
		// Every action by the wrong party.
		{"propose a VM the signer does not host", sign("c", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm1", To: "c"}}), bbus.EUNAUTHORIZED},
		{"accept by the source", sign("a", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: "mig-1"}}), bbus.EUNAUTHORIZED},
		{"accept by a bystander", sign("c", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: "mig-1"}}), bbus.EUNAUTHORIZED},
		{"complete by the source", sign("a", bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: "mig-1"}}), bbus.EUNAUTHORIZED},
		{"reject by the source", sign("a", bbus.Action{MigrationReject: &bbus.MigrationRef{Migration: "mig-1"}}), bbus.EUNAUTHORIZED},
		{"cancel by the destination", sign("b", bbus.Action{MigrationCancel: &bbus.MigrationRef{Migration: "mig-1"}}), bbus.EUNAUTHORIZED},
		{"terminate by a non-owner", sign("b", bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm1"}}), bbus.EUNAUTHORIZED},
		{"agreement signed by a third party", sign("c", bbus.Action{AgreementSign: &bbus.AgreementRef{Agreement: "agr-1"}}), bbus.EUNAUTHORIZED},
		{"agreement proposed for others", sign("c", bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: "a", Consumer: "b", Availability: 1, PenaltyPct: 1}}), bbus.EUNAUTHORIZED},
		{"correction of an invoice that was never made", sign("b", bbus.Action{InvoiceCorrect: &bbus.InvoiceCorrect{Invoice: "inv-9", Reason: "x"}}), bbus.ENOTFOUND},
		{"invoice closed by the consumer", sign("a", bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: "b", Consumer: "a", Until: now - 1}}), bbus.EUNAUTHORIZED},
		{"second open migration", sign("a", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm1", To: "c"}}), bbus.EOPEN},
		{"complete before accept", sign("b", bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: "mig-1"}}), bbus.ESTATE},
		{"vote twice", sign("a", bbus.Action{OracleApprove: &bbus.OracleApprove{Oracle: "p", PubKey: testPub("p")}}), bbus.ESTATE}, // a's invitation was its vote
		// Numbers out of range.
		{"cpu over the limit", sign("a", bbus.Action{VMRegister: &bbus.VMRegister{VM: "huge", Resources: bbus.Resources{CPU: bbus.MaxResource + 1, MemMiB: 1}}}), bbus.EINVALID},
		{"negative memory", sign("a", bbus.Action{VMRegister: &bbus.VMRegister{VM: "neg", Resources: bbus.Resources{CPU: 1, MemMiB: -1}}}), bbus.EINVALID},
		{"more than the cloud has", sign("a", bbus.Action{VMRegister: &bbus.VMRegister{VM: "fat", Resources: bbus.Resources{CPU: 1 << 30, MemMiB: 1}}}), bbus.ECAPACITY},
		{"price over the limit", sign("a", bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: "a", Consumer: "b", PriceVCPUHour: bbus.MaxPrice + 1, Availability: 1, PenaltyPct: 1}}), bbus.EINVALID},
		{"availability over 100%", sign("a", bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: "a", Consumer: "b", Availability: 100_001, PenaltyPct: 1}}), bbus.EINVALID},
		{"negative penalty", sign("a", bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: "a", Consumer: "b", Availability: 1, PenaltyPct: -1}}), bbus.EINVALID},
		{"negative offer price", sign("a", bbus.Action{OfferPublish: &bbus.OfferPublish{Resources: res, PriceVCPUHour: -1}}), bbus.EINVALID},
		// Time windows.
		{"report window in the future", sign("o", bbus.Action{Report: &bbus.ReportAction{VM: "vm2", Start: now - 10, End: now + 60, Availability: 50_000}}), bbus.EINVALID},
		{"report window before the VM existed", sign("o", bbus.Action{Report: &bbus.ReportAction{VM: "vm2", Start: testGenesisTime.Unix() - 100, End: now - 1, Availability: 50_000}}), bbus.EINVALID},
		{"report of an unknown VM", sign("o", bbus.Action{Report: &bbus.ReportAction{VM: "ghost", Start: now - 10, End: now - 5, Availability: 50_000}}), bbus.ENOTFOUND},
		{"invoice for the future", sign("b", bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: "b", Consumer: "a", Until: now + 3600}}), bbus.EINVALID},
		{"agreement ending in the past", sign("a", bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: "a", Consumer: "b", Availability: 1, PenaltyPct: 1, Until: now - 10}}), bbus.EINVALID},
		// Ids.
		{"id with a control character", sign("a", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm\x01", Resources: res}}), bbus.EINVALID},
		{"id with a slash", sign("a", bbus.Action{VMRegister: &bbus.VMRegister{VM: "v/1", Resources: res}}), bbus.EINVALID},
		{"huge id", sign("a", bbus.Action{VMRegister: &bbus.VMRegister{VM: strings.Repeat("v", 5000), Resources: res}}), bbus.EINVALID},
		{"signer id with a space", signWith(a.spec("a b", bbus.Action{CloudJoin: &bbus.CloudJoin{Name: "x", PubKey: testPub("x"), Resources: res}}), func(s *txSpec) { s.key = testKey("x") }), bbus.EINVALID},
		{"migration id that was never made", sign("b", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: "mig-007"}}), bbus.ENOTFOUND},
		{"name with a quote", sign("q", bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "say \"hi\"", PubKey: testPub("q")}}), bbus.EINVALID},
		// Ledger rules of issue 11: reports from before the oracle's
		// admission, declines by the wrong party, times at the ends of int64.
		{"report window before the oracle was admitted", sign("o", bbus.Action{Report: &bbus.ReportAction{VM: "vm2", Start: testGenesisTime.Unix() + 3, End: testGenesisTime.Unix() + 8, Availability: 50_000}}), bbus.EINVALID},
		{"report window starting a second before the oracle's admission", sign("o", bbus.Action{Report: &bbus.ReportAction{VM: "vm2", Start: testGenesisTime.Unix() + 9, End: now - 1, Availability: 50_000}}), bbus.EINVALID},
		{"report window ending at MaxInt64", sign("o", bbus.Action{Report: &bbus.ReportAction{VM: "vm2", Start: now - 10, End: 1<<63 - 1, Availability: 50_000}}), bbus.EINVALID},
		{"report window starting at MinInt64", sign("o", bbus.Action{Report: &bbus.ReportAction{VM: "vm2", Start: -1 << 63, End: now - 1, Availability: 50_000}}), bbus.EINVALID},
		{"report window at the top of int64", sign("o", bbus.Action{Report: &bbus.ReportAction{VM: "vm2", Start: 1<<63 - 2, End: 1<<63 - 1, Availability: 50_000}}), bbus.EINVALID},
		{"invoice until MaxInt64", sign("b", bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: "b", Consumer: "a", Until: 1<<63 - 1}}), bbus.EINVALID},
		{"invoice until MinInt64", sign("b", bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: "b", Consumer: "a", Until: -1 << 63}}), bbus.EINVALID},
		{"agreement until MaxInt64", sign("a", bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: "a", Consumer: "b", Availability: 1, PenaltyPct: 1, Until: 1<<63 - 1}}), bbus.EINVALID},
		{"agreement until year 10000", sign("a", bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: "a", Consumer: "b", Availability: 1, PenaltyPct: 1, Until: 253402300800}}), bbus.EINVALID},
		{"decline by a third party", sign("c", bbus.Action{AgreementDecline: &bbus.AgreementDecline{Agreement: "agr-1"}}), bbus.EUNAUTHORIZED},
		{"decline by the proposer", sign("b", bbus.Action{AgreementDecline: &bbus.AgreementDecline{Agreement: "agr-1"}}), bbus.EUNAUTHORIZED},
		{"decline a signed agreement", sign("a", bbus.Action{AgreementDecline: &bbus.AgreementDecline{Agreement: "agr-1"}}), bbus.ESTATE},
		{"decline a migration id", sign("a", bbus.Action{AgreementDecline: &bbus.AgreementDecline{Agreement: "mig-1"}}), bbus.EINVALID},
		{"decline with a reason too long", sign("a", bbus.Action{AgreementDecline: &bbus.AgreementDecline{Agreement: "agr-1", Reason: strings.Repeat("x", 300)}}), bbus.EINVALID},
		// The quorum of oracles (docs/CHARGING.md): each oracle reports a
		// window once; only members vote an active oracle out.
		{"an oracle reports its own window again", sign("o", bbus.Action{Report: &bbus.ReportAction{VM: "vm2", Start: now - 82, End: now - 72, Availability: 100_000}}), bbus.EEXISTS},
		{"an oracle's window overlapping its own earlier one", sign("o", bbus.Action{Report: &bbus.ReportAction{VM: "vm2", Start: now - 75, End: now - 60, Availability: 100_000}}), bbus.EEXISTS},
		{"an oracle's window covering its own earlier one", sign("o", bbus.Action{Report: &bbus.ReportAction{VM: "vm2", Start: now - 90, End: now - 1, Availability: 100_000}}), bbus.EEXISTS},
		{"an oracle votes an oracle out", sign("o", bbus.Action{OracleRemove: &bbus.OracleRef{Oracle: "o"}}), bbus.EUNAUTHORIZED},
		{"remove an unknown oracle", sign("a", bbus.Action{OracleRemove: &bbus.OracleRef{Oracle: "ghost"}}), bbus.ENOTFOUND},
		{"remove a pending oracle", sign("a", bbus.Action{OracleRemove: &bbus.OracleRef{Oracle: "p"}}), bbus.ESTATE},
		{"remove an oracle id with a slash", sign("a", bbus.Action{OracleRemove: &bbus.OracleRef{Oracle: "o/1"}}), bbus.EINVALID},
		{"vote twice to remove an oracle", sign("a", bbus.Action{OracleRemove: &bbus.OracleRef{Oracle: "o"}}), bbus.ESTATE},
		{"a removed cloud votes an oracle out", sign("d", bbus.Action{OracleRemove: &bbus.OracleRef{Oracle: "o"}}), bbus.ENOTMEMBER},
		{"decline an agreement never made", sign("a", bbus.Action{AgreementDecline: &bbus.AgreementDecline{Agreement: "agr-18446744073709551615"}}), bbus.ENOTFOUND},
	}
	// Every field at the extremes of its type: refused by the action's
	// Validate, at CheckTx as in the block.
	max, min := int64(math.MaxInt64), int64(math.MinInt64)
	const year10000 = bbus.MaxUnix + 1
	agr := func(f func(*bbus.AgreementPropose)) []byte {
		ap := &bbus.AgreementPropose{Provider: "a", Consumer: "b", PriceVCPUHour: 1, Availability: 99_000, PenaltyPct: 1_000}
		f(ap)
		return sign("a", bbus.Action{AgreementPropose: ap})
	}
	rep := func(f func(*bbus.ReportAction)) []byte {
		r := &bbus.ReportAction{VM: "vm2", Start: now - 30, End: now - 20, Availability: 50_000}
		f(r)
		return sign("o", bbus.Action{Report: r})
	}
	inv := func(f func(*bbus.InvoiceClose)) []byte {
		ic := &bbus.InvoiceClose{Provider: "b", Consumer: "a", Until: now - 1}
		f(ic)
		return sign("b", bbus.Action{InvoiceClose: ic})
	}
	vm := func(f func(*bbus.VMRegister)) []byte {
		v := &bbus.VMRegister{VM: "vmx", Resources: res}
		f(v)
		return sign("a", bbus.Action{VMRegister: v})
	}
	offer := func(f func(*bbus.OfferPublish)) []byte {
		o := &bbus.OfferPublish{Resources: res, PriceVCPUHour: 1}
		f(o)
		return sign("a", bbus.Action{OfferPublish: o})
	}
	join := func(f func(*bbus.CloudJoin)) []byte {
		j := &bbus.CloudJoin{Name: "newcomer", PubKey: testPub("rng"), Resources: res}
		f(j)
		return signWith(a.spec("rng", bbus.Action{CloudJoin: j}), func(s *txSpec) { s.key = testKey("rng") })
	}
	identity := append([]byte{1}, make([]byte, 31)...)
	forged := func(signer string, act bbus.Action) []byte { // R = identity, S = 0: valid for any message under ZIP-215
		body, err := bbus.EncodeBody(&bbus.Body{ChainID: testChainID, Signer: signer, Nonce: 1, Expires: now + 600, Action: act})
		if err != nil {
			panic(err)
		}
		raw, _ := json.Marshal(&bbus.Tx{Body: body, Sig: append(append([]byte{}, identity...), make([]byte, 32)...)})
		return raw
	}
	order8, _ := hex.DecodeString("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
	identityPlusP, _ := hex.DecodeString("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f") // y = p + 1: the identity, not canonical
	long := strings.Repeat("n", bbus.MaxTextLen+1)
	ranges := []struct {
		name string
		raw  []byte
		code string
	}{
		{"expires at MaxInt64", signWith(a.spec("a", bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm1"}}), func(s *txSpec) { s.expires = max }), bbus.EEXPIRED},
		{"expires at MinInt64", signWith(a.spec("a", bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm1"}}), func(s *txSpec) { s.expires = min }), bbus.EEXPIRED},
		{"agreement until year 10000", agr(func(x *bbus.AgreementPropose) { x.Until = year10000 }), bbus.EINVALID},
		{"agreement until MaxInt64", agr(func(x *bbus.AgreementPropose) { x.Until = max }), bbus.EINVALID},
		{"agreement until -1", agr(func(x *bbus.AgreementPropose) { x.Until = -1 }), bbus.EINVALID},
		{"agreement until MinInt64", agr(func(x *bbus.AgreementPropose) { x.Until = min }), bbus.EINVALID},
		{"agreement vCPU price MaxInt64", agr(func(x *bbus.AgreementPropose) { x.PriceVCPUHour = max }), bbus.EINVALID},
		{"agreement vCPU price MinInt64", agr(func(x *bbus.AgreementPropose) { x.PriceVCPUHour = min }), bbus.EINVALID},
		{"agreement GiB price MaxInt64", agr(func(x *bbus.AgreementPropose) { x.PriceGiBHour = max }), bbus.EINVALID},
		{"agreement GiB price -1", agr(func(x *bbus.AgreementPropose) { x.PriceGiBHour = -1 }), bbus.EINVALID},
		{"agreement availability MaxInt64", agr(func(x *bbus.AgreementPropose) { x.Availability = max }), bbus.EINVALID},
		{"agreement availability MinInt64", agr(func(x *bbus.AgreementPropose) { x.Availability = min }), bbus.EINVALID},
		{"agreement penalty MaxInt64", agr(func(x *bbus.AgreementPropose) { x.PenaltyPct = max }), bbus.EINVALID},
		{"agreement penalty 100.001%", agr(func(x *bbus.AgreementPropose) { x.PenaltyPct = bbus.MaxPct + 1 }), bbus.EINVALID},
		{"agreement max latency MaxInt64", agr(func(x *bbus.AgreementPropose) { x.MaxLatencyMS = max }), bbus.EINVALID},
		{"agreement max latency MinInt64", agr(func(x *bbus.AgreementPropose) { x.MaxLatencyMS = min }), bbus.EINVALID},
		{"agreement with itself", agr(func(x *bbus.AgreementPropose) { x.Consumer = "a" }), bbus.EINVALID},
		{"agreement with an empty provider", agr(func(x *bbus.AgreementPropose) { x.Provider = "" }), bbus.EINVALID},
		{"agreement with a 65-character consumer", agr(func(x *bbus.AgreementPropose) { x.Consumer = strings.Repeat("c", 65) }), bbus.EINVALID},
		{"agreement with a unicode consumer", agr(func(x *bbus.AgreementPropose) { x.Consumer = "bé" }), bbus.EINVALID},
		{"report end MaxInt64", rep(func(x *bbus.ReportAction) { x.End = max }), bbus.EINVALID},
		{"report end year 10000", rep(func(x *bbus.ReportAction) { x.End = year10000 }), bbus.EINVALID},
		{"report start MinInt64", rep(func(x *bbus.ReportAction) { x.Start = min }), bbus.EINVALID},
		{"report start -1", rep(func(x *bbus.ReportAction) { x.Start = -1 }), bbus.EINVALID},
		{"report start and end MaxInt64", rep(func(x *bbus.ReportAction) { x.Start, x.End = max, max }), bbus.EINVALID},
		{"report empty window", rep(func(x *bbus.ReportAction) { x.End = x.Start }), bbus.EINVALID},
		{"report window backwards", rep(func(x *bbus.ReportAction) { x.Start, x.End = x.End, x.Start }), bbus.EINVALID},
		{"report availability MaxInt64", rep(func(x *bbus.ReportAction) { x.Availability = max }), bbus.EINVALID},
		{"report availability MinInt64", rep(func(x *bbus.ReportAction) { x.Availability = min }), bbus.EINVALID},
		{"report latency MaxInt64", rep(func(x *bbus.ReportAction) { x.LatencyMS = max }), bbus.EINVALID},
		{"report latency -1", rep(func(x *bbus.ReportAction) { x.LatencyMS = -1 }), bbus.EINVALID},
		{"report of an empty VM id", rep(func(x *bbus.ReportAction) { x.VM = "" }), bbus.EINVALID},
		{"invoice until MaxInt64", inv(func(x *bbus.InvoiceClose) { x.Until = max }), bbus.EINVALID},
		{"invoice until -1", inv(func(x *bbus.InvoiceClose) { x.Until = -1 }), bbus.EINVALID},
		{"invoice until MinInt64", inv(func(x *bbus.InvoiceClose) { x.Until = min }), bbus.EINVALID},
		{"invoice until year 10000", inv(func(x *bbus.InvoiceClose) { x.Until = year10000 }), bbus.EINVALID},
		{"invoice to itself", inv(func(x *bbus.InvoiceClose) { x.Consumer = "b" }), bbus.EINVALID},
		{"invoice to an empty consumer", inv(func(x *bbus.InvoiceClose) { x.Consumer = "" }), bbus.EINVALID},
		{"dispute with a unicode reason", sign("a", bbus.Action{InvoiceDispute: &bbus.InvoiceDispute{Invoice: "inv-1", Reason: "trop cher é"}}), bbus.EINVALID},
		{"dispute with a 257-character reason", sign("a", bbus.Action{InvoiceDispute: &bbus.InvoiceDispute{Invoice: "inv-1", Reason: long}}), bbus.EINVALID},
		{"dispute with a line break", sign("a", bbus.Action{InvoiceDispute: &bbus.InvoiceDispute{Invoice: "inv-1", Reason: "a\nb"}}), bbus.EINVALID},
		{"accept an empty invoice id", sign("a", bbus.Action{InvoiceAccept: &bbus.InvoiceRef{Invoice: ""}}), bbus.EINVALID},
		{"correction without a reason", sign("b", bbus.Action{InvoiceCorrect: &bbus.InvoiceCorrect{Invoice: "inv-1", Hosting: 1}}), bbus.EINVALID},
		{"correction with a unicode reason", sign("b", bbus.Action{InvoiceCorrect: &bbus.InvoiceCorrect{Invoice: "inv-1", Reason: "trop cher é"}}), bbus.EINVALID},
		{"correction hosting -1", sign("b", bbus.Action{InvoiceCorrect: &bbus.InvoiceCorrect{Invoice: "inv-1", Hosting: -1, Reason: "x"}}), bbus.EINVALID},
		{"correction hosting MinInt64", sign("b", bbus.Action{InvoiceCorrect: &bbus.InvoiceCorrect{Invoice: "inv-1", Hosting: min, Reason: "x"}}), bbus.EINVALID},
		{"correction penalties MinInt64", sign("b", bbus.Action{InvoiceCorrect: &bbus.InvoiceCorrect{Invoice: "inv-1", Penalties: min, Reason: "x"}}), bbus.EINVALID},
		{"correction of an empty invoice id", sign("b", bbus.Action{InvoiceCorrect: &bbus.InvoiceCorrect{Reason: "x"}}), bbus.EINVALID},
		{"VM cpu MaxInt64", vm(func(x *bbus.VMRegister) { x.CPU = max }), bbus.EINVALID},
		{"VM cpu MinInt64", vm(func(x *bbus.VMRegister) { x.CPU = min }), bbus.EINVALID},
		{"VM memory MaxInt64", vm(func(x *bbus.VMRegister) { x.MemMiB = max }), bbus.EINVALID},
		{"VM disk -1", vm(func(x *bbus.VMRegister) { x.DiskIOPS = -1 }), bbus.EINVALID},
		{"VM network MaxInt64", vm(func(x *bbus.VMRegister) { x.NetMbps = max }), bbus.EINVALID},
		{"VM with zero cpu", vm(func(x *bbus.VMRegister) { x.CPU = 0 }), bbus.EINVALID},
		{"VM image in upper case", vm(func(x *bbus.VMRegister) { x.Image = "sha256:" + strings.Repeat("AB", 32) }), bbus.EINVALID},
		{"VM image in unicode", vm(func(x *bbus.VMRegister) { x.Image = "sha256:é" }), bbus.EINVALID},
		{"VM id of 65 characters", vm(func(x *bbus.VMRegister) { x.VM = strings.Repeat("v", 65) }), bbus.EINVALID},
		{"offer cpu MinInt64", offer(func(x *bbus.OfferPublish) { x.CPU = min }), bbus.EINVALID},
		{"offer price MaxInt64", offer(func(x *bbus.OfferPublish) { x.PriceVCPUHour = max }), bbus.EINVALID},
		{"offer GiB price MinInt64", offer(func(x *bbus.OfferPublish) { x.PriceGiBHour = min }), bbus.EINVALID},
		{"offer with 17 tags", offer(func(x *bbus.OfferPublish) {
			for i := 0; i < 17; i++ {
				x.Tags = append(x.Tags, bbus.Tag{Key: fmt.Sprintf("k%02d", i), Value: "v"})
			}
		}), bbus.EINVALID},
		{"offer tags unsorted", offer(func(x *bbus.OfferPublish) { x.Tags = []bbus.Tag{{Key: "z", Value: "1"}, {Key: "a", Value: "2"}} }), bbus.EINVALID},
		{"offer tags repeated", offer(func(x *bbus.OfferPublish) { x.Tags = []bbus.Tag{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}} }), bbus.EINVALID},
		{"offer tag with an empty key", offer(func(x *bbus.OfferPublish) { x.Tags = []bbus.Tag{{Key: "", Value: "1"}} }), bbus.EINVALID},
		{"offer tag value with '<'", offer(func(x *bbus.OfferPublish) { x.Tags = []bbus.Tag{{Key: "k", Value: "<script>"}} }), bbus.EINVALID},
		{"join with an empty name", join(func(x *bbus.CloudJoin) { x.Name = "" }), bbus.EINVALID},
		{"join with a 257-character name", join(func(x *bbus.CloudJoin) { x.Name = long }), bbus.EINVALID},
		{"join with a unicode name", join(func(x *bbus.CloudJoin) { x.Name = "nuage é" }), bbus.EINVALID},
		{"join with a line break in the api", join(func(x *bbus.CloudJoin) { x.API = "http://x\n" }), bbus.EINVALID},
		{"join with a 31-byte validator key", join(func(x *bbus.CloudJoin) { x.ValidatorKey = make([]byte, 31) }), bbus.EINVALID},
		{"join with capacity MaxInt64", join(func(x *bbus.CloudJoin) { x.NetMbps = max }), bbus.EINVALID},
		{"join with capacity -1", join(func(x *bbus.CloudJoin) { x.CPU = -1 }), bbus.EINVALID},
		{"join with the identity as validator key", join(func(x *bbus.CloudJoin) { x.ValidatorKey = identity }), bbus.EINVALID},
		{"join with a validator key of order 8", join(func(x *bbus.CloudJoin) { x.ValidatorKey = order8 }), bbus.EINVALID},
		{"join with a non-canonical validator key", join(func(x *bbus.CloudJoin) { x.ValidatorKey = identityPlusP }), bbus.EINVALID},
		{"join with the identity key and a forged signature", forged("evil", bbus.Action{CloudJoin: &bbus.CloudJoin{Name: "evil", PubKey: identity, Resources: res}}), bbus.ENOTINVITED}, // and no invitation can name it
		{"oracle join with the identity key and a forged signature", forged("evil", bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "evil", PubKey: identity}}), bbus.ENOTINVITED},
		{"invite the identity key", sign("a", bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "evil", PubKey: identity}}), bbus.EINVALID},
		{"invite an oracle with the identity key", sign("a", bbus.Action{OracleInvite: &bbus.OracleInvite{Oracle: "evil", PubKey: identity}}), bbus.EINVALID},
		{"invite with an order-8 validator key", sign("a", bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "evil", PubKey: testPub("evil"), ValidatorKey: order8}}), bbus.EINVALID},
		{"invite with a non-canonical key", sign("a", bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "evil", PubKey: identityPlusP}}), bbus.EINVALID},
		{"oracle join with an empty name", signWith(a.spec("q", bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "", PubKey: testPub("q")}}), func(s *txSpec) {}), bbus.EINVALID},
		{"propose to an empty cloud", sign("a", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm1", To: ""}}), bbus.EINVALID},
		{"propose under an agreement id with a slash", sign("b", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm2", To: "a", Agreement: "agr/1"}}), bbus.EINVALID},
		{"accept an empty migration id", sign("b", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: ""}}), bbus.EINVALID},
		{"cancel a 100-character migration id", sign("a", bbus.Action{MigrationCancel: &bbus.MigrationRef{Migration: strings.Repeat("m", 100)}}), bbus.EINVALID},
		{"approve an empty cloud id", sign("a", bbus.Action{CloudApprove: &bbus.CloudApprove{Cloud: "", PubKey: testPub("x")}}), bbus.EINVALID},
		{"approve a unicode oracle id", sign("a", bbus.Action{OracleApprove: &bbus.OracleApprove{Oracle: "ö", PubKey: testPub("x")}}), bbus.EINVALID},
		{"sign an empty agreement id", sign("b", bbus.Action{AgreementSign: &bbus.AgreementRef{Agreement: ""}}), bbus.EINVALID},
	}
	stateless := map[string]bool{}
	for _, c := range ranges {
		cases = append(cases, c)
		stateless[c.name] = true
	}
	if len(ranges) < 40 {
		t.Fatalf("only %d range cases", len(ranges))
	}
	if len(cases) < 150 {
		t.Fatalf("only %d cases", len(cases))
	}
	t.Logf("%d signed transactions, %d of them field ranges refused at CheckTx", len(cases), len(ranges))
	a.block(time.Second)
	for _, c := range cases {
		before := dumpStore(a.st)
		r := a.l.Apply(a.st, a.h, c.raw)
		if r.Code != c.code {
			t.Errorf("%s: got %q (%s), want %q", c.name, r.Code, r.Message, c.code)
		}
		if r.Message == "" {
			t.Errorf("%s: rejected without a message", c.name)
		}
		if after := dumpStore(a.st); !bytes.Equal(before, after) {
			t.Errorf("%s: the rejected transaction changed the state: %s", c.name, firstDiff(before, after))
		}
		// CheckTx must never admit what the block would reject for encoding,
		// chain, expiry, replay, signer or signature.
		switch {
		case stateless[c.name], c.code == bbus.EMALFORMED, c.code == bbus.ETOOLARGE, c.code == bbus.EBADSIG, c.code == bbus.EWRONGCHAIN,
			c.code == bbus.EEXPIRED, c.code == bbus.EREPLAY, c.code == bbus.EUNKNOWNSIGNER, c.code == bbus.ENOTMEMBER, c.code == bbus.ENOTINVITED:
			if chk := a.l.Check(a.st, a.h, c.raw); chk.Code != c.code {
				t.Errorf("%s: Check said %q, Apply %q", c.name, chk.Code, c.code)
			}
		}
	}
}

// TestCursorAtLastSequence: a cursor naming the last sequence number a record
// can have (2^64-1) returns an empty page, never the first page (its next
// number wraps to 0), in every list paged by sequence number, walked directly
// or through an index.
func TestCursorAtLastSequence(t *testing.T) {
	a := newAdversary(t)
	a.must("b", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: "mig-1"}})
	a.must("b", bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: "mig-1"}})
	a.block(time.Minute)
	a.must("o", bbus.Action{Report: &bbus.ReportAction{VM: "vm1", Start: a.h.Time.Unix() - 30, End: a.h.Time.Unix() - 20, Availability: 50_000}})
	a.block(time.Hour)
	a.must("b", bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: "b", Consumer: "a", Until: a.h.Time.Unix() - 1}})
	last := func(kind string) bbus.Page { return bbus.Page{After: kind + "-18446744073709551615"} }
	lists := map[string]func(bbus.Page) (int, error){
		"migrations": func(p bbus.Page) (int, error) {
			l, _, err := Migrations(a.st, bbus.MigrationFilter{}, p)
			return len(l), err
		},
		"migrations of a cloud": func(p bbus.Page) (int, error) {
			l, _, err := Migrations(a.st, bbus.MigrationFilter{Cloud: "b"}, p)
			return len(l), err
		},
		"migrations of a VM": func(p bbus.Page) (int, error) {
			l, _, err := Migrations(a.st, bbus.MigrationFilter{VM: "vm1"}, p)
			return len(l), err
		},
		"agreements": func(p bbus.Page) (int, error) {
			l, _, err := Agreements(a.st, bbus.AgreementFilter{}, p)
			return len(l), err
		},
		"agreements of a cloud": func(p bbus.Page) (int, error) {
			l, _, err := Agreements(a.st, bbus.AgreementFilter{Cloud: "a"}, p)
			return len(l), err
		},
		"invoices":            func(p bbus.Page) (int, error) { l, _, err := Invoices(a.st, "", p); return len(l), err },
		"invoices of a cloud": func(p bbus.Page) (int, error) { l, _, err := Invoices(a.st, "a", p); return len(l), err },
		"violations": func(p bbus.Page) (int, error) {
			l, _, err := Violations(a.st, bbus.ViolationFilter{}, p)
			return len(l), err
		},
		"violations of a VM": func(p bbus.Page) (int, error) {
			l, _, err := Violations(a.st, bbus.ViolationFilter{VM: "vm1"}, p)
			return len(l), err
		},
		"violations of a host": func(p bbus.Page) (int, error) {
			l, _, err := Violations(a.st, bbus.ViolationFilter{Cloud: "b"}, p)
			return len(l), err
		},
	}
	kinds := map[string]string{"migrations": "mig", "agreements": "agr", "invoices": "inv", "violations": "vio"}
	for name, list := range lists {
		kind := kinds[strings.Fields(name)[0]]
		if n, err := list(bbus.Page{}); err != nil || n == 0 {
			t.Fatalf("%s: the first page has %d items (%v); the test needs some", name, n, err)
		}
		if n, err := list(last(kind)); err != nil || n != 0 {
			t.Errorf("%s after %s-18446744073709551615: %d items (%v), want an empty page", name, kind, n, err)
		}
	}
}
