package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
	"github.com/bbusdev/bbus/tokens"
)

// TestMarketWrites drives agreements, offers, oracles and invoices through the
// writes the node signs as its cloud ("local"), with another cloud signing its
// own side.
func TestMarketWrites(t *testing.T) {
	ctx := context.Background()
	l := startNode(t, nil)
	write := l.token(t, tokens.ScopeWrite)
	w := l.client(write)
	c2 := l.join(t, w, "c2")
	post := func(path, body string) response { return call(t, "POST", l.base+path, []byte(body), bearer(write)) }

	wantError(t, "offer without a price", post("/v1/offers", `{"cpu":4,"mem_mib":4096}`), 400, bbus.EINVALID)
	wantError(t, "over-precise price", post("/v1/offers", `{"cpu":4,"mem_mib":4096,"price_vcpu_hour":"0.0000001"}`), 400, bbus.EINVALID)
	wantError(t, "price with an exponent", post("/v1/offers", `{"cpu":4,"price_vcpu_hour":1e3}`), 400, bbus.EMALFORMED)
	wantResult(t, "offer", post("/v1/offers", `{"cpu":4,"mem_mib":4096,"price_vcpu_hour":"0.5","tag":["region=eu"]}`), 200)
	// A JSON number is taken too (docs/API.md), beyond the document, which
	// says string so that a generated client keeps decimals exact.
	wantResult(t, "offer priced with a number", call(t, "POST", l.base+"/v1/offers", []byte(`{"cpu":4,"mem_mib":4096,"price_vcpu_hour":0.25,"tag":["region=eu"]}`),
		bearer(write), uncheckedHeader+": a decimal as a JSON number"), 200)
	offers, _, err := l.client("").Offers(ctx, bbus.Page{})
	if err != nil || len(offers) != 1 || offers[0].PriceVCPUHour != 250_000 || offers[0].Tags[0].Value != "eu" {
		t.Fatalf("offers: %+v %v", offers, err)
	}

	// local provides to c2, which signs the agreement itself.
	wantError(t, "availability over 100", post("/v1/agreements", `{"provider":"local","consumer":"c2","price_vcpu_hour":"1","availability":"100.5","penalty_pct":"10"}`), 400, bbus.EINVALID)
	wantError(t, "for two other clouds", post("/v1/agreements", `{"provider":"c2","consumer":"c2","price_vcpu_hour":"1","availability":"99","penalty_pct":"10"}`), 400, bbus.EINVALID)
	agr := wantResult(t, "propose agreement", post("/v1/agreements", `{"provider":"local","consumer":"c2","price_vcpu_hour":"1","availability":"99.5","penalty_pct":"10","max_latency_ms":50}`), 200).ID
	wantError(t, "sign one's own proposal", post("/v1/agreements/"+agr+"/sign", ``), 409, bbus.EUNAUTHORIZED)
	if _, err := l.client("").Send(ctx, c2, bbus.Action{AgreementSign: &bbus.AgreementRef{Agreement: agr}}); err != nil {
		t.Fatal(err)
	}
	if a, err := l.client("").Agreement(ctx, agr); err != nil || a.Status != bbus.AgreementActive || a.Availability != 99_500 {
		t.Fatalf("agreement: %+v %v", a, err)
	}
	// c2 proposes the other way round; the node signs it for local.
	back, err := l.client("").Send(ctx, c2, bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: "c2", Consumer: "local", PriceVCPUHour: 1, Availability: 1, PenaltyPct: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.SignAgreement(ctx, back.ID, true); err != nil {
		t.Fatal(err)
	}
	// c2 proposes twice more; the node declines one over REST and one through
	// the client, and may not decline its own proposal.
	propose := func() string {
		r, err := l.client("").Send(ctx, c2, bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: "c2", Consumer: "local", PriceVCPUHour: 9, Availability: 1, PenaltyPct: 1}})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	no1, no2 := propose(), propose()
	if r := call(t, "GET", l.base+"/v1/agreements?status=proposed", nil); r.status != 200 {
		t.Fatalf("proposed agreements: %d %s", r.status, r.body)
	}
	wantError(t, "decline with an unknown field", post("/v1/agreements/"+no1+"/decline", `{"why":"x"}`), 400, bbus.EMALFORMED)
	wantError(t, "decline with a bad reason", post("/v1/agreements/"+no1+"/decline", `{"reason":"<b>"}`), 400, bbus.EINVALID)
	wantError(t, "decline not an agreement id", post("/v1/agreements/mig-1/decline", ``), 400, bbus.EINVALID)
	wantResult(t, "decline", post("/v1/agreements/"+no1+"/decline", `{"reason":"too dear"}`), 200)
	wantError(t, "decline twice", post("/v1/agreements/"+no1+"/decline", ``), 409, bbus.ESTATE)
	wantError(t, "decline one's own proposal", post("/v1/agreements/"+agr+"/decline", ``), 409, bbus.EUNAUTHORIZED)
	if _, err := w.DeclineAgreement(ctx, no2, "", true); err != nil {
		t.Fatal(err)
	}
	for id, reason := range map[string]string{no1: "too dear", no2: ""} {
		if a, err := l.client("").Agreement(ctx, id); err != nil || a.Status != bbus.AgreementDeclined || a.Reason != reason || a.Declined == nil {
			t.Fatalf("declined agreement %s: %+v %v", id, a, err)
		}
	}

	// c2 invites an oracle's key (its vote), the oracle applies with it, and
	// the node votes for local, naming the key the oracle applied with.
	_, okey, _ := ed25519.GenerateKey(rand.Reader)
	opub := okey.Public().(ed25519.PublicKey)
	oracle := client.Signer{ChainID: "bbus-local", ID: "probe", Key: okey}
	uninvited, _, _ := oracle.Sign(bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "probe", PubKey: opub}})
	wantError(t, "uninvited oracle", post("/v1/txs", string(uninvited)), 409, bbus.ENOTINVITED)
	wantError(t, "invite with a short key", post("/v1/oracles/probe/invite", `{"pub_key":"AAAA"}`), 400, bbus.EINVALID)
	wantError(t, "oracle invite with a validator key", post("/v1/oracles/probe/invite", `{"pub_key":"`+base64.StdEncoding.EncodeToString(opub)+`","validator_key":"`+base64.StdEncoding.EncodeToString(opub)+`"}`), 400, bbus.EINVALID)
	if _, err := l.client("").Send(ctx, c2, bbus.Action{OracleInvite: &bbus.OracleInvite{Oracle: "probe", PubKey: opub}}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.client("").Send(ctx, oracle, bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "probe", PubKey: opub}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ApproveOracle(ctx, "probe", true); err != nil {
		t.Fatal(err)
	}
	wantError(t, "approve twice", post("/v1/oracles/probe/approve", ``), 409, bbus.ESTATE)
	if o, err := l.client("").Oracle(ctx, "probe"); err != nil || o.Status != bbus.CloudActive || !bytes.Equal(o.PubKey, opub) || len(o.Approvals) != 2 {
		t.Fatalf("oracle after the votes: %+v %v", o, err)
	}
	// The node's vote to remove it: one of two members' votes, which does not pass alone.
	wantResult(t, "vote an oracle out", post("/v1/oracles/probe/remove", ``), 200)
	wantError(t, "vote an oracle out twice", post("/v1/oracles/probe/remove", ``), 409, bbus.ESTATE)
	wantError(t, "vote an unknown oracle out", post("/v1/oracles/nobody/remove", ``), 404, bbus.ENOTFOUND)
	if o, err := l.client("").Oracle(ctx, "probe"); err != nil || o.Status != bbus.CloudActive || len(o.Removals) != 1 || o.Removals[0] != "local" {
		t.Fatalf("oracle after a removal vote: %+v %v", o, err)
	}
	if _, err := l.client("").Oracle(ctx, "nobody"); bbus.ErrorCode(err) != bbus.ENOTFOUND {
		t.Fatalf("unknown oracle: %v", err)
	}

	// An invoice from c2 to local, answered by the node as consumer.
	time.Sleep(2100 * time.Millisecond) // invoices end after genesis, in whole seconds, and not after the block time
	until := time.Now().UTC().Truncate(time.Second)
	wantError(t, "close another's invoice", post("/v1/invoices", `{"provider":"c2","consumer":"local","until":"`+until.Format(time.RFC3339)+`"}`), 409, bbus.EUNAUTHORIZED)
	wantError(t, "until not a time", post("/v1/invoices", `{"provider":"local","consumer":"c2","until":"yesterday"}`), 400, bbus.EINVALID)
	inv, err := l.client("").Send(ctx, c2, bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: "c2", Consumer: "local", Until: until.Unix()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AnswerInvoice(ctx, inv.ID, true, "no VM ran there", true); err != nil {
		t.Fatal(err)
	}
	wantError(t, "accept after dispute", post("/v1/invoices/"+inv.ID+"/accept", ``), 409, bbus.ESTATE)
	got, err := l.client("").Invoice(ctx, inv.ID)
	if err != nil || got.Status != bbus.InvoiceDisputed || got.Reason != "no VM ran there" {
		t.Fatalf("invoice: %+v %v", got, err)
	}
	mine := wantResult(t, "close own invoice", post("/v1/invoices", `{"provider":"local","consumer":"c2","until":"`+until.Format(time.RFC3339)+`"}`), 200)
	if _, err := l.client("").Send(ctx, c2, bbus.Action{InvoiceAccept: &bbus.InvoiceRef{Invoice: mine.ID}}); err != nil {
		t.Fatal(err)
	}
	wantError(t, "provider accepts its own", post("/v1/invoices/"+mine.ID+"/accept", ``), 409, bbus.EUNAUTHORIZED)
	var body struct{ Items []bbus.Invoice }
	if r := call(t, "GET", l.base+"/v1/invoices?cloud=c2", nil); json.Unmarshal(r.body, &body) != nil || len(body.Items) != 2 {
		t.Fatalf("invoices of c2: %s", r.body)
	}
}
