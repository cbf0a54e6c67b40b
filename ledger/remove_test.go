package ledger_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/ledger"
)

// TestCloudRemovedInSteps: removing a cloud that 250 open migrations and 30
// unsigned proposals name ends them 100 a transaction: the removal takes
// effect at once, the cloud shows removing until members' further
// cloud_remove transactions have ended the rest, each reading about what it
// ends; then all are cancelled or removed and another cloud_remove is refused.
func TestCloudRemovedInSteps(t *testing.T) {
	defer ledger.SetRemoveStep(100)()
	f := newScaleFed(t)
	var migs []string
	for i := 0; i < 250; i++ {
		vm := fmt.Sprintf("vm-r%d", i)
		f.do(consumer, bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: scaleVM}})
		r := f.do(consumer, bbus.Action{MigrationPropose: &bbus.Propose{VM: vm, To: provider}})
		if i%2 == 0 { // half accepted: their reservations at the provider are released
			f.do(provider, bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: r.ID}})
		}
		migs = append(migs, r.ID)
	}
	for i := 0; i < 30; i++ {
		f.do(consumer, bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: provider, Consumer: consumer, PriceVCPUHour: 1, Availability: 1, PenaltyPct: 1}})
	}
	f.next(time.Second)
	remove := bbus.Action{CloudRemove: &bbus.CloudRef{Cloud: provider}}
	var reads []int
	var steps int
	for steps = 1; ; steps++ {
		n, r := f.readsOf(consumer, remove)
		if !r.OK() {
			t.Fatalf("cloud_remove %d: %s %s", steps, r.Code, r.Message)
		}
		reads = append(reads, n)
		cl, err := ledger.Cloud(f.st.Working(), provider)
		if err != nil || cl.Status != bbus.CloudRemoved {
			t.Fatalf("after cloud_remove %d: %+v %v; want removed", steps, cl, err)
		}
		if last := r.Events[len(r.Events)-1].Type; !cl.Removing {
			if steps > 1 && last != "cloud.removal_ended" {
				t.Errorf("the last step emits %s, want cloud.removal_ended", last)
			}
			if cl.Allocated != (bbus.Resources{}) {
				t.Errorf("the removed cloud still has %+v allocated", cl.Allocated)
			}
			break
		} else if last != "cloud.removing" {
			t.Errorf("step %d emits %s, want cloud.removing", steps, last)
		}
		if steps > 10 {
			t.Fatal("the removal does not end")
		}
	}
	if steps != 3 {
		t.Errorf("ending 280 items took %d transactions, want 3", steps)
	}
	for i, n := range reads {
		if n > 100*30 {
			t.Errorf("cloud_remove %d read %d records; want at most about what 100 items need", i+1, n)
		}
	}
	for _, id := range migs {
		m, err := ledger.Migration(f.st.Working(), id)
		if err != nil || m.Status != bbus.MigrationCancelled {
			t.Fatalf("migration %s: %+v %v; want cancelled", id, m, err)
		}
	}
	if n, r := f.readsOf(consumer, remove); r.Code != bbus.ESTATE {
		t.Errorf("cloud_remove after the removal ended: %s (%d reads), want %s", r.Code, n, bbus.ESTATE)
	}
	t.Logf("reads by step: %v", reads)
}
