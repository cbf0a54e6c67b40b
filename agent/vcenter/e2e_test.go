package vcenter_test

import (
	"context"
	"testing"
	"time"

	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/agent"
	"github.com/bbusdev/bbus/agent/internal/fedtest"
	"github.com/bbusdev/bbus/agent/vcenter"
	"github.com/bbusdev/bbus/keys"
)

// agentOf runs cloud's agent on f: a recorder with the cloud's own key,
// following the simulator through a Source of its own.
func (s *sim) agentOf(f *fedtest.Fed, cloud string) *agent.Recorder {
	t := s.t
	t.Helper()
	k, err := keys.Load(f.Home(cloud), cloud)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := agent.New(agent.Config{Cloud: cloud, Key: k.PrivKey, Client: f.Client(), Home: f.Home(cloud), Source: "vcenter",
		Poll: 20 * time.Millisecond, Log: fedtest.Log(t, cloud)})
	if err != nil {
		t.Fatal(err)
	}
	src, err := vcenter.New(vcenter.Config{URL: s.server.URL.String(), Insecure: true, Cloud: cloud,
		Clouds: map[string]string{"DC0_C0": "cloud-a", "DC0_C1": "cloud-b"}, Since: time.Now(), Retry: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx, src) }()
	t.Cleanup(func() { cancel(); <-done })
	return rec
}

// until polls cond; the deadline only stops a test that would hang, it
// never decides an outcome.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settled waits until the ledger holds n migrations of vm, none open, and
// neither agent waits for anything.
func settled(t *testing.T, f *fedtest.Fed, vm string, n int, recs ...*agent.Recorder) []bbus.Migration {
	t.Helper()
	var ms []bbus.Migration
	until(t, "the migrations of "+vm+" to settle", func() bool {
		ms = f.Migrations(t, vm)
		if len(ms) != n {
			return false
		}
		for _, m := range ms {
			if m.Open() {
				return false
			}
		}
		for _, r := range recs {
			if len(r.State().Pending) > 0 {
				return false
			}
		}
		return true
	})
	return ms
}

// handled reports whether r logged an entry for an event of kind about vm.
func handled(r *agent.Recorder, kind agent.Kind, vm string) bool {
	for _, e := range r.State().Log {
		if e.Event == kind && e.VM == vm {
			return true
		}
	}
	return false
}

// A RelocateVM_Task from a host of cloud-a to one of cloud-b is recorded by
// the two clouds' agents, each from its own session, with no step typed.
func TestE2ERelocateRecorded(t *testing.T) {
	s := newSim(t)
	f := fedtest.Start(t, "cloud-a", "cloud-b")
	vm := s.vm("DC0_C0_RP0_VM0")
	id := s.uuid(vm)
	f.Send(t, "cloud-a", bbus.Action{VMRegister: &bbus.VMRegister{VM: id, Resources: bbus.Resources{CPU: 1, MemMiB: 512}}})
	a, b := s.agentOf(f, "cloud-a"), s.agentOf(f, "cloud-b")

	if err := s.relocate(vm, "DC0_C1"); err != nil {
		t.Fatal(err)
	}
	settled(t, f, id, 1, a, b)
	f.CheckMigrated(t, id, "cloud-a", "cloud-b")
	if sa, sb := a.State(), b.State(); sa.Steps != 1 || sb.Steps != 2 || sa.Refusals+sb.Refusals != 0 {
		t.Fatalf("steps: cloud-a %d, cloud-b %d, refusals %d: %+v %+v", sa.Steps, sb.Steps, sa.Refusals+sb.Refusals, sa.Log, sb.Log)
	}
}

// A relocation whose task fails leaves nothing open, and a vMotion vCenter
// reports failing after it started ends the ledger's migration cancelled or
// rejected, with the VM still on cloud-a.
func TestE2EFailedRelocation(t *testing.T) {
	s := newSim(t)
	f := fedtest.Start(t, "cloud-a", "cloud-b")
	vm := s.vm("DC0_C0_RP0_VM0")
	id := s.uuid(vm)
	f.Send(t, "cloud-a", bbus.Action{VMRegister: &bbus.VMRegister{VM: id, Resources: bbus.Resources{CPU: 1, MemMiB: 512}}})
	a, b := s.agentOf(f, "cloud-a"), s.agentOf(f, "cloud-b")

	bad := &types.VirtualDeviceConfigSpec{
		Operation:     types.VirtualDeviceConfigSpecOperationAdd,
		FileOperation: types.VirtualDeviceConfigSpecFileOperationCreate,
		Device:        &types.VirtualDisk{VirtualDevice: types.VirtualDevice{Key: -1}},
	}
	if err := s.relocate(vm, "DC0_C1", bad); err == nil {
		t.Fatal("relocation with an invalid disk succeeded")
	}
	until(t, "both agents to see the failed task", func() bool {
		return handled(a, agent.MigrationFailed, id) && handled(b, agent.MigrationFailed, id)
	})
	if ms := f.Migrations(t, id); len(ms) != 0 {
		t.Fatalf("a failed task left migrations: %+v", ms)
	}

	// As vCenter posts a vMotion that starts and then fails (vcsim's
	// relocation posts neither).
	em := event.NewManager(s.c.Client)
	src, dst := s.host("DC0_C0_H0"), s.host("DC0_C1_H0")
	base := types.VmEvent{Event: types.Event{
		Host: &types.HostEventArgument{EntityEventArgument: types.EntityEventArgument{Name: "DC0_C0_H0"}, Host: src.Reference()},
		Vm:   &types.VmEventArgument{EntityEventArgument: types.EntityEventArgument{Name: "DC0_C0_RP0_VM0"}, Vm: vm.Reference()},
	}}
	dest := types.HostEventArgument{EntityEventArgument: types.EntityEventArgument{Name: "DC0_C1_H0"}, Host: dst.Reference()}
	if err := em.PostEvent(s.ctx, &types.VmBeingHotMigratedEvent{VmEvent: base, DestHost: dest}); err != nil {
		t.Fatal(err)
	}
	if err := em.PostEvent(s.ctx, &types.VmFailedMigrateEvent{VmEvent: base, DestHost: dest,
		Reason: types.LocalizedMethodFault{Fault: &types.Timedout{}, LocalizedMessage: "timed out"}}); err != nil {
		t.Fatal(err)
	}
	m := settled(t, f, id, 1, a, b)[0]
	switch by := f.SignerOf(t, m.Ended); {
	case m.Status == bbus.MigrationCancelled && by == "cloud-a", m.Status == bbus.MigrationRejected && by == "cloud-b":
	default:
		t.Fatalf("migration %s ended %s by %q, want cancelled by cloud-a or rejected by cloud-b", m.ID, m.Status, by)
	}
	if p := f.SignerOf(t, &m.Proposed); p != "cloud-a" || m.From != "cloud-a" || m.To != "cloud-b" {
		t.Fatalf("migration %+v proposed by %q", m, p)
	}
	rec, err := f.Client().VM(context.Background(), id)
	if err != nil || rec.Host != "cloud-a" || rec.Migration != "" {
		t.Fatalf("VM after the failed vMotion: %+v %v", rec, err)
	}
}
