package ledger

import (
	"testing"
	"time"

	"github.com/bbusdev/bbus/kv"
)

// TestNextDue: NextDue names the earliest of what BeginBlock does by time (a
// migration proposal's lapse, an agreement proposal's expiry, an
// invitation's and an application's lapse), and what is done is gone from it.
func TestNextDue(t *testing.T) {
	r := &scriptRunner{t: t, pos: "TestNextDue", l: newTestLedger(), st: kv.NewMem(), names: map[string]string{}}
	due := func(want time.Duration, ok bool) {
		t.Helper()
		got, found := NextDue(r.st)
		if found != ok || ok && !got.Equal(testGenesisTime.Add(want)) {
			t.Fatalf("NextDue %s %v, want genesis+%s %v", got, found, want, ok)
		}
	}
	for _, cmd := range []string{"genesis clouds=a,b,c cpu=8 mem=16384 invitettl=60 appttl=120 proposal_ttl=300", "block time=+10s"} {
		r.run(cmd)
	}
	due(0, false)
	r.run("tx signer=a register vm=vm1 cpu=1 mem=1")
	r.run("tx signer=a propose vm=vm1 to=b")
	due(10*time.Second+time.Hour, true)
	r.run("tx signer=a agreement_propose provider=a consumer=b vcpu=1 avail=99 penalty=1")
	due(310*time.Second, true)
	r.run("tx signer=a invite cloud=d")
	due(70*time.Second, true)
	r.run("block time=+30s")
	r.run("tx signer=d join cpu=1 mem=1") // applies at +40s, using the invitation: lapses at +160s
	due(160*time.Second, true)
	r.run("block time=+121s") // +161s: the application lapsed
	due(310*time.Second, true)
	r.run("block time=+150s") // +311s: the agreement proposal expired
	due(10*time.Second+time.Hour, true)
	r.run("block time=+1h") // the migration proposal lapsed
	due(0, false)
}
