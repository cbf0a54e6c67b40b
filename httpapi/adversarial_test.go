package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/node"
	"github.com/bbusdev/bbus/tokens"
)

// badRequest is one row of the adversarial table: a request and the refusal
// it must get.
type badRequest struct {
	name         string
	method, path string
	body         string
	headers      []string // "Name: value"; "Host: x" sets the Host header
	status       int
	code         string
}

// send sends q's request through the contract-checked client.
func (q *badRequest) send(t *testing.T, base string) response {
	t.Helper()
	req, err := http.NewRequest(q.method, base+q.path, strings.NewReader(q.body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range q.headers {
		k, v, _ := strings.Cut(h, ": ")
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

// ledgerState is what the table checks each row left alone: the chain's
// height and app hash, and the records a caller lists.
type ledgerState struct {
	height  int64
	appHash string
	lists   string
}

func stateOf(t *testing.T, l *liveNode) ledgerState {
	t.Helper()
	st, err := l.n.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var lists bytes.Buffer
	for _, p := range []string{"/v1/vms", "/v1/clouds", "/v1/migrations", "/v1/agreements", "/v1/offers"} {
		r := do(t, "GET", l.base+p, nil)
		lists.Write(r.body)
	}
	return ledgerState{st.Height, st.AppHash, lists.String()}
}

// TestAdversarialREST: a table of bad requests against a real node (bad
// tokens, wrong methods, bad JSON, duplicate and wrong-case keys, oversized
// bodies, bad ids and cursors, other origins, other host names, wrong content
// types, refused transactions). Each must get its status and error code and
// change nothing: the height, the app hash and the listed records stay.
func TestAdversarialREST(t *testing.T) {
	l := startNode(t, func(c *node.Config) {
		c.CreateEmptyBlocksInterval = 0 // no block but those the test makes
		c.REST.MaxBodyBytes = 64 << 10
		c.REST.AuthFailuresPerMinute = 1000 // TestBadTokensLimited covers the limit
	})
	write, read := l.token(t, tokens.ScopeWrite), l.token(t, tokens.ScopeRead)
	sign := l.localSigner(t)
	later := time.Now().Add(5 * time.Minute).Unix()
	registered := sign(register("vm-1", 1), later)
	wantResult(t, "setup", call(t, "POST", l.base+"/v1/txs", registered), 200)
	fresh := string(sign(register("vm-fresh", 1), later))
	expired := string(sign(register("vm-old", 1), time.Now().Add(-time.Hour).Unix()))
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	wrongChain, _, err := bbus.SignTx(&bbus.Body{ChainID: "bbus-other", Signer: "local", Nonce: 7, Expires: later, Action: register("vm-wc", 1)}, other)
	if err != nil {
		t.Fatal(err)
	}
	badSig, _, err := bbus.SignTx(&bbus.Body{ChainID: "bbus-local", Signer: "local", Nonce: 8, Expires: later, Action: register("vm-bs", 1)}, other)
	if err != nil {
		t.Fatal(err)
	}
	vm := `{"id":"vm-w","cpu":1,"mem_mib":1}`
	json := "Content-Type: application/json"
	w, rd := bearer(write), bearer(read)
	evil := "Origin: http://evil.example"
	big := `{"id":"vm-big","image":"` + strings.Repeat("a", 70<<10) + `"}`

	rows := []badRequest{
		// Tokens.
		{"unknown token on a read", "GET", "/v1/vms", "", []string{bearer("nope")}, 401, bbus.EUNAUTHENTICATED},
		{"unknown token on a write", "POST", "/v1/vms", vm, []string{json, bearer("nope")}, 401, bbus.EUNAUTHENTICATED},
		{"Basic scheme", "GET", "/v1/vms", "", []string{"Authorization: Basic bG9jYWw6eA=="}, 401, bbus.EUNAUTHENTICATED},
		{"Bearer without a token", "GET", "/v1/status", "", []string{"Authorization: Bearer"}, 401, bbus.EUNAUTHENTICATED},
		{"token with a trailing character", "POST", "/v1/vms", vm, []string{json, bearer(write + "x")}, 401, bbus.EUNAUTHENTICATED},
		{"read token on a write", "POST", "/v1/vms", vm, []string{json, rd}, 403, bbus.EFORBIDDEN},
		{"no token on a write", "POST", "/v1/vms", vm, []string{json}, 401, bbus.EUNAUTHENTICATED},
		{"no token on a vote", "POST", "/v1/clouds/local/approve", "", []string{json}, 401, bbus.EUNAUTHENTICATED},
		{"read token on a terminate", "POST", "/v1/vms/vm-1/terminate", "", []string{json, rd}, 403, bbus.EFORBIDDEN},
		// Methods.
		{"PUT a collection", "PUT", "/v1/vms", vm, []string{json, w}, 405, bbus.EINVALID},
		{"DELETE a VM", "DELETE", "/v1/vms/vm-1", "", []string{w}, 405, bbus.EINVALID},
		{"GET the submit route", "GET", "/v1/txs", "", nil, 405, bbus.EINVALID},
		{"POST the status", "POST", "/v1/status", "{}", []string{json}, 405, bbus.EINVALID},
		{"PATCH a cloud", "PATCH", "/v1/clouds/local", "{}", []string{json, w}, 405, bbus.EINVALID},
		{"GET an action", "GET", "/v1/vms/vm-1/terminate", "", []string{w}, 405, bbus.EINVALID},
		{"unknown route", "GET", "/v1/nothing", "", nil, 404, bbus.ENOTFOUND},
		// Bodies that are not the JSON expected.
		{"truncated JSON", "POST", "/v1/vms", `{"id":"vm-w"`, []string{json, w}, 400, bbus.EMALFORMED},
		{"an array", "POST", "/v1/vms", `[]`, []string{json, w}, 400, bbus.EMALFORMED},
		{"a string for a number", "POST", "/v1/vms", `{"id":"vm-w","cpu":"four","mem_mib":1}`, []string{json, w}, 400, bbus.EMALFORMED},
		{"data after the object", "POST", "/v1/vms", vm + ` {}`, []string{json, w}, 400, bbus.EMALFORMED},
		{"unknown field", "POST", "/v1/vms", `{"id":"vm-w","cpu":1,"mem_mib":1,"gpu":1}`, []string{json, w}, 400, bbus.EMALFORMED},
		{"empty body", "POST", "/v1/vms", "", []string{json, w}, 400, bbus.EMALFORMED},
		{"negative capacity", "POST", "/v1/vms", `{"id":"vm-w","cpu":-1,"mem_mib":1}`, []string{json, w}, 400, bbus.EINVALID},
		{"a float", "POST", "/v1/vms", `{"id":"vm-w","cpu":1.5,"mem_mib":1}`, []string{json, w}, 400, bbus.EMALFORMED},
		{"number past int64", "POST", "/v1/vms", `{"id":"vm-w","cpu":1e30,"mem_mib":1}`, []string{json, w}, 400, bbus.EMALFORMED},
		{"body on a path action", "POST", "/v1/vms/vm-1/terminate", `{"vm":"vm-2"}`, []string{json, w}, 400, bbus.EMALFORMED},
		// Keys encoding/json would read loosely.
		{"duplicate id", "POST", "/v1/vms", `{"id":"vm-w","id":"vm-x","cpu":1,"mem_mib":1}`, []string{json, w}, 400, bbus.EMALFORMED},
		{"duplicate embedded field", "POST", "/v1/vms", `{"id":"vm-w","cpu":1,"cpu":64,"mem_mib":1}`, []string{json, w}, 400, bbus.EMALFORMED},
		{"duplicate destination", "POST", "/v1/migrations", `{"vm":"vm-1","to":"local","to":"c2"}`, []string{json, w}, 400, bbus.EMALFORMED},
		{"duplicate key in an empty body", "POST", "/v1/vms/vm-1/terminate", `{"a":1,"a":2}`, []string{json, w}, 400, bbus.EMALFORMED},
		{"duplicate tag list", "POST", "/v1/offers", `{"cpu":1,"mem_mib":1,"price_vcpu_hour":"1","tag":["a=b"],"tag":["c=d"]}`, []string{json, w}, 400, bbus.EMALFORMED},
		{"upper-case id", "POST", "/v1/vms", `{"ID":"vm-w","cpu":1,"mem_mib":1}`, []string{json, w}, 400, bbus.EMALFORMED},
		{"upper-case embedded field", "POST", "/v1/vms", `{"id":"vm-w","CPU":1,"mem_mib":1}`, []string{json, w}, 400, bbus.EMALFORMED},
		{"mixed-case field", "POST", "/v1/vms", `{"id":"vm-w","cpu":1,"Mem_MiB":1}`, []string{json, w}, 400, bbus.EMALFORMED},
		{"upper-case migration field", "POST", "/v1/migrations", `{"VM":"vm-1","to":"c2"}`, []string{json, w}, 400, bbus.EMALFORMED},
		{"upper-case agreement field", "POST", "/v1/agreements", `{"Provider":"local","consumer":"c2","price_vcpu_hour":"1","availability":"99","penalty_pct":"1"}`, []string{json, w}, 400, bbus.EMALFORMED},
		{"wrong-case field in an invoice close", "POST", "/v1/invoices", `{"provider":"local","consumer":"c2","UNTIL":"2030-01-01T00:00:00Z"}`, []string{json, w}, 400, bbus.EMALFORMED},
		// Sizes.
		{"write body over the limit", "POST", "/v1/vms", big, []string{json, w}, 413, bbus.ETOOLARGE},
		{"transaction over the limit", "POST", "/v1/txs", big, []string{json}, 413, bbus.ETOOLARGE},
		// Ids, heights and hashes.
		{"VM id with a space", "GET", "/v1/vms/bad%20id", "", nil, 404, bbus.ENOTFOUND},
		{"unknown VM", "GET", "/v1/vms/vm-404", "", nil, 404, bbus.ENOTFOUND},
		{"transaction id not hex", "GET", "/v1/txs/xyz", "", nil, 400, bbus.EINVALID},
		{"unknown transaction", "GET", "/v1/txs/" + strings.Repeat("0", 64), "", nil, 404, bbus.ENOTFOUND},
		{"block 0", "GET", "/v1/blocks/0", "", nil, 400, bbus.EINVALID},
		{"block not a number", "GET", "/v1/blocks/abc", "", nil, 400, bbus.EINVALID},
		{"block ahead of the chain", "GET", "/v1/blocks/999999", "", nil, 404, bbus.ENOTFOUND},
		{"register a bad id", "POST", "/v1/vms", `{"id":"bad id!","cpu":1,"mem_mib":1}`, []string{json, w}, 400, bbus.EINVALID},
		{"terminate a bad id", "POST", "/v1/vms/bad%20id/terminate", "", []string{json, w}, 400, bbus.EINVALID},
		{"migrate to a bad cloud id", "POST", "/v1/migrations", `{"vm":"vm-1","to":"no such!"}`, []string{json, w}, 400, bbus.EINVALID},
		// Pages and cursors.
		{"limit 0", "GET", "/v1/vms?limit=0", "", nil, 400, bbus.EINVALID},
		{"limit too large", "GET", "/v1/vms?limit=100000", "", nil, 400, bbus.EINVALID},
		{"limit not a number", "GET", "/v1/clouds?limit=ten", "", nil, 400, bbus.EINVALID},
		{"limit negative", "GET", "/v1/migrations?limit=-1", "", nil, 400, bbus.EINVALID},
		{"host lookup without a time", "GET", "/v1/vms/vm-1/host", "", nil, 400, bbus.EINVALID},
		{"host lookup at a bad time", "GET", "/v1/vms/vm-1/host?at=yesterday", "", nil, 400, bbus.EINVALID},
		{"events after a bad id", "GET", "/v1/events", "", []string{"Last-Event-ID: garbage"}, 400, bbus.EINVALID},
		{"events for a bad VM", "GET", "/v1/events?vm=bad%20id", "", nil, 400, bbus.EINVALID},
		{"wait neither true nor false", "POST", "/v1/txs?wait=maybe", fresh, []string{json}, 400, bbus.EINVALID},
		{"write with a bad wait", "POST", "/v1/vms?wait=2", vm, []string{json, w}, 400, bbus.EINVALID},
		// Web pages of other origins.
		{"text/plain from another origin", "POST", "/v1/txs", fresh, []string{"Content-Type: text/plain", evil}, 403, bbus.EFORBIDDEN},
		{"JSON from another origin", "POST", "/v1/txs", fresh, []string{json, evil}, 403, bbus.EFORBIDDEN},
		{"node-signed write from another origin", "POST", "/v1/vms", vm, []string{json, w, evil}, 403, bbus.EFORBIDDEN},
		{"read from another origin", "GET", "/v1/status", "", []string{evil}, 403, bbus.EFORBIDDEN},
		{"opaque origin", "POST", "/v1/txs", fresh, []string{json, "Origin: null"}, 403, bbus.EFORBIDDEN},
		{"same host, other port", "POST", "/v1/vms", vm, []string{json, w, "Origin: http://127.0.0.1:1"}, 403, bbus.EFORBIDDEN},
		{"same host, other scheme", "POST", "/v1/vms", vm, []string{json, w, "Origin: https://" + strings.TrimPrefix(l.base, "http://")}, 403, bbus.EFORBIDDEN},
		{"cross-site fetch without Origin", "POST", "/v1/vms", vm, []string{json, w, "Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: no-cors"}, 403, bbus.EFORBIDDEN},
		{"cross-site read", "GET", "/v1/vms", "", []string{"Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: cors"}, 403, bbus.EFORBIDDEN},
		{"preflight from another origin", "OPTIONS", "/v1/vms", "", []string{evil, "Access-Control-Request-Method: POST"}, 403, bbus.EFORBIDDEN},
		// Host names the node does not serve (DNS rebinding).
		{"read for another host", "GET", "/v1/status", "", []string{"Host: evil.example"}, 403, bbus.EFORBIDDEN},
		{"submit for another host", "POST", "/v1/txs", fresh, []string{json, "Host: evil.example:8080"}, 403, bbus.EFORBIDDEN},
		{"write for another host", "POST", "/v1/vms", vm, []string{json, w, "Host: rebind.evil.example"}, 403, bbus.EFORBIDDEN},
		{"public route for another host", "GET", "/v1/openapi.json", "", []string{"Host: evil.example"}, 403, bbus.EFORBIDDEN},
		{"health for another host", "GET", "/healthz", "", []string{"Host: evil.example."}, 403, bbus.EFORBIDDEN},
		{"localhost as a prefix", "GET", "/v1/vms", "", []string{"Host: localhost.evil.example"}, 403, bbus.EFORBIDDEN},
		// Content types.
		{"submit as text/plain", "POST", "/v1/txs", fresh, []string{"Content-Type: text/plain"}, 400, bbus.EMALFORMED},
		{"submit without a content type", "POST", "/v1/txs", fresh, nil, 400, bbus.EMALFORMED},
		{"submit as application/jsonx", "POST", "/v1/txs", fresh, []string{"Content-Type: application/jsonx"}, 400, bbus.EMALFORMED},
		{"write as a form", "POST", "/v1/vms", "id=vm-w&cpu=1", []string{"Content-Type: application/x-www-form-urlencoded", w}, 400, bbus.EMALFORMED},
		{"write as multipart", "POST", "/v1/vms", vm, []string{"Content-Type: multipart/form-data; boundary=x", w}, 400, bbus.EMALFORMED},
		{"vote as text/plain", "POST", "/v1/clouds/local/approve", "", []string{"Content-Type: text/plain", w}, 400, bbus.EMALFORMED},
		// Signed transactions CheckTx refuses.
		{"not a transaction", "POST", "/v1/txs", "hello", []string{json}, 400, bbus.EMALFORMED},
		{"transaction inside an object", "POST", "/v1/txs", `{"body":` + fresh + `}`, []string{json}, 400, bbus.EMALFORMED},
		{"replay", "POST", "/v1/txs", string(registered), []string{json}, 409, bbus.EREPLAY},
		{"replay without waiting", "POST", "/v1/txs?wait=false", string(registered), []string{json}, 409, bbus.EREPLAY},
		{"expired", "POST", "/v1/txs", expired, []string{json}, 400, bbus.EEXPIRED},
		{"another chain", "POST", "/v1/txs", string(wrongChain), []string{json}, 400, bbus.EWRONGCHAIN},
		{"another key", "POST", "/v1/txs", string(badSig), []string{json}, 400, bbus.EBADSIG},
	}
	if len(rows) < 50 {
		t.Fatalf("the table has %d rows", len(rows))
	}
	before := settled(t, l)
	for _, q := range rows {
		r := q.send(t, l.base)
		if after := stateOf(t, l); after != before {
			t.Errorf("%s changed the ledger: height %d -> %d, app hash %s -> %s", q.name, before.height, after.height, before.appHash, after.appHash)
			before = settled(t, l)
		}
		if r.status != q.status {
			t.Errorf("%s: status %d, want %d; body %.200s", q.name, r.status, q.status, r.body)
			continue
		}
		wantError(t, q.name, r, q.status, q.code)
	}
	t.Logf("%d bad requests sent; the ledger at height %d", len(rows), before.height)
}

// settled waits until the node makes no more blocks of its own and returns
// the state then. With empty blocks off, CometBFT follows a block that changed
// the app hash with one that carries it in its header: the chain is still
// once the last block's header holds the state's app hash (a quiet spell
// alone is not enough: on a loaded machine that block may be late). The
// state must also stay the same over a spell, which catches any other block.
func settled(t *testing.T, l *liveNode) ledgerState {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // a liveness bound only
	prev := stateOf(t, l)
	for {
		time.Sleep(300 * time.Millisecond)
		cur := stateOf(t, l)
		if cur == prev && cur.height > 0 {
			b, err := l.n.Block(context.Background(), cur.height)
			if err != nil {
				t.Fatal(err)
			}
			if b.AppHash == cur.appHash {
				return cur
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node never stopped making blocks: at height %d", cur.height)
		}
		prev = cur
	}
}

// TestBadTokensLimited: an address that keeps sending tokens that are not
// valid gets 429 with Retry-After past the limit, even for a valid token then
// (a guess that happens to be right is not checked either), while requests
// without a token are served; guessing tokens is slow.
func TestBadTokensLimited(t *testing.T) {
	l := startNode(t, func(c *node.Config) { c.REST.AuthFailuresPerMinute = 5 })
	good := l.token(t, tokens.ScopeRead)
	for i := range 5 {
		wantError(t, "bad token "+string(rune('1'+i)), call(t, "GET", l.base+"/v1/vms", nil, bearer("guess")), 401, bbus.EUNAUTHENTICATED)
	}
	for _, token := range []string{"guess", good} {
		r := call(t, "GET", l.base+"/v1/vms", nil, bearer(token))
		wantError(t, "past the limit", r, 429, bbus.ERATELIMITED)
		if r.header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	}
	if r := call(t, "GET", l.base+"/v1/vms", nil); r.status != 200 {
		t.Errorf("a read without a token: %d %s", r.status, r.body)
	}
}
