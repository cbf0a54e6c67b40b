// Package vcenter is the agent's source for VMware vCenter: it follows
// vCenter's event history (migrations, relocations, their failures, VM
// creation and removal) and its failed migration tasks, and reports them as
// agent.Events in terms of bbus clouds and VM ids.
package vcenter

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/event"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/agent"
)

// The ways a vCenter VM is named in bbus (Config.VMID).
const (
	IDInstanceUUID = "instance-uuid" // the VM's vCenter instance UUID (config.instanceUuid)
	IDName         = "name"          // the VM's inventory name
)

// Config says which vCenter to watch and how its inventory maps to bbus.
type Config struct {
	// URL is the vCenter SDK endpoint with credentials,
	// https://USER:PASSWORD@HOST/sdk.
	URL string
	// Insecure accepts any TLS certificate from vCenter.
	Insecure bool
	// Cloud is the agent's own bbus cloud: Running reports the VMs powered
	// on in hosts that map to it.
	Cloud string
	// Clouds maps vCenter hosts, clusters (compute resources) and
	// datacenters, by inventory path ("/DC0/host/C0") or by name, to bbus
	// cloud ids. A host takes the cloud of its most specific mapped
	// ancestor (itself, then its cluster, folders, datacenter); a host
	// with none is outside the federation and its events are ignored.
	Clouds map[string]string
	// Attribute, when set, names the custom attribute that holds a VM's
	// bbus id; VMs without a value are not bbus VMs and are ignored.
	Attribute string
	// VMID is how a VM is named when Attribute is empty: IDInstanceUUID
	// (the default) or IDName.
	VMID string
	// Since is where the event history is read from on the first
	// connection; zero means vCenter's current time.
	Since time.Time
	// After skips the events whose key is at most After (the last key an
	// earlier run reported).
	After int32
	// Retry is the pause before reconnecting after the connection is lost
	// (default 2 s).
	Retry time.Duration
	// Log, when set, receives what the source does not report as an
	// Event (reconnections, VMs it cannot map).
	Log func(format string, args ...any)
}

// Source follows one vCenter. It implements agent.Source and
// agent.Reconciler.
type Source struct {
	cfg Config
	url *url.URL

	mu      sync.Mutex
	lastKey int32
	lastAt  time.Time
	vms     map[string]vmInfo // by managed object id: what was last read of each VM
	fresh   map[string]bool   // created or registered VMs not yet powered on
	moving  map[string]bool   // VMs reported Started and Arrived, not yet ended
	chains  map[int32]bool    // event chains of failures reported from events
	tasks   map[string]bool   // failed tasks already reported
	hosts   map[string]string // host managed object id -> cloud ("" unmapped)
	field   int32             // custom attribute key, -1 when none
}

type vmInfo struct {
	id    string
	res   bbus.Resources
	host  string
	power types.VirtualMachinePowerState
}

// New checks cfg and returns a Source; it does not connect yet.
func New(cfg Config) (*Source, error) {
	if cfg.URL == "" {
		return nil, errors.New("vcenter: no URL")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("vcenter: URL %q is not http(s)://USER:PASSWORD@HOST/sdk", cfg.URL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/sdk"
	}
	if u.User == nil {
		return nil, errors.New("vcenter: URL has no credentials")
	}
	if cfg.Cloud == "" {
		return nil, errors.New("vcenter: no cloud for the agent")
	}
	if len(cfg.Clouds) == 0 {
		return nil, errors.New("vcenter: no host, cluster or datacenter mapped to a cloud")
	}
	for k, v := range cfg.Clouds {
		if k == "" || v == "" {
			return nil, fmt.Errorf("vcenter: empty name or cloud in mapping %q=%q", k, v)
		}
	}
	switch cfg.VMID {
	case "":
		cfg.VMID = IDInstanceUUID
	case IDInstanceUUID, IDName:
	default:
		return nil, fmt.Errorf("vcenter: VM id %q is not %q or %q", cfg.VMID, IDInstanceUUID, IDName)
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 2 * time.Second
	}
	return &Source{
		cfg: cfg, url: u, lastKey: cfg.After, lastAt: cfg.Since,
		vms: map[string]vmInfo{}, fresh: map[string]bool{}, moving: map[string]bool{},
		chains: map[int32]bool{}, tasks: map[string]bool{}, hosts: map[string]string{}, field: -1,
	}, nil
}

func (s *Source) logf(format string, args ...any) {
	if s.cfg.Log != nil {
		s.cfg.Log(format, args...)
	}
}

// LastKey is the key of the last vCenter event the source has read, for a
// later run's Config.After.
func (s *Source) LastKey() int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastKey
}

