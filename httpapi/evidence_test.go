package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"testing"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/evidence"
	"github.com/bbusdev/bbus/httpapi"
	"github.com/bbusdev/bbus/internal/ledgertest"
)

// exporter is a backend that exports the bundle of the evidence package's
// testdata for VM vm-1, and knows no other VM.
type exporter struct {
	*ledgertest.Chain
	bundle *evidence.Bundle
}

func (e exporter) Evidence(_ context.Context, vm string, _ int64) (*evidence.Bundle, error) {
	if vm != e.bundle.VM {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "no VM %q", vm)
	}
	return e.bundle, nil
}

func (e exporter) AgreementEvidence(_ context.Context, id string, _ int64) (*evidence.Bundle, error) {
	return nil, bbus.Errorf(bbus.ENOTFOUND, "no agreement %q", id)
}

func (e exporter) InvoiceEvidence(_ context.Context, id string, _ int64) (*evidence.Bundle, error) {
	return nil, bbus.Errorf(bbus.ENOTFOUND, "no invoice %q", id)
}

func (e exporter) ViolationEvidence(_ context.Context, id string, _ int64) (*evidence.Bundle, error) {
	return nil, bbus.Errorf(bbus.ENOTFOUND, "no violation %q", id)
}

func TestEvidence(t *testing.T) {
	raw, err := os.ReadFile("../evidence/testdata/vm-1.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := evidence.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, exporter{ledgertest.New(), b}, httpapi.Options{})
	r := do(t, "GET", base+"/v1/evidence?vm=vm-1", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/evidence?vm=vm-1: %d %s", r.status, r.body)
	}
	genesis, err := os.ReadFile("../evidence/testdata/genesis.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evidence.Verify(r.body, genesis); err != nil {
		t.Fatalf("the bundle served does not verify: %v", err)
	}
	for _, c := range []struct {
		query  string
		status int
		code   string
	}{
		{"?vm=vm-2", http.StatusNotFound, bbus.ENOTFOUND},
		{"", http.StatusBadRequest, bbus.EINVALID},
		{"?invoice=inv-1", http.StatusNotFound, bbus.ENOTFOUND},
		{"?violation=vio-1", http.StatusNotFound, bbus.ENOTFOUND},
		{"?vm=vm-1&invoice=inv-1", http.StatusBadRequest, bbus.EINVALID},
	} {
		r := do(t, "GET", base+"/v1/evidence"+c.query, nil)
		var e struct{ Error bbus.Error }
		if json.Unmarshal(r.body, &e); r.status != c.status || e.Error.Code != c.code {
			t.Errorf("GET /v1/evidence%s: %d %s", c.query, r.status, r.body)
		}
	}
	// A backend without an exporter says so.
	plain := serve(t, ledgertest.New(), httpapi.Options{})
	if r := do(t, "GET", plain+"/v1/evidence?vm=vm-1", nil); r.status != http.StatusServiceUnavailable {
		t.Errorf("without an exporter: %d %s", r.status, r.body)
	}
}
