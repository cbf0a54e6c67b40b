package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

// The node-signed writes: the node signs an action as its own cloud for a
// caller with a write token. Each body's field names are the flags of the
// matching bbus tx action in snake_case; ids in the path are its positional
// argument. Adding one is adding a row to writes.

// empty is the body of a write that takes its argument from the path: nothing,
// or {}.
type empty struct{}

// write is one node-signed write route.
type write struct {
	pattern string
	action  func(r *http.Request, body []byte) (bbus.Action, error)
}

var writes = []write{
	{"POST /v1/vms", func(_ *http.Request, body []byte) (bbus.Action, error) {
		var q bbus.VMRequest
		if err := decodeBody(body, &q, false); err != nil {
			return bbus.Action{}, err
		}
		if err := bbus.ValidateID("vm", q.ID); err != nil {
			return bbus.Action{}, err
		}
		if err := q.Resources.Validate("VM", true); err != nil {
			return bbus.Action{}, err
		}
		if err := bbus.ValidateImage(q.Image); err != nil {
			return bbus.Action{}, err
		}
		return bbus.Action{VMRegister: &bbus.VMRegister{VM: q.ID, Image: q.Image, Resources: q.Resources}}, nil
	}},
	{"POST /v1/vms/{id}/terminate", pathAction("vm", func(id string) bbus.Action {
		return bbus.Action{VMTerminate: &bbus.VMRef{VM: id}}
	})},
	{"POST /v1/migrations", func(_ *http.Request, body []byte) (bbus.Action, error) {
		var q bbus.MigrationRequest
		if err := decodeBody(body, &q, false); err != nil {
			return bbus.Action{}, err
		}
		if err := bbus.ValidateID("vm", q.VM); err != nil {
			return bbus.Action{}, err
		}
		if err := bbus.ValidateID("destination cloud (to)", q.To); err != nil {
			return bbus.Action{}, err
		}
		if q.Agreement != "" {
			if err := bbus.ValidateID("agreement", q.Agreement); err != nil {
				return bbus.Action{}, err
			}
		}
		return bbus.Action{MigrationPropose: &bbus.Propose{VM: q.VM, To: q.To, Agreement: q.Agreement}}, nil
	}},
	{"POST /v1/migrations/{id}/accept", pathAction("migration", func(id string) bbus.Action {
		return bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: id}}
	})},
	{"POST /v1/migrations/{id}/complete", pathAction("migration", func(id string) bbus.Action {
		return bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: id}}
	})},
	{"POST /v1/migrations/{id}/reject", pathAction("migration", func(id string) bbus.Action {
		return bbus.Action{MigrationReject: &bbus.MigrationRef{Migration: id}}
	})},
	{"POST /v1/migrations/{id}/cancel", pathAction("migration", func(id string) bbus.Action {
		return bbus.Action{MigrationCancel: &bbus.MigrationRef{Migration: id}}
	})},
	{"POST /v1/clouds/{id}/invite", func(r *http.Request, body []byte) (bbus.Action, error) {
		var q bbus.InviteRequest
		if err := decodeBody(body, &q, false); err != nil {
			return bbus.Action{}, err
		}
		a := &bbus.CloudInvite{Cloud: r.PathValue("id"), PubKey: q.PubKey, ValidatorKey: q.ValidatorKey, NodeID: q.NodeID}
		return bbus.Action{CloudInvite: a}, a.Validate()
	}},
	// The node fills in the key the vote is for from the pending record (applicantKey).
	{"POST /v1/clouds/{id}/approve", pathAction("cloud", func(id string) bbus.Action {
		return bbus.Action{CloudApprove: &bbus.CloudApprove{Cloud: id}}
	})},
	{"POST /v1/clouds/{id}/remove", pathAction("cloud", func(id string) bbus.Action {
		return bbus.Action{CloudRemove: &bbus.CloudRef{Cloud: id}}
	})},
}

