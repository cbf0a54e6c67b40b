package httpapi_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/httpapi"
	"github.com/bbusdev/bbus/internal/ledgertest"
)

// stalled is a backend whose consensus does not make progress while err is
// set, and has failed for good once failed is.
type stalled struct {
	*ledgertest.Chain
	err, failed error
}

func (s *stalled) Stalled() error { return s.err }
func (s *stalled) Err() error     { return s.failed }

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

// TestHealthzOnceFailed: /healthz answers 503 with the reason once consensus
// has failed for good, and, like every route, refuses a request for another
// host before it says anything.
func TestHealthzOnceFailed(t *testing.T) {
	b := &stalled{Chain: ledgertest.New()}
	base := serve(t, b, httpapi.Options{})
	if r := call(t, "GET", base+"/healthz", nil); r.status != 200 {
		t.Fatalf("healthz of a live node: %d", r.status)
	}
	b.failed = errors.New("consensus failed: CONSENSUS FAILURE: cannot save priv_validator_state.json")
	e := wantError(t, "failed", call(t, "GET", base+"/healthz", nil), 503, bbus.EUNAVAILABLE)
	if e.Error.Message != b.failed.Error() {
		t.Errorf("healthz message %q", e.Error.Message)
	}
	req, _ := http.NewRequest("GET", base+"/healthz", nil)
	req.Host = "evil.example."
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || strings.Contains(string(body), "priv_validator") {
		t.Fatalf("healthz for another host once failed: %d %s", resp.StatusCode, body)
	}
}
