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
	// InvoiceEvidence returns the evidence bundle of an invoice, or
	// ENOTFOUND for an invoice the ledger does not know.
	InvoiceEvidence(ctx context.Context, id string, checkpoint int64) (*evidence.Bundle, error)
	// ViolationEvidence returns the evidence bundle of a violation, or
	// ENOTFOUND for a violation the ledger does not know.
	ViolationEvidence(ctx context.Context, id string, checkpoint int64) (*evidence.Bundle, error)
}

// evidence serves GET /v1/evidence?vm=VM|agreement=ID|invoice=ID|violation=ID[&trust=HEIGHT]:
// the bundle that proves a VM's history (or an agreement, an invoice, a
// violation) to someone who runs no node (bbus evidence verify checks it),
// built for an auditor who trusts the header at HEIGHT.
func (a *api) evidence(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var kind, id string
	for _, k := range []string{"vm", "agreement", "invoice", "violation"} {
		if v := q.Get(k); v != "" {
			if kind != "" {
				writeError(w, bbus.Errorf(bbus.EINVALID, "parameters %s and %s exclude each other: one bundle proves one thing", kind, k))
				return
			}
			kind, id = k, v
		}
	}
	if kind == "" {
		writeError(w, bbus.Errorf(bbus.EINVALID, "parameter vm is required: the VM whose history to prove (or agreement, invoice or violation: the record to prove)"))
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
		switch kind {
		case "agreement":
			return ex.AgreementEvidence(ctx, id, checkpoint)
		case "invoice":
			return ex.InvoiceEvidence(ctx, id, checkpoint)
		case "violation":
			return ex.ViolationEvidence(ctx, id, checkpoint)
		}
		return ex.Evidence(ctx, id, checkpoint)
	})
}