// Run follows vCenter until ctx ends. The first connection's failure is
// returned; later losses of the connection are retried every Config.Retry,
// resuming after the last event key read.
func (s *Source) Run(ctx context.Context, emit func(agent.Event)) error {
	first := true
	for {
		err := s.watch(ctx, emit, &first)
		if ctx.Err() != nil {
			return nil
		}
		if first {
			return err
		}
		s.logf("vcenter: connection lost (%v), reconnecting after event %d", err, s.LastKey())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.cfg.Retry):
		}
	}
}

func (s *Source) connect(ctx context.Context) (*govmomi.Client, error) {
	c, err := govmomi.NewClient(ctx, s.url, s.cfg.Insecure)
	if err != nil {
		return nil, fmt.Errorf("vcenter: connect to %s: %w", s.url.Host, err)
	}
	return c, nil
}

// eventTypes are the vCenter events the source asks for.
var eventTypes = []string{
	"VmBeingMigratedEvent", "VmBeingHotMigratedEvent", "VmBeingRelocatedEvent",
	"VmMigratedEvent", "DrsVmMigratedEvent", "VmRelocatedEvent",
	"VmFailedMigrateEvent", "VmRelocateFailedEvent",
	"VmCreatedEvent", "VmClonedEvent", "VmDeployedEvent", "VmRegisteredEvent",
	"VmPoweredOnEvent", "VmRemovedEvent",
}

func (s *Source) watch(ctx context.Context, emit func(agent.Event), first *bool) error {
	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Logout(context.Background()) }()
	vc := c.Client

	s.mu.Lock()
	s.hosts = map[string]string{}
	s.mu.Unlock()
	if err := s.loadField(ctx, vc); err != nil {
		return err
	}
	if _, err := s.inventory(ctx, vc); err != nil {
		return err
	}

	s.mu.Lock()
	since := s.lastAt
	s.mu.Unlock()
	if since.IsZero() {
		now, err := methods.GetCurrentTime(ctx, vc)
		if err != nil {
			return fmt.Errorf("vcenter: current time: %w", err)
		}
		since = *now
		s.mu.Lock()
		if s.lastAt.IsZero() {
			// A reconnection before any event reads on from here.
			s.lastAt = since
		}
		s.mu.Unlock()
	}
	events, err := event.NewManager(vc).CreateCollectorForEvents(ctx, types.EventFilterSpec{
		EventTypeId: eventTypes,
		Time:        &types.EventFilterSpecByTime{BeginTime: &since},
	})
	if err != nil {
		return fmt.Errorf("vcenter: event collector: %w", err)
	}
	defer func() { _ = events.Destroy(context.Background()) }()
	tasks, err := task.NewManager(vc).CreateCollectorForTasks(ctx, types.TaskFilterSpec{
		Time: &types.TaskFilterSpecByTime{TimeType: types.TaskFilterSpecTimeOptionQueuedTime, BeginTime: &since},
	})
	if err != nil {
		return fmt.Errorf("vcenter: task collector: %w", err)
	}
	defer func() { _ = tasks.Destroy(context.Background()) }()
	*first = false

	if err := s.drain(ctx, vc, events, emit); err != nil {
		return err
	}
	filter := new(property.WaitFilter).
		Add(events.Reference(), "EventHistoryCollector", []string{"latestPage"}).
		Add(tasks.Reference(), "TaskHistoryCollector", []string{"latestPage"})
	var failed error
	err = property.WaitForUpdates(ctx, property.DefaultCollector(vc), filter, func(updates []types.ObjectUpdate) bool {
		for _, u := range updates {
			if u.Obj == tasks.Reference() {
				for _, ch := range u.ChangeSet {
					if page, ok := ch.Val.(types.ArrayOfTaskInfo); ok {
						s.taskPage(ctx, vc, page.TaskInfo, emit)
					}
				}
				continue
			}
			if failed = s.drain(ctx, vc, events, emit); failed != nil {
				return true
			}
		}
		return false
	})
	if failed != nil {
		return failed
	}
	return err
}

// drain reads the collector's events from its position to the newest.
func (s *Source) drain(ctx context.Context, vc *vim25.Client, c *event.HistoryCollector, emit func(agent.Event)) error {
	for {
		page, err := c.ReadNextEvents(ctx, 100)
		if err != nil {
			return fmt.Errorf("vcenter: read events: %w", err)
		}
		if len(page) == 0 {
			return nil
		}
		for _, e := range page {
			base := e.GetEvent()
			s.mu.Lock()
			seen := base.Key <= s.lastKey
			if !seen {
				s.lastKey = base.Key
				s.lastAt = base.CreatedTime
			}
			s.mu.Unlock()
			if !seen {
				s.handle(ctx, vc, e, emit)
			}
		}
	}
}

