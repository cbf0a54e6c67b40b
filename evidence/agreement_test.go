package evidence_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/evidence"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

// An agreement exported alone: its proposal by the consumer and its
// provider's signature, proved on a real chain whose validators changed
// before them; a bundle that lacks the proposal, or names both a VM and an
// agreement, is refused.
func TestAgreementEvidence(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a two-validator chain")
	}
	f := startFederation(t)
	f.join()
	id := f.send(0, "cloud0", bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: "cloud1", Consumer: "cloud0",
		PriceVCPUHour: 500000, Availability: 99000, PenaltyPct: 10000}}).ID
	f.send(1, "cloud1", bbus.Action{AgreementSign: &bbus.AgreementRef{Agreement: id}})

	ctx := context.Background()
	// Node 0 exports: it may apply the signature a moment after node 1.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var a *bbus.Agreement
		f.nodes[0].View(func(r kv.Reader) error {
			a, _ = ledger.Agreement(r, id)
			return nil
		})
		if a != nil && a.Signed != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 0 never applied the signature: %+v", a)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, err := f.nodes[0].AgreementEvidence(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	raw := encodeBundle(t, b)
	rep, err := evidence.Verify(raw, f.genesis)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	out := rep.String()
	if rep.Agreement != id || rep.VM != "" || len(rep.Txs) != 2 || rep.ValidatorChanges != 1 ||
		!strings.Contains(rep.Txs[0].Summary, "cloud0 proposes "+id+": provider cloud1, consumer cloud0") ||
		!strings.Contains(rep.Txs[1].Summary, "cloud1 signs "+id) || !strings.HasPrefix(out, "verified: agreement "+id) {
		t.Fatalf("report %+v", rep)
	}
	// The signature alone, its proposal dropped.
	cut := decodeBundle(t, raw)
	cut.Txs = cut.Txs[1:]
	refused(t, "the signature without the proposal", encodeBundle(t, cut), f.genesis, nil, "'s record (state.proofs[0]) names")
	// Both VM and agreement named, or neither.
	both := decodeBundle(t, raw)
	both.VM = "vm-1"
	refused(t, "a VM and an agreement", encodeBundle(t, both), f.genesis, nil, "must name one VM, agreement, invoice or violation")
	if _, err := f.nodes[0].AgreementEvidence(ctx, "agr-99", 0); bbus.ErrorCode(err) != bbus.ENOTFOUND {
		t.Fatalf("unknown agreement: %v", err)
	}
}
