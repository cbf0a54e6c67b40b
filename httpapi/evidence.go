package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/evidence"
)

// EvidenceExporter is a backend that can assemble evidence bundles from its
// block store: GET /v1/evidence needs it.
type EvidenceExporter interface {
	// Evidence returns the evidence bundle of a VM (package evidence), for
	// an auditor who trusts the header at height checkpoint (0: genesis
	// only), or ENOTFOUND for a VM the ledger does not know.
	Evidence(ctx context.Context, vm string, checkpoint int64) (*evidence.Bundle, error)
	// AgreementEvidence returns the evidence bundle of an agreement, or
	// ENOTFOUND for an agreement the ledger does not know.
	AgreementEvidence(ctx context.Context, id string, checkpoint int64) (*evidence.Bundle, error)
}

// evidence serves GET /v1/evidence?vm=VM|agreement=ID[&trust=HEIGHT]: the bundle that
// proves the VM's history to someone who runs no node (bbus evidence verify
// checks it), built for an auditor who trusts the header at HEIGHT.
func (a *api) evidence(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	vm, agreement := q.Get("vm"), q.Get("agreement")
	switch {
	case q.Has("invoice"):
		writeError(w, bbus.Errorf(bbus.EINVALID, "evidence of invoices is not exported yet; ask for a VM's with vm=VM"))
		return
	case vm != "" && agreement != "":
		writeError(w, bbus.Errorf(bbus.EINVALID, "parameters vm and agreement exclude each other: one bundle proves one thing"))
		return
	case vm == "" && agreement == "":
		writeError(w, bbus.Errorf(bbus.EINVALID, "parameter vm is required: the VM whose history to prove (or agreement: the agreement)"))
		return
	}
	var checkpoint int64
	if t := q.Get("trust"); t != "" {
		h, err := strconv.ParseInt(t, 10, 64)
		if err != nil || h < 1 {
			writeError(w, bbus.Errorf(bbus.EINVALID, "parameter trust must be a block height from 1, not %q", t))
			return
		}
		checkpoint = h
	}
	ex, ok := a.b.(EvidenceExporter)
	if !ok {
		writeError(w, bbus.Errorf(bbus.EUNAVAILABLE, "this node does not export evidence"))
		return
	}
	a.chainRead(w, r, func(ctx context.Context) (any, error) {
		if agreement != "" {
			return ex.AgreementEvidence(ctx, agreement, checkpoint)
		}
		return ex.Evidence(ctx, vm, checkpoint)
	})
}