func ref(k int32, suffix string) string {
	r := "event/" + strconv.FormatInt(int64(k), 10)
	if suffix != "" {
		r += "/" + suffix
	}
	return r
}

// destHost returns the host an event of a move (begun or failed) names as
// the VM's destination.
func destHost(e types.BaseEvent) types.HostEventArgument {
	switch ev := e.(type) {
	case *types.VmBeingMigratedEvent:
		return ev.DestHost
	case *types.VmBeingHotMigratedEvent:
		return ev.DestHost
	case *types.VmBeingRelocatedEvent:
		return ev.DestHost
	case *types.VmFailedMigrateEvent:
		return ev.DestHost
	case *types.VmRelocateFailedEvent:
		return ev.DestHost
	}
	return types.HostEventArgument{}
}

// handle turns one vCenter event into agent Events.
func (s *Source) handle(ctx context.Context, vc *vim25.Client, e types.BaseEvent, emit func(agent.Event)) {
	base := e.GetEvent()
	if base.Vm == nil {
		return
	}
	vmRef := base.Vm.Vm
	at := base.CreatedTime
	out := func(k agent.Kind, vm, src, dst, r string, res bbus.Resources) {
		emit(agent.Event{Kind: k, VM: vm, Source: src, Destination: dst, Resources: res, At: at, Ref: r})
	}
	hostOf := func(h *types.HostEventArgument) string {
		if h == nil {
			return ""
		}
		return s.cloudOfHost(ctx, vc, h.Host)
	}
	// toward finds the VM of an event that names where it goes, from the
	// event's host to dest, and notes whether it is moving; ok is false for a
	// move within one cloud or a VM bbus does not know.
	toward := func(dest types.HostEventArgument, moving bool) (vm, src, dst string, ok bool) {
		src, dst = hostOf(base.Host), hostOf(&dest)
		if src == dst {
			return "", "", "", false
		}
		v, ok := s.vmID(ctx, vc, vmRef, false)
		if !ok {
			return "", "", "", false
		}
		s.setMoving(vmRef.Value, moving)
		return v.id, src, dst, true
	}
	switch ev := e.(type) {
	case *types.VmBeingMigratedEvent, *types.VmBeingHotMigratedEvent, *types.VmBeingRelocatedEvent:
		vm, src, dst, ok := toward(destHost(ev), true)
		if !ok {
			return
		}
		out(agent.MigrationStarted, vm, src, dst, ref(base.Key, ""), bbus.Resources{})
		out(agent.MigrationArrived, vm, src, dst, ref(base.Key, "arrived"), bbus.Resources{})

	case *types.VmMigratedEvent, *types.DrsVmMigratedEvent, *types.VmRelocatedEvent:
		var from types.HostEventArgument
		switch ev := ev.(type) {
		case *types.VmMigratedEvent:
			from = ev.SourceHost
		case *types.DrsVmMigratedEvent:
			from = ev.SourceHost
		case *types.VmRelocatedEvent:
			from = ev.SourceHost
		}
		vm, ok := s.vmID(ctx, vc, vmRef, true)
		if !ok {
			return
		}
		src := hostOf(&from)
		dst := hostOf(base.Host)
		if base.Host == nil || base.Host.Host == from.Host {
			// The event names the source host twice (vcsim does; a
			// storage-only relocation does too): the VM's host now
			// tells where it went.
			dst = s.cloudOfHost(ctx, vc, types.ManagedObjectReference{Type: "HostSystem", Value: vm.host})
		}
		if src == dst {
			return
		}
		if !s.setMoving(vmRef.Value, false) {
			// Started and Arrived were not seen (vCenter did not post
			// them, or they came before the history read): report them.
			out(agent.MigrationStarted, vm.id, src, dst, ref(base.Key, "started"), bbus.Resources{})
			out(agent.MigrationArrived, vm.id, src, dst, ref(base.Key, "arrived"), bbus.Resources{})
		}
		out(agent.MigrationSucceeded, vm.id, src, dst, ref(base.Key, ""), bbus.Resources{})

	case *types.VmFailedMigrateEvent, *types.VmRelocateFailedEvent:
		vm, src, dst, ok := toward(destHost(ev), false)
		if !ok {
			return
		}
		s.mu.Lock()
		s.chains[base.ChainId] = true
		s.mu.Unlock()
		out(agent.MigrationFailed, vm, src, dst, ref(base.Key, ""), bbus.Resources{})

	case *types.VmCreatedEvent, *types.VmClonedEvent, *types.VmDeployedEvent, *types.VmRegisteredEvent:
		s.mu.Lock()
		s.fresh[vmRef.Value] = true
		s.mu.Unlock()

	case *types.VmPoweredOnEvent:
		s.mu.Lock()
		fresh := s.fresh[vmRef.Value]
		delete(s.fresh, vmRef.Value)
		s.mu.Unlock()
		if !fresh {
			return
		}
		vm, ok := s.vmID(ctx, vc, vmRef, true)
		if !ok {
			return
		}
		cloud := hostOf(base.Host)
		if cloud == "" {
			return
		}
		out(agent.VMCreated, vm.id, cloud, "", ref(base.Key, ""), vm.res)

	case *types.VmRemovedEvent:
		s.mu.Lock()
		vm, ok := s.vms[vmRef.Value]
		delete(s.vms, vmRef.Value)
		delete(s.fresh, vmRef.Value)
		delete(s.moving, vmRef.Value)
		s.mu.Unlock()
		if !ok && s.cfg.Attribute == "" && s.cfg.VMID == IDName {
			vm, ok = vmInfo{id: base.Vm.Name}, true
		}
		cloud := hostOf(base.Host)
		if !ok || vm.id == "" || cloud == "" {
			return
		}
		out(agent.VMDeleted, vm.id, cloud, "", ref(base.Key, ""), bbus.Resources{})
	}
}

