package vcenter_test

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/agent"
	"github.com/bbusdev/bbus/agent/vcenter"
)

// sim is a vCenter simulator with one datacenter and two clusters of one
// host each: DC0_C0 (cloud-a) and DC0_C1 (cloud-b), each with one VM.
type sim struct {
	t      *testing.T
	ctx    context.Context
	server *simulator.Server
	c      *govmomi.Client
	find   *find.Finder
}

func newSim(t *testing.T) *sim {
	t.Helper()
	s := &sim{t: t}
	s.start()
	return s
}

func (s *sim) start() {
	t := s.t
	t.Helper()
	m := simulator.VPX()
	m.Host = 0
	m.Cluster = 2
	m.ClusterHost = 1
	m.Machine = 1
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	s.server = m.Service.NewServer()
	t.Cleanup(func() { s.server.Close(); m.Remove() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s.ctx = ctx
	s.login()
}

// login opens the test's own session.
func (s *sim) login() {
	t := s.t
	t.Helper()
	c, err := govmomi.NewClient(s.ctx, s.server.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	f := find.NewFinder(c.Client)
	dc, err := f.Datacenter(s.ctx, "DC0")
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(dc)
	s.c, s.find = c, f
}

func (s *sim) vm(name string) *object.VirtualMachine {
	s.t.Helper()
	vm, err := s.find.VirtualMachine(s.ctx, name)
	if err != nil {
		s.t.Fatal(err)
	}
	return vm
}

func (s *sim) uuid(vm *object.VirtualMachine) string {
	s.t.Helper()
	var v mo.VirtualMachine
	if err := vm.Properties(s.ctx, vm.Reference(), []string{"config.instanceUuid"}, &v); err != nil {
		s.t.Fatal(err)
	}
	return v.Config.InstanceUuid
}

func (s *sim) host(name string) *object.HostSystem {
	s.t.Helper()
	h, err := s.find.HostSystem(s.ctx, name)
	if err != nil {
		s.t.Fatal(err)
	}
	return h
}

func (s *sim) pool(cluster string) *object.ResourcePool {
	s.t.Helper()
	p, err := s.find.ResourcePool(s.ctx, "/DC0/host/"+cluster+"/Resources")
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

// relocate moves vm to the host and pool of cluster and returns the task's error.
func (s *sim) relocate(vm *object.VirtualMachine, cluster string, devices ...types.BaseVirtualDeviceConfigSpec) error {
	s.t.Helper()
	h := s.host(cluster + "_H0").Reference()
	p := s.pool(cluster).Reference()
	task, err := vm.Relocate(s.ctx, types.VirtualMachineRelocateSpec{Host: &h, Pool: &p, DeviceChange: devices}, types.VirtualMachineMovePriorityDefaultPriority)
	if err != nil {
		s.t.Fatal(err)
	}
	return task.Wait(s.ctx)
}

// watcher runs a Source and collects what it emits.
type watcher struct {
	t      *testing.T
	src    *vcenter.Source
	events chan agent.Event
	mu     sync.Mutex
	logs   []string
	done   chan error
}

func (s *sim) watch(cfg vcenter.Config) *watcher {
	s.t.Helper()
	cfg.URL = s.server.URL.String()
	cfg.Insecure = true
	cfg.Cloud = "cloud-a"
	if cfg.Clouds == nil {
		cfg.Clouds = map[string]string{"DC0_C0": "cloud-a", "/DC0/host/DC0_C1": "cloud-b"}
	}
	if cfg.Since.IsZero() {
		cfg.Since = time.Now()
	}
	cfg.Retry = 50 * time.Millisecond
	w := &watcher{t: s.t, events: make(chan agent.Event, 100), done: make(chan error, 1)}
	cfg.Log = func(format string, args ...any) {
		w.mu.Lock()
		w.logs = append(w.logs, fmt.Sprintf(format, args...))
		w.mu.Unlock()
	}
	src, err := vcenter.New(cfg)
	if err != nil {
		s.t.Fatal(err)
	}
	w.src = src
	ctx, cancel := context.WithCancel(s.ctx)
	go func() { w.done <- src.Run(ctx, func(e agent.Event) { w.events <- e }) }()
	s.t.Cleanup(func() {
		cancel()
		if err := <-w.done; err != nil {
			s.t.Errorf("Run: %v", err)
		}
	})
	return w
}

// next returns the next Event; the deadline only stops a test that would
// hang, it never decides an outcome.
func (w *watcher) next() agent.Event {
	w.t.Helper()
	select {
	case e := <-w.events:
		return e
	case <-time.After(60 * time.Second):
		w.t.Fatal("no event from the source")
		return agent.Event{}
	}
}

type want struct {
	kind     agent.Kind
	vm       string
	src, dst string
}

func (w *watcher) expect(wants ...want) []agent.Event {
	w.t.Helper()
	var got []agent.Event
	for _, x := range wants {
		e := w.next()
		got = append(got, e)
		if e.Kind != x.kind || e.VM != x.vm || e.Source != x.src || e.Destination != x.dst {
			w.t.Fatalf("got %s vm=%s %q->%q (ref %s), want %s vm=%s %q->%q", e.Kind, e.VM, e.Source, e.Destination, e.Ref, x.kind, x.vm, x.src, x.dst)
		}
		if e.Ref == "" || e.At.IsZero() {
			w.t.Fatalf("event without ref or time: %+v", e)
		}
	}
	return got
}

func TestRelocateBetweenClouds(t *testing.T) {
	s := newSim(t)
	w := s.watch(vcenter.Config{})
	vm := s.vm("DC0_C0_RP0_VM0")
	id := s.uuid(vm)

	if err := s.relocate(vm, "DC0_C1"); err != nil {
		t.Fatal(err)
	}
	got := w.expect(
		want{agent.MigrationStarted, id, "cloud-a", "cloud-b"},
		want{agent.MigrationArrived, id, "cloud-a", "cloud-b"},
		want{agent.MigrationSucceeded, id, "cloud-a", "cloud-b"},
	)
	refs := map[string]bool{}
	for _, e := range got {
		if refs[e.Ref] {
			t.Fatalf("ref %s twice", e.Ref)
		}
		refs[e.Ref] = true
	}

	// And back, to check the direction is read from the event each time.
	if err := s.relocate(vm, "DC0_C0"); err != nil {
		t.Fatal(err)
	}
	w.expect(
		want{agent.MigrationStarted, id, "cloud-b", "cloud-a"},
		want{agent.MigrationArrived, id, "cloud-b", "cloud-a"},
		want{agent.MigrationSucceeded, id, "cloud-b", "cloud-a"},
	)
}

func TestMigrationFailures(t *testing.T) {
	s := newSim(t)
	w := s.watch(vcenter.Config{})
	vm := s.vm("DC0_C0_RP0_VM0")
	id := s.uuid(vm)

	// A relocation whose task fails: vcsim posts no event for it, the
	// failed task is what tells.
	bad := &types.VirtualDeviceConfigSpec{
		Operation:     types.VirtualDeviceConfigSpecOperationAdd,
		FileOperation: types.VirtualDeviceConfigSpecFileOperationCreate,
		Device:        &types.VirtualDisk{VirtualDevice: types.VirtualDevice{Key: -1}},
	}
	if err := s.relocate(vm, "DC0_C1", bad); err == nil {
		t.Fatal("relocation with an invalid disk succeeded")
	}
	e := w.expect(want{agent.MigrationFailed, id, "cloud-a", ""})[0]
	if !strings.HasPrefix(e.Ref, "task/") {
		t.Fatalf("ref %q, want the task's", e.Ref)
	}

	// A vMotion that vCenter reports starting then failing, as vCenter
	// posts them (vcsim's relocation posts neither, so they are posted
	// through the EventManager).
	m := event.NewManager(s.c.Client)
	src := s.host("DC0_C0_H0")
	dst := s.host("DC0_C1_H0")
	arg := func(h *object.HostSystem, name string) types.HostEventArgument {
		return types.HostEventArgument{EntityEventArgument: types.EntityEventArgument{Name: name}, Host: h.Reference()}
	}
	base := types.VmEvent{Event: types.Event{
		Host: &types.HostEventArgument{EntityEventArgument: types.EntityEventArgument{Name: "DC0_C0_H0"}, Host: src.Reference()},
		Vm:   &types.VmEventArgument{EntityEventArgument: types.EntityEventArgument{Name: "DC0_C0_RP0_VM0"}, Vm: vm.Reference()},
	}}
	if err := m.PostEvent(s.ctx, &types.VmBeingHotMigratedEvent{VmEvent: base, DestHost: arg(dst, "DC0_C1_H0")}); err != nil {
		t.Fatal(err)
	}
	if err := m.PostEvent(s.ctx, &types.VmFailedMigrateEvent{VmEvent: base, DestHost: arg(dst, "DC0_C1_H0"),
		Reason: types.LocalizedMethodFault{Fault: &types.Timedout{}, LocalizedMessage: "timed out"}}); err != nil {
		t.Fatal(err)
	}
	w.expect(
		want{agent.MigrationStarted, id, "cloud-a", "cloud-b"},
		want{agent.MigrationArrived, id, "cloud-a", "cloud-b"},
		want{agent.MigrationFailed, id, "cloud-a", "cloud-b"},
	)

	// A relocation vCenter reports with its DestHost unmapped is not
	// between clouds of the federation, and neither is one inside a cloud.
	if err := m.PostEvent(s.ctx, &types.VmFailedMigrateEvent{VmEvent: base, DestHost: arg(src, "DC0_C0_H0")}); err != nil {
		t.Fatal(err)
	}
	if err := s.relocate(vm, "DC0_C1"); err != nil {
		t.Fatal(err)
	}
	w.expect(
		want{agent.MigrationStarted, id, "cloud-a", "cloud-b"},
		want{agent.MigrationArrived, id, "cloud-a", "cloud-b"},
		want{agent.MigrationSucceeded, id, "cloud-a", "cloud-b"},
	)
}

// TestMigrateTask shows what vcsim does with MigrateVM_Task: it does not
// implement it, so no event follows; if a later vcsim does, the source
// must report the migration like a relocation.
func TestMigrateTask(t *testing.T) {
	s := newSim(t)
	w := s.watch(vcenter.Config{})
	vm := s.vm("DC0_C0_RP0_VM0")
	id := s.uuid(vm)
	task, err := vm.Migrate(s.ctx, s.pool("DC0_C1"), s.host("DC0_C1_H0"), types.VirtualMachineMovePriorityDefaultPriority, "")
	if err == nil {
		err = task.Wait(s.ctx)
	}
	if err != nil {
		t.Logf("MigrateVM_Task in vcsim: %v", err)
		if err := s.relocate(vm, "DC0_C1"); err != nil {
			t.Fatal(err)
		}
	}
	w.expect(
		want{agent.MigrationStarted, id, "cloud-a", "cloud-b"},
		want{agent.MigrationArrived, id, "cloud-a", "cloud-b"},
		want{agent.MigrationSucceeded, id, "cloud-a", "cloud-b"},
	)
}

func TestCreateAndDestroy(t *testing.T) {
	s := newSim(t)
	w := s.watch(vcenter.Config{VMID: vcenter.IDName})
	folders, err := s.find.Folder(s.ctx, "/DC0/vm")
	if err != nil {
		t.Fatal(err)
	}
	spec := types.VirtualMachineConfigSpec{
		Name: "web-1", NumCPUs: 2, MemoryMB: 1024, GuestId: "otherGuest",
		Files: &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
	}
	task, err := folders.CreateVM(s.ctx, spec, s.pool("DC0_C0"), s.host("DC0_C0_H0"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := task.WaitForResult(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	vm := object.NewVirtualMachine(s.c.Client, info.Result.(types.ManagedObjectReference))
	on, err := vm.PowerOn(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := on.Wait(s.ctx); err != nil {
		t.Fatal(err)
	}
	e := w.expect(want{agent.VMCreated, "web-1", "cloud-a", ""})[0]
	if e.Resources != (bbus.Resources{CPU: 2, MemMiB: 1024}) {
		t.Fatalf("resources %+v", e.Resources)
	}

	// A second power-on is no creation; the destruction ends the VM.
	for _, op := range []func(context.Context) (*object.Task, error){vm.PowerOff, vm.PowerOn, vm.PowerOff, vm.Destroy} {
		task, err := op(s.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Wait(s.ctx); err != nil {
			t.Fatal(err)
		}
	}
	w.expect(want{agent.VMDeleted, "web-1", "cloud-a", ""})
}

func TestAttributeAndRunning(t *testing.T) {
	s := newSim(t)
	fields, err := object.GetCustomFieldsManager(s.c.Client)
	if err != nil {
		t.Fatal(err)
	}
	def, err := fields.Add(s.ctx, "bbus_vm", "VirtualMachine", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tagged := s.vm("DC0_C0_RP0_VM0")
	if err := fields.Set(s.ctx, tagged.Reference(), def.Key, "vm-7"); err != nil {
		t.Fatal(err)
	}
	w := s.watch(vcenter.Config{Attribute: "bbus_vm"})

	running, err := w.src.Running(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(running, []string{"vm-7"}) {
		t.Fatalf("running in cloud-a: %v, want [vm-7]", running)
	}

	// The untagged VM is no bbus VM: its move is not reported, the
	// tagged one's is.
	if err := s.relocate(s.vm("DC0_C1_RP0_VM0"), "DC0_C0"); err != nil {
		t.Fatal(err)
	}
	if err := s.relocate(tagged, "DC0_C1"); err != nil {
		t.Fatal(err)
	}
	w.expect(
		want{agent.MigrationStarted, "vm-7", "cloud-a", "cloud-b"},
		want{agent.MigrationArrived, "vm-7", "cloud-a", "cloud-b"},
		want{agent.MigrationSucceeded, "vm-7", "cloud-a", "cloud-b"},
	)
	running, err = w.src.Running(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(running) != 0 {
		t.Fatalf("running in cloud-a after the move: %v", running)
	}
}

func TestResumeAfterReconnect(t *testing.T) {
	s := newSim(t)
	w := s.watch(vcenter.Config{})
	vm := s.vm("DC0_C0_RP0_VM0")
	id := s.uuid(vm)
	if err := s.relocate(vm, "DC0_C1"); err != nil {
		t.Fatal(err)
	}
	first := w.expect(
		want{agent.MigrationStarted, id, "cloud-a", "cloud-b"},
		want{agent.MigrationArrived, id, "cloud-a", "cloud-b"},
		want{agent.MigrationSucceeded, id, "cloud-a", "cloud-b"},
	)

	// Cut the source's connections (its long poll among them): it
	// reconnects and reads on from the last key, so the next migration
	// comes once and the first is not repeated. A cut that falls between two
	// polls may go unnoticed (the next poll dials afresh), so cut until the
	// source says it reconnects.
	reconnected := func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return strings.Contains(strings.Join(w.logs, "\n"), "reconnecting")
	}
	for cut := 0; !reconnected(); cut++ {
		if cut == 20 {
			t.Fatal("the source never reconnected after 20 cuts of its connections")
		}
		s.server.CloseClientConnections()
		for wait := time.Now().Add(time.Second); time.Now().Before(wait) && !reconnected(); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	s.login()
	vm = s.vm("DC0_C0_RP0_VM0")
	if err := s.relocate(vm, "DC0_C0"); err != nil {
		t.Fatal(err)
	}
	w.expect(
		want{agent.MigrationStarted, id, "cloud-b", "cloud-a"},
		want{agent.MigrationArrived, id, "cloud-b", "cloud-a"},
		want{agent.MigrationSucceeded, id, "cloud-b", "cloud-a"},
	)

	// A later run given the last key reports nothing before it.
	last := w.src.LastKey()
	w2 := s.watch(vcenter.Config{Since: first[0].At.Add(-time.Second), After: last})
	if err := s.relocate(vm, "DC0_C1"); err != nil {
		t.Fatal(err)
	}
	e := w2.expect(want{agent.MigrationStarted, id, "cloud-a", "cloud-b"})[0]
	if k, err := strconv.Atoi(strings.Split(e.Ref, "/")[1]); err != nil || int32(k) <= last {
		t.Fatalf("resumed run reported %s, at or before key %d", e.Ref, last)
	}
}

func TestNewRejects(t *testing.T) {
	ok := vcenter.Config{URL: "https://u:p@vc/sdk", Cloud: "a", Clouds: map[string]string{"C0": "a"}}
	if _, err := vcenter.New(ok); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*vcenter.Config){
		"no url":      func(c *vcenter.Config) { c.URL = "" },
		"no user":     func(c *vcenter.Config) { c.URL = "https://vc/sdk" },
		"bad scheme":  func(c *vcenter.Config) { c.URL = "ftp://u:p@vc" },
		"no cloud":    func(c *vcenter.Config) { c.Cloud = "" },
		"no mapping":  func(c *vcenter.Config) { c.Clouds = nil },
		"empty cloud": func(c *vcenter.Config) { c.Clouds = map[string]string{"C0": ""} },
		"bad vm id":   func(c *vcenter.Config) { c.VMID = "serial" },
	} {
		c := ok
		mut(&c)
		if _, err := vcenter.New(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
