package httpapi

import (
	"context"
	"encoding/hex"
	"net/http"

	"github.com/bbusdev/bbus"
)

// Prover is a backend that proves entries of the committed state: GET
// /v1/proofs needs it.
type Prover interface {
	// Prove returns the value of key at the last height the state tree saved (none if
	// absent) with a proof that verifies, with proof.Verify, against the app
	// hash in the header of the next height.
	Prove(ctx context.Context, key []byte) (*bbus.Proof, error)
}

// proofKinds maps a record kind, as a query parameter, to its key prefix in
// the state (docs/DESIGN.md, "Layout"). Other records are asked for by key.
var proofKinds = []struct{ param, prefix string }{
	{"vm", "v/"},
	{"cloud", "c/"},
	{"oracle", "or/"},
	{"offer", "o/"},
}

// maxProofKey bounds a key asked for by hex: no key of the ledger is longer.
const maxProofKey = 1024

// proofs serves GET /v1/proofs?key=HEX (or vm=ID, cloud=ID, oracle=ID,
// offer=ID): a state entry's value at the last height the state tree saved, or its
// absence, with the proof against the next header's app hash.
func (a *api) proofs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var key []byte
	n := 0
	if q.Has("key") {
		n++
		k, err := hex.DecodeString(q.Get("key"))
		if err != nil || len(k) == 0 || len(k) > maxProofKey {
			writeError(w, bbus.Errorf(bbus.EINVALID, "parameter key must be a state key in hex, got %.80q", q.Get("key")))
			return
		}
		key = k
	}
	for _, k := range proofKinds {
		if q.Has(k.param) {
			n++
			id := q.Get(k.param)
			if err := bbus.ValidateID(k.param, id); err != nil {
				a.fail(w, r, err)
				return
			}
			key = []byte(k.prefix + id)
		}
	}
	if n != 1 {
		writeError(w, bbus.Errorf(bbus.EINVALID, "give exactly one of key (a state key in hex), vm, cloud, oracle or offer"))
		return
	}
	p, ok := a.b.(Prover)
	if !ok {
		writeError(w, bbus.Errorf(bbus.EUNAVAILABLE, "this node does not prove state entries"))
		return
	}
	a.chainRead(w, r, func(ctx context.Context) (any, error) { return p.Prove(ctx, key) })
}