func (s *Source) setMoving(vm string, on bool) (was bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	was = s.moving[vm]
	if on {
		s.moving[vm] = true
	} else {
		delete(s.moving, vm)
	}
	return was
}

// taskPage reports the relocation and migration tasks of the page that
// failed, unless a failure event of the same chain was reported already.
func (s *Source) taskPage(ctx context.Context, vc *vim25.Client, page []types.TaskInfo, emit func(agent.Event)) {
	sort.Slice(page, func(i, j int) bool { return page[i].QueueTime.Before(page[j].QueueTime) })
	for _, t := range page {
		name := strings.ToLower(t.Name + " " + t.DescriptionId)
		if t.State != types.TaskInfoStateError || t.Entity == nil ||
			!(strings.Contains(name, "relocate") || strings.Contains(name, "migrate")) {
			continue
		}
		s.mu.Lock()
		skip := s.tasks[t.Key] || (t.EventChainId != 0 && s.chains[t.EventChainId])
		s.tasks[t.Key] = true
		s.mu.Unlock()
		if skip {
			continue
		}
		vm, ok := s.vmID(ctx, vc, *t.Entity, true)
		if !ok {
			continue
		}
		src := s.cloudOfHost(ctx, vc, types.ManagedObjectReference{Type: "HostSystem", Value: vm.host})
		if src == "" {
			continue
		}
		s.setMoving(t.Entity.Value, false)
		at := time.Now()
		if t.CompleteTime != nil {
			at = *t.CompleteTime
		}
		emit(agent.Event{Kind: agent.MigrationFailed, VM: vm.id, Source: src, At: at, Ref: "task/" + t.Key})
	}
}

// loadField finds the key of Config.Attribute.
func (s *Source) loadField(ctx context.Context, vc *vim25.Client) error {
	if s.cfg.Attribute == "" {
		return nil
	}
	m, err := object.GetCustomFieldsManager(vc)
	if err != nil {
		return fmt.Errorf("vcenter: custom attributes: %w", err)
	}
	key, err := m.FindKey(ctx, s.cfg.Attribute)
	if err != nil {
		return fmt.Errorf("vcenter: custom attribute %q: %w", s.cfg.Attribute, err)
	}
	s.mu.Lock()
	s.field = key
	s.mu.Unlock()
	return nil
}

var vmProps = []string{"name", "config.instanceUuid", "config.hardware.numCPU", "config.hardware.memoryMB",
	"customValue", "runtime.host", "runtime.powerState"}