// pathAction is a write whose one argument is the {id} of its path.
func pathAction(what string, build func(id string) bbus.Action) func(*http.Request, []byte) (bbus.Action, error) {
	return func(r *http.Request, body []byte) (bbus.Action, error) {
		if err := decodeBody(body, &empty{}, true); err != nil {
			return bbus.Action{}, err
		}
		id := r.PathValue("id")
		if what == "migration" {
			// Migration ids are mig-N; the ledger says not_found for any other.
			if err := bbus.ValidateText("migration id", id, true); err != nil {
				return bbus.Action{}, err
			}
		} else if err := bbus.ValidateID(what, id); err != nil {
			return bbus.Action{}, err
		}
		return build(id), nil
	}
}

func (a *api) writeRoutes() {
	for _, wr := range writes {
		a.mux.HandleFunc(wr.pattern, func(w http.ResponseWriter, r *http.Request) { a.nodeWrite(w, r, wr.action) })
	}
}

// nodeWrite serves a node-signed write: decode the body, build the action, have
// the node sign and submit it, answer as POST /v1/txs does.
func (a *api) nodeWrite(w http.ResponseWriter, r *http.Request, action func(*http.Request, []byte) (bbus.Action, error)) {
	ns, ok := a.b.(NodeSigner)
	if !ok {
		writeError(w, bbus.Errorf(bbus.EUNAVAILABLE, "this node does not sign transactions; submit signed ones to POST /v1/txs"))
		return
	}
	wait, err := waitParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	body, err := readBody(w, r, a.opts.MaxBodyBytes)
	if err != nil {
		writeError(w, err)
		return
	}
	act, aerr := action(r, body)
	if aerr == nil {
		aerr = a.applicantKey(&act)
	}
	if aerr != nil {
		a.fail(w, r, aerr)
		return
	}
	res, serr := ns.SignAndSubmit(r.Context(), act, wait)
	a.answerSubmit(w, r, res, serr, wait)
}

// applicantKey fills in the key a vote to approve is for: the key the pending
// cloud or oracle applied with, as the committed state has it.
func (a *api) applicantKey(act *bbus.Action) error {
	return a.b.View(func(rd kv.Reader) error {
		switch {
		case act.CloudApprove != nil && act.CloudApprove.PubKey == nil:
			c, err := ledger.Cloud(rd, act.CloudApprove.Cloud)
			if err != nil {
				return err
			}
			act.CloudApprove.PubKey = c.PubKey
		case act.OracleApprove != nil && act.OracleApprove.PubKey == nil:
			o, err := ledger.Oracle(rd, act.OracleApprove.Oracle)
			if err != nil {
				return err
			}
			act.OracleApprove.PubKey = o.PubKey
		}
		return observerNode(rd, act)
	})
}

// waitParam reads ?wait=: true (the default) or false.
func waitParam(r *http.Request) (bool, *bbus.Error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, bbus.Errorf(bbus.EINVALID, "wait must be true or false, got %q", bbus.Clip(v))
	}
	return b, nil
}

// readBody reads a request body of at most limit bytes (413 beyond).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *bbus.Error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, bbus.Errorf(bbus.ETOOLARGE, "request body is over the limit of %d bytes", tooLarge.Limit)
	case err != nil:
		return nil, bbus.Errorf(bbus.EMALFORMED, "reading the request body: %v", err)
	}
	return raw, nil
}

// decodeBody decodes one JSON object into v, refusing unknown fields,
// duplicate keys, keys in the wrong case (checkKeys) and trailing data. An empty body is allowed only when emptyOK.
func decodeBody(body []byte, v any, emptyOK bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return bbus.Errorf(bbus.EMALFORMED, "request body is empty; send a JSON object")
	}
	if err := checkKeys(body, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bbus.Errorf(bbus.EMALFORMED, "request body is not the JSON object expected: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return bbus.Errorf(bbus.EMALFORMED, "request body has data after its JSON object")
	}
	return nil
}
