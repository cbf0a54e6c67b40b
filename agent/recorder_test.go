package agent_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/agent"
	"github.com/bbusdev/bbus/agent/internal/fedtest"
	"github.com/bbusdev/bbus/keys"
)

// recorder returns the agent of cloud on f, with its state in the cloud's
// home and its metrics in reg (if not nil).
func recorder(t *testing.T, f *fedtest.Fed, cloud string, reg prometheus.Registerer, opts ...func(*agent.Config)) *agent.Recorder {
	t.Helper()
	k, err := keys.Load(f.Home(cloud), cloud)
	if err != nil {
		t.Fatal(err)
	}
	cfg := agent.Config{Cloud: cloud, Key: k.PrivKey, Client: f.Client(), Home: f.Home(cloud), Source: "test", Registerer: reg, Log: fedtest.Log(t, cloud)}
	for _, o := range opts {
		o(&cfg)
	}
	r, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func register(t *testing.T, f *fedtest.Fed, cloud, vm string, cpu int64) {
	t.Helper()
	f.Send(t, cloud, bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: bbus.Resources{CPU: cpu, MemMiB: 512}}})
}

func want(t *testing.T, e agent.Entry, outcome, step string) {
	t.Helper()
	if e.Outcome != outcome || e.Step != step {
		t.Fatalf("entry %+v: want outcome %s, step %q", e, outcome, step)
	}
}

// The two agents record a migration in the order libvirt reports it (the
// destination sees the VM arrive before the source sees it leave), and every
// event seen again, by a running agent or by a new one, records nothing more.
func TestRecorderFullMigrationAndReplay(t *testing.T) {
	f := fedtest.Start(t, "east", "west")
	register(t, f, "east", "vm-1", 2)
	east, west := recorder(t, f, "east", nil), recorder(t, f, "west", nil)
	ctx := context.Background()

	arrived := agent.Event{Kind: agent.MigrationArrived, VM: "vm-1", Ref: "b-started"}
	started := agent.Event{Kind: agent.MigrationStarted, VM: "vm-1", Destination: "west", Ref: "a-suspended"}
	succeeded := agent.Event{Kind: agent.MigrationSucceeded, VM: "vm-1", Ref: "b-resumed"}
	want(t, west.Handle(ctx, arrived), agent.Waiting, "")
	e := east.Handle(ctx, started)
	want(t, e, agent.Recorded, "migration_propose")
	if e.Migration == "" || e.Height == 0 {
		t.Fatalf("propose entry %+v", e)
	}
	west.Retry(ctx)
	if s := west.State(); len(s.Pending) != 0 || s.Steps != 1 || s.Log[len(s.Log)-1].Step != "migration_accept" {
		t.Fatalf("west after its retry: %+v", s)
	}
	want(t, west.Handle(ctx, succeeded), agent.Recorded, "migration_complete")
	m := f.CheckMigrated(t, "vm-1", "east", "west")

	// Replayed by the same agents, then by new ones (a restart).
	for _, pair := range [][2]*agent.Recorder{{east, west}, {recorder(t, f, "east", nil), recorder(t, f, "west", nil)}} {
		want(t, pair[0].Handle(ctx, started), agent.Nothing, "")
		want(t, pair[1].Handle(ctx, arrived), agent.Nothing, "")
		want(t, pair[1].Handle(ctx, succeeded), agent.Nothing, "")
		want(t, pair[0].Handle(ctx, agent.Event{Kind: agent.MigrationFailed, VM: "vm-1"}), agent.Nothing, "")
	}
	if got := f.CheckMigrated(t, "vm-1", "east", "west"); got.ID != m.ID {
		t.Fatalf("migration %s became %s", m.ID, got.ID)
	}
	st, err := agent.ReadState(f.Home("west"))
	if err != nil || st.Cloud != "west" || st.Steps != 0 || len(st.Log) == 0 {
		t.Fatalf("west's state file: %+v %v", st, err)
	}
}

