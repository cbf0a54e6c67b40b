package httpapi_test

import (
	"testing"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/httpapi"
	"github.com/bbusdev/bbus/internal/ledgertest"
)

// stalled is a backend whose consensus does not make progress while err is set.
type stalled struct {
	*ledgertest.Chain
	err error
}

func (s *stalled) Stalled() error { return s.err }

var _ httpapi.Liveness = (*stalled)(nil)

// TestReadyzWhenStalled: /readyz passes on the Backend's reason while it
// says consensus does not make progress, and is ready again once it does.
func TestReadyzWhenStalled(t *testing.T) {
	b := &stalled{Chain: ledgertest.New(), err: bbus.Errorf(bbus.EUNAVAILABLE, "consensus is not making progress: transactions waiting: 3")}
	base := serve(t, b, httpapi.Options{})
	e := wantError(t, "stalled", call(t, "GET", base+"/readyz", nil), 503, bbus.EUNAVAILABLE)
	if e.Error.Message != b.err.(*bbus.Error).Message {
		t.Errorf("readyz message %q", e.Error.Message)
	}
	if r := call(t, "GET", base+"/healthz", nil); r.status != 200 {
		t.Errorf("healthz while stalled: %d", r.status)
	}
	b.err = nil
	if r := call(t, "GET", base+"/readyz", nil); r.status != 200 {
		t.Errorf("readyz once progressing: %d %s", r.status, r.body)
	}
}
