package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/httpapi"
	"github.com/bbusdev/bbus/internal/ledgertest"
)

// FuzzRequest sends arbitrary methods, paths, queries and bodies to the API:
// it must never answer 500 or panic, and every error must have the error shape.
func FuzzRequest(f *testing.F) {
	chain := ledgertest.New(ledgertest.Founders("c1", "c2")...)
	chain.Do("c1", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}})
	h := httpapi.New(chain, httpapi.Options{})
	f.Add("GET", "/v1/migrations", "limit=2&after=mig-1&since=2025-01-01T00:00:00Z", []byte(nil))
	f.Add("GET", "/v1/vms/vm-1/host", "at=2025-13-01", []byte(nil))
	f.Add("POST", "/v1/txs", "wait=maybe", []byte(`{"body":{},"sig":""}`))
	f.Add("GET", "/v1/match", "cpu=1&mem_mib=x&tag=a", []byte(nil))
	f.Add("DELETE", "/v1/clouds/c1", "", []byte("x"))
	f.Add("GET", "/v1/invoices", "limit=0&cloud=%00", []byte(nil))
	f.Fuzz(func(t *testing.T, method, path, query string, body []byte) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(method+path, " \r\n\t") || method == "" || method == "CONNECT" {
			return
		}
		req, err := http.NewRequest(method, "http://node"+path+"?"+query, bytes.NewReader(body))
		if err != nil {
			return
		}
		if method == "POST" && strings.HasPrefix(path, "/v1/txs") {
			return // a valid-looking body might be committed; POST bodies are fuzzed through DecodeTx
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		// The in-memory chain keeps no blocks or events: those routes say 503.
		if w.Code >= 500 && !(w.Code == 503 && strings.Contains(w.Body.String(), `"unavailable"`)) {
			t.Fatalf("%s %s?%s: %d %s", method, path, query, w.Code, w.Body)
		}
		if w.Code >= 400 && strings.HasPrefix(path, "/v1/") {
			var e struct{ Error *bbus.Error }
			if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error == nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("%s %s?%s: %d without the error shape: %s", method, path, query, w.Code, w.Body)
			}
		}
	})
}
