package ledger

import (
	"fmt"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// FuzzApply runs arbitrary sequences of actions, decoded from the fuzzer's
// bytes, through the ledger: it must never panic, never fail with an internal
// error, and every state it reaches must keep the invariants.
func FuzzApply(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 2, 0, 0, 1, 3, 1, 0, 1, 4, 1, 0, 1})
	f.Add([]byte{0, 1, 1, 0, 2, 1, 1, 2, 9, 0, 0, 200, 3, 2, 0, 1, 5, 0, 0, 0})
	f.Add([]byte{6, 0, 1, 0, 7, 1, 0, 0, 2, 0, 0, 1, 8, 2, 2, 30, 10, 1, 0, 5})
	// a proposes to b, which declines; b's VM migrates to c, a and c remove b.
	f.Add([]byte{7, 0, 1, 0, 12, 1, 0, 0, 0, 1, 1, 1, 2, 1, 1, 0, 13, 0, 1, 0, 13, 2, 1, 0, 1, 2, 1, 0})
	f.Fuzz(func(t *testing.T, program []byte) {
		if len(program) > 4*200 {
			program = program[:4*200]
		}
		l := newTestLedger()
		st := kv.NewMem()
		clouds := []string{"a", "b", "c"}
		capacity := func(string) bbus.Resources { return bbus.Resources{CPU: 8, MemMiB: 8192, DiskIOPS: 100, NetMbps: 100} }
		if err := l.InitGenesis(st, testChainID, testGenesis(clouds, capacity, bbus.DefaultParams()), testGenesisTime); err != nil {
			t.Fatal(err)
		}
		h := Header{Height: 1, Time: testGenesisTime.Add(time.Second)}
		l.BeginBlock(st, h)
		var nonce uint64
		for i := 0; i+3 < len(program); i += 4 {
			op, x, y, z := program[i], program[i+1], program[i+2], program[i+3]
			signer := clouds[int(x)%len(clouds)]
			other := clouds[int(y)%len(clouds)]
			vm := fmt.Sprintf("vm%d", y%4)
			mig := fmt.Sprintf("mig-%d", z%6+1)
			res := bbus.Resources{CPU: int64(z%5) + 1, MemMiB: int64(z%3+1) * 512}
			var act bbus.Action
			switch op % 14 {
			case 0:
				act.VMRegister = &bbus.VMRegister{VM: vm, Resources: res}
			case 1:
				act.VMTerminate = &bbus.VMRef{VM: vm}
			case 2:
				act.MigrationPropose = &bbus.Propose{VM: vm, To: other}
			case 3:
				act.MigrationAccept = &bbus.MigrationRef{Migration: mig}
			case 4:
				act.MigrationComplete = &bbus.MigrationRef{Migration: mig}
			case 5:
				act.MigrationReject = &bbus.MigrationRef{Migration: mig}
			case 6:
				act.MigrationCancel = &bbus.MigrationRef{Migration: mig}
			case 7:
				act.AgreementPropose = &bbus.AgreementPropose{Provider: signer, Consumer: other, PriceVCPUHour: int64(z) * 1000,
					Availability: int64(y) * 400, PenaltyPct: int64(z) * 300}
			case 8:
				act.AgreementSign = &bbus.AgreementRef{Agreement: fmt.Sprintf("agr-%d", z%4+1)}
			case 9:
				// A new block, z seconds later (sometimes past a proposal's lapse).
				l.EndBlock(st)
				h = Header{Height: h.Height + 1, Time: h.Time.Add(time.Duration(z) * time.Duration(y%32+1) * time.Second)}
				l.BeginBlock(st, h)
				continue
			case 10:
				act.InvoiceClose = &bbus.InvoiceClose{Provider: signer, Consumer: other, Until: h.Time.Unix() - int64(z)}
			case 11:
				act.MigrationPropose = &bbus.Propose{VM: vm, To: other, Agreement: fmt.Sprintf("agr-%d", z%4+1)}
			case 12:
				act.AgreementDecline = &bbus.AgreementDecline{Agreement: fmt.Sprintf("agr-%d", z%4+1)}
			default:
				act.CloudRemove = &bbus.CloudRef{Cloud: other} // two votes of three remove a member
			}
			nonce++
			raw := txSpec{chain: testChainID, signer: signer, nonce: nonce, expires: h.Time.Unix() + 60, action: act}.sign()
			if r := l.Apply(st, h, raw); r.Code == bbus.EINTERNAL {
				t.Fatalf("step %d: internal error: %s", i/4, r.Message)
			}
			if bad := checkInvariants(st, h.Time); len(bad) > 0 {
				t.Fatalf("step %d (%s by %s): %v", i/4, act.Type(), signer, bad)
			}
		}
	})
}