func (s *Source) info(v mo.VirtualMachine, field int32) vmInfo {
	var in vmInfo
	if v.Config != nil {
		in.res = bbus.Resources{CPU: int64(v.Config.Hardware.NumCPU), MemMiB: int64(v.Config.Hardware.MemoryMB)}
	}
	if v.Runtime.Host != nil {
		in.host = v.Runtime.Host.Value
	}
	in.power = v.Runtime.PowerState
	switch {
	case s.cfg.Attribute != "":
		for _, cv := range v.CustomValue {
			if sv, ok := cv.(*types.CustomFieldStringValue); ok && sv.Key == field {
				in.id = sv.Value
			}
		}
	case s.cfg.VMID == IDName:
		in.id = v.Name
	case v.Config != nil:
		in.id = v.Config.InstanceUuid
	}
	return in
}

// vmID returns the VM's bbus id, read from vCenter (fresh, or when not
// known yet) or from what was read before.
func (s *Source) vmID(ctx context.Context, vc *vim25.Client, r types.ManagedObjectReference, fresh bool) (vmInfo, bool) {
	s.mu.Lock()
	in, ok := s.vms[r.Value]
	s.mu.Unlock()
	if !ok || fresh {
		var v mo.VirtualMachine
		if err := property.DefaultCollector(vc).RetrieveOne(ctx, r, vmProps, &v); err != nil {
			if !ok {
				s.logf("vcenter: VM %s: %v", r.Value, err)
				return vmInfo{}, false
			}
		} else {
			s.mu.Lock()
			in, ok = s.info(v, s.field), true
			s.vms[r.Value] = in
			s.mu.Unlock()
		}
	}
	if in.id == "" {
		s.logf("vcenter: VM %s has no bbus id", r.Value)
		return in, false
	}
	return in, true
}

// inventory reads every VM, refreshing what the source knows of them.
func (s *Source) inventory(ctx context.Context, vc *vim25.Client) ([]vmInfo, error) {
	m := view.NewManager(vc)
	v, err := m.CreateContainerView(ctx, vc.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, fmt.Errorf("vcenter: inventory: %w", err)
	}
	defer func() { _ = v.Destroy(context.Background()) }()
	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, vmProps, &vms); err != nil {
		return nil, fmt.Errorf("vcenter: inventory: %w", err)
	}
	out := make([]vmInfo, 0, len(vms))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, vm := range vms {
		in := s.info(vm, s.field)
		s.vms[vm.Self.Value] = in
		out = append(out, in)
	}
	return out, nil
}

// cloudOfHost maps a host to its cloud through the most specific mapped
// entity on its inventory path.
func (s *Source) cloudOfHost(ctx context.Context, vc *vim25.Client, host types.ManagedObjectReference) string {
	if host.Value == "" {
		return ""
	}
	s.mu.Lock()
	cloud, ok := s.hosts[host.Value]
	s.mu.Unlock()
	if ok {
		return cloud
	}
	type step struct{ name string }
	var chain []step
	pc := property.DefaultCollector(vc)
	r := host
	for i := 0; i < 64; i++ {
		var e mo.ManagedEntity
		if err := pc.RetrieveOne(ctx, r, []string{"name", "parent"}, &e); err != nil {
			s.logf("vcenter: host %s: %v", host.Value, err)
			return ""
		}
		if e.Parent == nil { // the root folder
			break
		}
		chain = append(chain, step{e.Name})
		r = *e.Parent
	}
	// chain runs from the host up; its paths run from the root down.
	for i := range chain {
		names := make([]string, 0, len(chain)-i)
		for j := len(chain) - 1; j >= i; j-- {
			names = append(names, chain[j].name)
		}
		if c, ok := s.cfg.Clouds["/"+strings.Join(names, "/")]; ok {
			cloud = c
			break
		}
		if c, ok := s.cfg.Clouds[chain[i].name]; ok {
			cloud = c
			break
		}
	}
	s.mu.Lock()
	s.hosts[host.Value] = cloud
	s.mu.Unlock()
	return cloud
}

// Running returns the bbus ids of the VMs powered on in hosts that map to
// Config.Cloud, sorted.
func (s *Source) Running(ctx context.Context) ([]string, error) {
	c, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = c.Logout(context.Background()) }()
	s.mu.Lock()
	s.hosts = map[string]string{}
	s.mu.Unlock()
	if err := s.loadField(ctx, c.Client); err != nil {
		return nil, err
	}
	vms, err := s.inventory(ctx, c.Client)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, vm := range vms {
		if vm.id == "" || vm.power != types.VirtualMachinePowerStatePoweredOn {
			continue
		}
		if s.cloudOfHost(ctx, c.Client, types.ManagedObjectReference{Type: "HostSystem", Value: vm.host}) == s.cfg.Cloud {
			ids = append(ids, vm.id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

var (
	_ agent.Source     = (*Source)(nil)
	_ agent.Reconciler = (*Source)(nil)
)
