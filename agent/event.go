// Package agent records, with a cloud's own key, what the cloud's
// virtualisation layer does: each source (libvirt, vCenter, Nova
// notifications, CloudEvents) turns what its layer reports into Events, and
// the agent's recorder turns the Events that concern its cloud into the
// ledger's migration and VM steps.
package agent

import (
	"context"
	"time"

	"github.com/bbusdev/bbus"
)

// Kind is what happened to a VM, in the terms every source maps to.
type Kind string

// The kinds of Event. A migration is seen as Started at the source, Arrived
// at the destination (the VM is being received there), then Succeeded (it
// runs at the destination) or Failed (it stays at, or returns to, the source).
const (
	MigrationStarted   Kind = "migration.started"
	MigrationArrived   Kind = "migration.arrived"
	MigrationSucceeded Kind = "migration.succeeded"
	MigrationFailed    Kind = "migration.failed"
	VMCreated          Kind = "vm.created"
	VMDeleted          Kind = "vm.deleted"
)

// Event is one thing a virtualisation layer reported about a VM.
type Event struct {
	Kind Kind
	// VM is the bbus VM id the layer's VM maps to.
	VM string
	// Source and Destination are the clouds a migration leaves and goes to,
	// where the layer says; either may be empty when the reporting side
	// knows only itself.
	Source      string
	Destination string
	// Resources are the VM's, where the layer says (VMCreated).
	Resources bbus.Resources
	// At is when the layer reported it: for logs and latency only, never
	// for the ledger, which records block time.
	At time.Time
	// Ref is the layer's own name for the event (an event key, a message
	// id), for logs and for recognising an event seen twice.
	Ref string
}

// Source watches one virtualisation layer.
type Source interface {
	// Run reports what the layer does, in the order the layer reports it,
	// by calling emit, until ctx ends or the layer cannot be watched. On
	// start it first reports what it needs to for the recorder to reconcile
	// (see Reconciler).
	Run(ctx context.Context, emit func(Event)) error
}

// Reconciler is implemented by sources that can say what runs on the layer
// now, so that an agent that starts (or restarts after a crash) can compare it
// with the ledger.
type Reconciler interface {
	// Running returns the bbus ids of the VMs that run on the layer now.
	Running(ctx context.Context) ([]string, error)
}
