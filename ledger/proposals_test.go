package ledger

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// TestGenesisWithoutProposalTTL: a genesis written before
// agreement_proposal_ttl_seconds existed still governs a chain, whose
// proposals expire after the default, 7 days.
func TestGenesisWithoutProposalTTL(t *testing.T) {
	g := testGenesis([]string{"a", "b"}, func(string) bbus.Resources { return bbus.Resources{CPU: 4, MemMiB: 4096} }, bbus.DefaultParams())
	b, _ := json.Marshal(g)
	old := strings.Replace(string(b), `,"agreement_proposal_ttl_seconds":604800`, "", 1)
	if old == string(b) {
		t.Fatal("the genesis does not carry agreement_proposal_ttl_seconds")
	}
	var og bbus.Genesis
	if err := json.Unmarshal([]byte(old), &og); err != nil {
		t.Fatal(err)
	}
	l, st := newTestLedger(), kv.NewMem()
	if err := l.InitGenesis(st, testChainID, &og, testGenesisTime); err != nil {
		t.Fatalf("an older genesis is refused: %v", err)
	}
	h := Header{Height: 1, Time: testGenesisTime.Add(10 * time.Second)}
	l.BeginBlock(st, h)
	r := l.Apply(st, h, txSpec{chain: testChainID, signer: "a", nonce: 1, expires: h.Time.Unix() + 60,
		action: bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: "b", Consumer: "a", Availability: 1, PenaltyPct: 1}}}.sign())
	if !r.OK() {
		t.Fatalf("propose: %s: %s", r.Code, r.Message)
	}
	ag, err := Agreement(st, r.ID)
	if err != nil || !ag.ExpiresAt.Equal(h.Time.Add(7*24*time.Hour)) {
		t.Fatalf("agreement %+v (%v): want it to expire 7 days after %s", ag, err, h.Time)
	}
	for i, step := range []struct {
		at   time.Duration
		gone bool
	}{{7*24*time.Hour - time.Second, false}, {7 * 24 * time.Hour, true}} {
		l.EndBlock(st)
		l.BeginBlock(st, Header{Height: int64(2 + i), Time: h.Time.Add(step.at)})
		if _, err := Agreement(st, r.ID); (err != nil) != step.gone {
			t.Errorf("%s after the proposal: gone %v, want %v", step.at, err != nil, step.gone)
		}
	}
}

// TestProposalTTLRange: the parameter is refused outside [0, 100 years].
func TestProposalTTLRange(t *testing.T) {
	for ttl, ok := range map[int64]bool{-1: false, 0: true, 1: true, bbus.MaxParamSeconds: true, bbus.MaxParamSeconds + 1: false, 1<<63 - 1: false} {
		p := bbus.DefaultParams()
		p.AgreementProposalTTLSeconds = ttl
		if err := p.Validate(); (err == nil) != ok {
			t.Errorf("agreement_proposal_ttl_seconds %d: %v, want ok=%v", ttl, err, ok)
		}
	}
	p := bbus.DefaultParams()
	p.MigrationLapseSeconds = 1<<63 - 1 // lapses_at would overflow
	if err := p.Validate(); bbus.ErrorCode(err) != bbus.EINVALID {
		t.Errorf("migration_lapse_seconds 2^63-1: %v, want invalid", err)
	}
}
