package nova_test

import (
	"context"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/agent"
	"github.com/bbusdev/bbus/agent/internal/fedtest"
	"github.com/bbusdev/bbus/agent/nova"
	"github.com/bbusdev/bbus/keys"
)

// agentOf runs cloud's agent on f: a recorder with the cloud's own key,
// registering new VMs, reading the rig's exchange through a queue of its
// own (declared and bound before anything is published).
func (r *rig) agentOf(f *fedtest.Fed, cloud string) *agent.Recorder {
	t := r.t
	t.Helper()
	queue := r.queue + "-" + cloud
	if _, err := r.ch.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"versioned_notifications.info", "versioned_notifications.error"} {
		if err := r.ch.QueueBind(queue, k, r.exchange, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	k, err := keys.Load(f.Home(cloud), cloud)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := agent.New(agent.Config{Cloud: cloud, Key: k.PrivKey, Client: f.Client(), Home: f.Home(cloud), Source: "nova",
		RegisterNew: true, Poll: 20 * time.Millisecond, Log: fedtest.Log(t, cloud)})
	if err != nil {
		t.Fatal(err)
	}
	src, err := nova.New(nova.Config{URL: r.b.url, Exchange: r.exchange, Queue: queue, Hosts: hosts, Retry: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
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

// logged reports whether r logged an entry for an event of kind about vm
// (with step, if not empty).
func logged(r *agent.Recorder, kind agent.Kind, vm, step string) bool {
	for _, e := range r.State().Log {
		if e.Event == kind && e.VM == vm && (step == "" || e.Step == step) {
			return true
		}
	}
	return false
}

// settled waits until the ledger holds n migrations of vm, none open, both
// agents have handled an event of kind about it and neither waits.
func settled(t *testing.T, f *fedtest.Fed, vm string, n int, kind agent.Kind, recs ...*agent.Recorder) []bbus.Migration {
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
			if len(r.State().Pending) > 0 || !logged(r, kind, vm, "") {
				return false
			}
		}
		return true
	})
	return ms
}

// created publishes the creation of in on compute1 and waits for cloud-a's
// agent to register it.
func (r *rig) created(a *agent.Recorder, in inst, vm string) {
	r.t.Helper()
	r.notify("instance.create.start", "compute1", in)
	r.notify("instance.create.end", "compute1", in)
	until(r.t, "cloud-a's agent to register "+vm, func() bool { return logged(a, agent.VMCreated, vm, "vm_register") })
}

// A live migration Nova notifies through a real RabbitMQ, of an instance
// whose creation cloud-a's agent registered, is recorded by the agents of
// both clouds with no step typed.
func TestE2ELiveMigrationRecorded(t *testing.T) {
	r := newRig(t)
	f := fedtest.Start(t, "cloud-a", "cloud-b")
	a, b := r.agentOf(f, "cloud-a"), r.agentOf(f, "cloud-b")
	src := inst{uuid: uuid1, host: "compute1", metadata: map[string]string{"bbus_vm": "vm-1"}, vcpus: 2, memMB: 2048}
	r.created(a, src, "vm-1")

	src.task = "migrating"
	r.notify("instance.live_migration_pre.start", "compute2", src)
	r.notify("instance.live_migration_pre.end", "compute2", src)
	r.notify("instance.live_migration_post.start", "compute1", src)
	r.notify("instance.live_migration_post.end", "compute1", src)
	r.notify("instance.live_migration_post_dest.start", "compute2", src)
	done := src
	done.host, done.task = "compute2", nil
	r.notify("instance.live_migration_post_dest.end", "compute2", done)

	settled(t, f, "vm-1", 1, agent.MigrationSucceeded, a, b)
	f.CheckMigrated(t, "vm-1", "cloud-a", "cloud-b")
	rec, err := f.Client().VM(context.Background(), "vm-1")
	if err != nil || rec.Owner != "cloud-a" || rec.Resources != (bbus.Resources{CPU: 2, MemMiB: 2048}) {
		t.Fatalf("VM vm-1: %+v %v", rec, err)
	}
	if sa, sb := a.State(), b.State(); sa.Steps != 2 || sb.Steps != 2 || sa.Refusals+sb.Refusals != 0 {
		t.Fatalf("steps: cloud-a %d, cloud-b %d, refusals %d: %+v %+v", sa.Steps, sb.Steps, sa.Refusals+sb.Refusals, sa.Log, sb.Log)
	}
}

// A live migration Nova rolls back ends the ledger's migration cancelled
// or rejected, and the VM stays on cloud-a.
func TestE2ELiveMigrationRollback(t *testing.T) {
	r := newRig(t)
	f := fedtest.Start(t, "cloud-a", "cloud-b")
	a, b := r.agentOf(f, "cloud-a"), r.agentOf(f, "cloud-b")
	in := inst{uuid: uuid1, host: "compute1", metadata: map[string]string{"bbus_vm": "vm-2"}, vcpus: 1, memMB: 512}
	r.created(a, in, "vm-2")

	in.task = "migrating"
	r.notify("instance.live_migration_pre.start", "compute2", in)
	r.notify("instance.live_migration_pre.end", "compute2", in)
	r.notify("instance.live_migration_rollback.start", "compute1", in)
	r.notify("instance.live_migration_rollback.end", "compute1", in)
	r.notify("instance.live_migration_rollback_dest.start", "compute2", in)
	r.notify("instance.live_migration_rollback_dest.end", "compute2", in)

	m := settled(t, f, "vm-2", 1, agent.MigrationFailed, a, b)[0]
	switch by := f.SignerOf(t, m.Ended); {
	case m.Status == bbus.MigrationCancelled && by == "cloud-a", m.Status == bbus.MigrationRejected && by == "cloud-b":
	default:
		t.Fatalf("migration %s ended %s by %q, want cancelled by cloud-a or rejected by cloud-b", m.ID, m.Status, by)
	}
	if p := f.SignerOf(t, &m.Proposed); p != "cloud-a" || m.From != "cloud-a" || m.To != "cloud-b" {
		t.Fatalf("migration %+v proposed by %q", m, p)
	}
	rec, err := f.Client().VM(context.Background(), "vm-2")
	if err != nil || rec.Host != "cloud-a" || rec.Migration != "" {
		t.Fatalf("VM after the rollback: %+v %v", rec, err)
	}
}
