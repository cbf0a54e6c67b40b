package libvirt

import (
	"testing"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/agent"
)

// The lifecycle sequences libvirt reports, on the source and on the
// destination, and what each event means to the agent ("" for nothing).
func TestTranslate(t *testing.T) {
	const (
		started   = int32(golibvirt.DomainEventStarted)
		suspended = int32(golibvirt.DomainEventSuspended)
		resumed   = int32(golibvirt.DomainEventResumed)
		stopped   = int32(golibvirt.DomainEventStopped)
	)
	type step struct {
		event, detail int32
		want          agent.Kind
	}
	for name, seq := range map[string][]step{
		"source, migration succeeds": {
			{suspended, int32(golibvirt.DomainEventSuspendedMigrated), agent.MigrationStarted},
			{stopped, int32(golibvirt.DomainEventStoppedMigrated), ""},
		},
		"source, migration fails and the domain resumes": {
			{suspended, int32(golibvirt.DomainEventSuspendedMigrated), agent.MigrationStarted},
			{resumed, int32(golibvirt.DomainEventResumedMigrated), agent.MigrationFailed},
			{suspended, int32(golibvirt.DomainEventSuspendedPaused), ""},
			{resumed, int32(golibvirt.DomainEventResumedUnpaused), ""},
		},
		"source, post-copy after pre-copy, then post-copy fails": {
			{suspended, int32(golibvirt.DomainEventSuspendedMigrated), agent.MigrationStarted},
			{suspended, int32(golibvirt.DomainEventSuspendedPostcopy), ""},
			{suspended, int32(golibvirt.DomainEventSuspendedPostcopyFailed), agent.MigrationFailed},
		},
		"destination, migration succeeds": {
			{started, int32(golibvirt.DomainEventStartedMigrated), agent.MigrationArrived},
			{resumed, int32(golibvirt.DomainEventResumedMigrated), agent.MigrationSucceeded},
			{stopped, int32(golibvirt.DomainEventStoppedDestroyed), agent.VMDeleted},
		},
		"destination, what arrived stops before it runs": {
			{started, int32(golibvirt.DomainEventStartedMigrated), agent.MigrationArrived},
			{stopped, int32(golibvirt.DomainEventStoppedFailed), agent.MigrationFailed},
		},
		"a domain booted, paused, resumed, saved, destroyed": {
			{started, int32(golibvirt.DomainEventStartedBooted), agent.VMCreated},
			{suspended, int32(golibvirt.DomainEventSuspendedPaused), ""},
			{resumed, int32(golibvirt.DomainEventResumedUnpaused), ""},
			{stopped, int32(golibvirt.DomainEventStoppedSaved), ""},
			{started, int32(golibvirt.DomainEventStartedRestored), ""},
			{stopped, int32(golibvirt.DomainEventStoppedShutdown), agent.VMDeleted},
		},
	} {
		s, err := New(Config{URI: "qemu:///system"})
		if err != nil {
			t.Fatal(err)
		}
		dom := golibvirt.Domain{Name: "g", UUID: golibvirt.UUID{1, 2, 3}}
		for i, st := range seq {
			ev, ok := s.translate(golibvirt.DomainEventLifecycleMsg{Dom: dom, Event: st.event, Detail: st.detail}, "vm-1",
				func() bbus.Resources { return bbus.Resources{CPU: 1, MemMiB: 32} }, func() string { return "west" })
			got := agent.Kind("")
			if ok {
				got = ev.Kind
			}
			if got != st.want {
				t.Errorf("%s, event %d (%s): got %q, want %q", name, i, ev.Ref, got, st.want)
			}
			if ok && got == agent.MigrationStarted && ev.Destination != "west" {
				t.Errorf("%s: destination %q", name, ev.Destination)
			}
			if ok && got == agent.VMCreated && ev.Resources.CPU != 1 {
				t.Errorf("%s: resources %v", name, ev.Resources)
			}
		}
	}
}

func TestUUIDString(t *testing.T) {
	u := golibvirt.UUID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	if got := uuidString(u); got != "12345678-9abc-def0-0123-456789abcdef" {
		t.Fatal(got)
	}
	if err := bbus.ValidateID("vm", uuidString(u)); err != nil {
		t.Fatalf("a domain UUID is not a bbus VM id: %v", err)
	}
}
