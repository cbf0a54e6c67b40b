package httpapi

import (
	"context"
	"net/http"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

// NodeLister is a backend that sees the federation's nodes: GET /v1/nodes
// needs it.
type NodeLister interface {
	// Nodes reports, for every active member, what the node sees of the
	// member's node: connected, last signed height, version.
	Nodes(ctx context.Context) ([]bbus.NodeHealth, error)
}

// nodeRoutes registers the federation's nodes and observers, and their writes.
func (a *api) nodeRoutes() {
	a.mux.HandleFunc("GET /v1/nodes", a.nodes)
	a.mux.HandleFunc("GET /v1/observers", a.observers)
	a.mux.HandleFunc("GET /v1/observers/{id}", a.observer)
	for _, wr := range nodeWrites {
		a.mux.HandleFunc(wr.pattern, func(w http.ResponseWriter, r *http.Request) { a.nodeWrite(w, r, wr.action) })
	}
}

func (a *api) nodes(w http.ResponseWriter, r *http.Request) {
	nl, ok := a.b.(NodeLister)
	if !ok {
		writeError(w, bbus.Errorf(bbus.EUNAVAILABLE, "this backend does not see the federation's nodes"))
		return
	}
	items, err := nl.Nodes(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, &bbus.NodeList{Items: items})
}

func (a *api) observers(w http.ResponseWriter, r *http.Request) {
	p, err := pageParams(r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	a.read(w, r, func(rd kv.Reader) (any, error) {
		items, next := ledger.Observers(rd, p)
		return &bbus.List[bbus.Observer]{Items: items, Next: next}, nil
	})
}

func (a *api) observer(w http.ResponseWriter, r *http.Request) {
	a.read(w, r, func(rd kv.Reader) (any, error) { return ledger.Observer(rd, r.PathValue("id")) })
}

var nodeWrites = []write{
	{"POST /v1/clouds/update", func(_ *http.Request, body []byte) (bbus.Action, error) {
		var q bbus.CloudUpdateRequest
		if err := decodeBody(body, &q, false); err != nil {
			return bbus.Action{}, err
		}
		a := &bbus.CloudUpdate{P2PAddress: q.P2PAddress}
		return bbus.Action{CloudUpdate: a}, a.Validate()
	}},
	{"POST /v1/observers/{id}/invite", func(r *http.Request, body []byte) (bbus.Action, error) {
		var q bbus.ObserverInviteRequest
		if err := decodeBody(body, &q, false); err != nil {
			return bbus.Action{}, err
		}
		a := &bbus.ObserverInvite{Observer: r.PathValue("id"), NodeID: q.NodeID}
		return bbus.Action{ObserverInvite: a}, a.Validate()
	}},
	// The node fills in the node id the vote is for from the pending record (applicantKey).
	{"POST /v1/observers/{id}/approve", pathAction("observer", func(id string) bbus.Action {
		return bbus.Action{ObserverApprove: &bbus.ObserverApprove{Observer: id}}
	})},
	{"POST /v1/observers/{id}/remove", pathAction("observer", func(id string) bbus.Action {
		return bbus.Action{ObserverRemove: &bbus.ObserverRef{Observer: id}}
	})},
}

// observerNode fills in the node id a vote to approve an observer is for.
func observerNode(rd kv.Reader, act *bbus.Action) error {
	if act.ObserverApprove == nil || act.ObserverApprove.NodeID != "" {
		return nil
	}
	o, err := ledger.Observer(rd, act.ObserverApprove.Observer)
	if err != nil {
		return err
	}
	act.ObserverApprove.NodeID = o.NodeID
	return nil
}
