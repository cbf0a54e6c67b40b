package ledger

import (
	"fmt"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// TestOracleQuorumRange: oracle_quorum is refused outside [1, 32]; absent (0,
// a genesis from before the parameter) it is 1.
func TestOracleQuorumRange(t *testing.T) {
	for q, ok := range map[int64]bool{-1: false, 0: true, 1: true, 2: true, bbus.MaxOracleQuorum: true, bbus.MaxOracleQuorum + 1: false, 1<<63 - 1: false} {
		p := bbus.DefaultParams()
		p.OracleQuorum = q
		if err := p.Validate(); (err == nil) != ok {
			t.Errorf("oracle_quorum %d: %v, want ok=%v", q, err, ok)
		}
		g := testGenesis([]string{"a"}, func(string) bbus.Resources { return bbus.Resources{CPU: 1, MemMiB: 1} }, p)
		if err := newTestLedger().InitGenesis(kv.NewMem(), testChainID, g, testGenesisTime); (err == nil) != ok {
			t.Errorf("genesis with oracle_quorum %d: %v, want ok=%v", q, err, ok)
		}
	}
	if q := (bbus.Params{}).Quorum(); q != 1 {
		t.Errorf("an absent oracle_quorum is %d, want 1", q)
	}
}

// TestWindowReportsBounded: a window keeps at most MaxWindowReports reports,
// one per oracle; the quorum-th decides it, the later ones are scored, and a
// report beyond the bound is refused and changes nothing. Each report's work
// is bounded by the window's reports, never by the history.
func TestWindowReportsBounded(t *testing.T) {
	st := kv.NewMem()
	l := newTestLedger()
	p := bbus.DefaultParams()
	p.OracleQuorum = bbus.MaxOracleQuorum
	g := testGenesis([]string{"a"}, func(string) bbus.Resources { return bbus.Resources{CPU: 8, MemMiB: 8192} }, p)
	if err := l.InitGenesis(st, testChainID, g, testGenesisTime); err != nil {
		t.Fatal(err)
	}
	h := Header{Height: 1, Time: testGenesisTime.Add(time.Second)}
	l.BeginBlock(st, h)
	var nonce uint64
	do := func(signer string, a bbus.Action) Result {
		nonce++
		return l.Apply(st, h, txSpec{chain: testChainID, signer: signer, nonce: nonce, expires: h.Time.Unix() + 600, action: a}.sign())
	}
	must := func(signer string, a bbus.Action) {
		t.Helper()
		if r := do(signer, a); !r.OK() {
			t.Fatalf("%s %s: %s %s", signer, a.Type(), r.Code, r.Message)
		}
	}
	must("a", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}})
	var oracles []string
	for i := range MaxWindowReports + 1 {
		o := fmt.Sprintf("o%d", i)
		oracles = append(oracles, o)
		must("a", bbus.Action{OracleInvite: &bbus.OracleInvite{Oracle: o, PubKey: testPub(o)}}) // a's vote admits it
		must(o, bbus.Action{OracleJoin: &bbus.OracleJoin{Name: o, PubKey: testPub(o)}})
	}
	l.EndBlock(st)
	h = Header{Height: 2, Time: h.Time.Add(time.Minute)}
	l.BeginBlock(st, h)
	start := testGenesisTime.Unix() + 10
	report := func(o string, avail int64) Result {
		return do(o, bbus.Action{Report: &bbus.ReportAction{VM: "vm1", Start: start, End: start + 10, Availability: avail}})
	}
	window := func() *bbus.Window {
		list, _, err := Windows(st, "vm1", 0, bbus.Page{})
		if err != nil || len(list) != 1 {
			t.Fatalf("windows: %+v %v", list, err)
		}
		return &list[0]
	}
	for i, o := range oracles[:MaxWindowReports] {
		avail := int64(100_000)
		if i%2 == 1 {
			avail = 0
		}
		if r := report(o, avail); !r.OK() {
			t.Fatalf("report %d by %s: %s %s", i+1, o, r.Code, r.Message)
		}
		if w := window(); (w.Status == bbus.WindowDecided) != (i+1 >= bbus.MaxOracleQuorum) {
			t.Fatalf("after %d reports the window is %s", i+1, w.Status)
		}
	}
	// 16 of the first 32 said 100 %, 16 said 0 %: the lower middle value is 0.
	if w := window(); w.Availability != 0 || w.Decider != "rep-32" || len(w.Reports) != MaxWindowReports {
		t.Fatalf("window %+v", w)
	}
	before := dumpStore(st)
	if r := report(oracles[MaxWindowReports], 100_000); r.Code != bbus.ESTATE {
		t.Fatalf("report %d of one window: %s %s, want %s", MaxWindowReports+1, r.Code, r.Message, bbus.ESTATE)
	}
	if after := dumpStore(st); string(after) != string(before) {
		t.Fatal("a refused report changed the state")
	}
	agree, disagree := int64(0), int64(0)
	for _, s := range OracleReputations(st) {
		agree, disagree = agree+s.Agreeing, disagree+s.Disagreeing
	}
	if agree != MaxWindowReports/2 || disagree != MaxWindowReports/2 {
		t.Fatalf("%d agreeing, %d disagreeing; want half of the %d reports each", agree, disagree, MaxWindowReports)
	}
}