// The orchestrator proposed before it started the migration: the source's
// agent recognises the open migration and the destination's takes it on.
func TestRecorderOrchestratorProposedFirst(t *testing.T) {
	f := fedtest.Start(t, "east", "west")
	register(t, f, "east", "vm-1", 2)
	res := f.Send(t, "east", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm-1", To: "west"}})
	east, west := recorder(t, f, "east", nil), recorder(t, f, "west", nil)
	ctx := context.Background()
	e := east.Handle(ctx, agent.Event{Kind: agent.MigrationStarted, VM: "vm-1", Destination: "west"})
	if e.Outcome != agent.Nothing || e.Migration != res.ID {
		t.Fatalf("source's entry %+v, want nothing for %s", e, res.ID)
	}
	// The destination sees it leave without a destination named: still the one.
	want(t, east.Handle(ctx, agent.Event{Kind: agent.MigrationStarted, VM: "vm-1"}), agent.Nothing, "")
	// The destination's first event is the VM running there: accept and complete.
	want(t, west.Handle(ctx, agent.Event{Kind: agent.MigrationSucceeded, VM: "vm-1"}), agent.Recorded, "migration_complete")
	f.CheckMigrated(t, "vm-1", "east", "west")
	if s := west.State(); s.Steps != 2 {
		t.Fatalf("west took %d steps, want accept and complete: %+v", s.Steps, s.Log)
	}
}

// A migration that fails is cancelled by its source or rejected by its
// destination, whichever sees the failure, and what the destination reserved is
// released.
func TestRecorderFailedMigration(t *testing.T) {
	f := fedtest.Start(t, "east", "west")
	east, west := recorder(t, f, "east", nil), recorder(t, f, "west", nil)
	ctx := context.Background()
	for _, c := range []struct {
		vm, status string
		by         *agent.Recorder
		step       string
	}{
		{"vm-1", bbus.MigrationCancelled, east, "migration_cancel"},
		{"vm-2", bbus.MigrationRejected, west, "migration_reject"},
	} {
		register(t, f, "east", c.vm, 2)
		want(t, east.Handle(ctx, agent.Event{Kind: agent.MigrationStarted, VM: c.vm, Destination: "west"}), agent.Recorded, "migration_propose")
		want(t, west.Handle(ctx, agent.Event{Kind: agent.MigrationArrived, VM: c.vm}), agent.Recorded, "migration_accept")
		want(t, c.by.Handle(ctx, agent.Event{Kind: agent.MigrationFailed, VM: c.vm}), agent.Recorded, c.step)
		// The other side sees the failure too: nothing left to end.
		other := west
		if c.by == west {
			other = east
		}
		want(t, other.Handle(ctx, agent.Event{Kind: agent.MigrationFailed, VM: c.vm}), agent.Nothing, "")
		ms := f.Migrations(t, c.vm)
		if len(ms) != 1 || ms[0].Status != c.status {
			t.Fatalf("%s: migrations %+v, want one %s", c.vm, ms, c.status)
		}
		if vm, _ := f.Client().VM(ctx, c.vm); vm.Host != "east" || vm.Migration != "" {
			t.Fatalf("%s after its failed migration: %+v", c.vm, vm)
		}
	}
	if w, _ := f.Client().Cloud(ctx, "west"); !w.Allocated.IsZero() {
		t.Fatalf("west still has %+v allocated", w.Allocated)
	}
}

// A step the ledger refuses (here: no room at the destination) is logged with
// the ledger's code, counted, and kept for bbus agent status.
func TestRecorderRefusalReported(t *testing.T) {
	f := fedtest.Start(t, "east", "west")
	register(t, f, "west", "vm-big", 6)
	register(t, f, "east", "vm-1", 4)
	reg := prometheus.NewRegistry()
	east, west := recorder(t, f, "east", nil), recorder(t, f, "west", reg)
	ctx := context.Background()
	want(t, east.Handle(ctx, agent.Event{Kind: agent.MigrationStarted, VM: "vm-1", Destination: "west"}), agent.Recorded, "migration_propose")
	e := west.Handle(ctx, agent.Event{Kind: agent.MigrationArrived, VM: "vm-1"})
	if e.Outcome != agent.Refused || e.Code != bbus.ECAPACITY || e.Step != "migration_accept" {
		t.Fatalf("accept beyond capacity: %+v", e)
	}
	st, err := agent.ReadState(f.Home("west"))
	if err != nil || st.Refusals != 1 || st.LastRefusal == nil || st.LastRefusal.Code != bbus.ECAPACITY || !strings.Contains(st.LastRefusal.Why, "free, the VM needs") {
		t.Fatalf("state after the refusal: %+v %v", st, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP bbus_agent_refusals_total Steps the ledger refused, by the ledger's code.
# TYPE bbus_agent_refusals_total counter
bbus_agent_refusals_total{code="insufficient_capacity"} 1
`), "bbus_agent_refusals_total"); err != nil {
		t.Fatal(err)
	}
	// The source learns of it as a failure and cancels.
	want(t, east.Handle(ctx, agent.Event{Kind: agent.MigrationFailed, VM: "vm-1"}), agent.Recorded, "migration_cancel")
}

// An agent that starts compares what runs on its layer with the ledger.
func TestRecorderReconcile(t *testing.T) {
	f := fedtest.Start(t, "east", "west")
	ctx := context.Background()
	// vm-1 moved to west while west's agent was down: the proposal is open.
	register(t, f, "east", "vm-1", 1)
	f.Send(t, "east", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm-1", To: "west"}})
	// vm-2's migration was accepted, then failed while east's agent was down.
	register(t, f, "east", "vm-2", 1)
	res := f.Send(t, "east", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm-2", To: "west"}})
	f.Send(t, "west", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: res.ID}})
	// vm-3 runs on west though the ledger places it on east; vm-4 is unknown.
	register(t, f, "east", "vm-3", 1)

	west := recorder(t, f, "west", nil)
	west.Reconcile(ctx, []string{"vm-1", "vm-3", "vm-4"})
	f.CheckMigrated(t, "vm-1", "east", "west")
	s := west.State()
	if s.Differences != 2 {
		t.Fatalf("west reported %d differences, want vm-3 and vm-4: %+v", s.Differences, s.Log)
	}
	east := recorder(t, f, "east", nil)
	east.Reconcile(ctx, []string{"vm-2", "vm-3"})
	if ms := f.Migrations(t, "vm-2"); len(ms) != 1 || ms[0].Status != bbus.MigrationCancelled {
		t.Fatalf("vm-2's migrations after east's start: %+v", ms)
	}
	if s := east.State(); s.Differences != 0 || s.Steps != 1 {
		t.Fatalf("east's start: %+v", s)
	}
	// Both start again: nothing more.
	recorder(t, f, "west", nil).Reconcile(ctx, []string{"vm-1"})
	recorder(t, f, "east", nil).Reconcile(ctx, []string{"vm-2"})
	f.CheckMigrated(t, "vm-1", "east", "west")
	if ms := f.Migrations(t, "vm-2"); len(ms) != 1 {
		t.Fatalf("vm-2's migrations: %+v", ms)
	}
}

// New VMs are registered and destroyed ones terminated only when asked.
func TestRecorderRegisterAndTerminate(t *testing.T) {
	f := fedtest.Start(t, "east", "west")
	ctx := context.Background()
	created := agent.Event{Kind: agent.VMCreated, VM: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 256}}
	deleted := agent.Event{Kind: agent.VMDeleted, VM: "vm-1"}
	off := recorder(t, f, "east", nil)
	want(t, off.Handle(ctx, created), agent.Nothing, "")
	on := recorder(t, f, "east", nil, func(c *agent.Config) { c.RegisterNew, c.TerminateOnDestroy = true, true })
	want(t, on.Handle(ctx, created), agent.Recorded, "vm_register")
	want(t, on.Handle(ctx, created), agent.Nothing, "")
	want(t, off.Handle(ctx, deleted), agent.Nothing, "")
	// Only the host's agent terminates.
	w := recorder(t, f, "west", nil, func(c *agent.Config) { c.TerminateOnDestroy = true })
	want(t, w.Handle(ctx, deleted), agent.Nothing, "")
	want(t, on.Handle(ctx, deleted), agent.Recorded, "vm_terminate")
	want(t, on.Handle(ctx, deleted), agent.Nothing, "")
	if vm, _ := f.Client().VM(ctx, "vm-1"); vm.State != bbus.VMTerminated {
		t.Fatalf("vm-1: %+v", vm)
	}
}

// chanSource is a Source fed by a test, and a Reconciler.
type chanSource struct {
	running []string
	events  chan agent.Event
}

func (s *chanSource) Run(ctx context.Context, emit func(agent.Event)) error {
	for {
		select {
		case ev := <-s.events:
			emit(ev)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *chanSource) Running(context.Context) ([]string, error) { return s.running, nil }

// Two agents running on their sources record a migration with nobody calling
// them: the destination's waits for the source's proposal by itself.
func TestRecorderRun(t *testing.T) {
	f := fedtest.Start(t, "east", "west")
	register(t, f, "east", "vm-1", 1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	srcs := map[string]*chanSource{}
	for _, c := range []string{"east", "west"} {
		src := &chanSource{events: make(chan agent.Event, 8)}
		if c == "east" {
			src.running = []string{"vm-1"}
		}
		srcs[c] = src
		r := recorder(t, f, c, nil)
		wg.Add(1)
		go func() { defer wg.Done(); r.Run(ctx, src) }()
	}
	srcs["west"].events <- agent.Event{Kind: agent.MigrationArrived, VM: "vm-1"}
	srcs["west"].events <- agent.Event{Kind: agent.MigrationSucceeded, VM: "vm-1"}
	time.Sleep(200 * time.Millisecond) // the destination waits for the proposal
	srcs["east"].events <- agent.Event{Kind: agent.MigrationStarted, VM: "vm-1", Destination: "west"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if vm, err := f.Client().VM(ctx, "vm-1"); err == nil && vm.Host == "west" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("vm-1 never reached west on the ledger")
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.CheckMigrated(t, "vm-1", "east", "west")
}
