package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/bbusdev/bbus/httpapi"
	"github.com/bbusdev/bbus/internal/ledgertest"
)

// The contract test: every request any test of this package makes through
// http.DefaultClient (the helpers here, and package client's default) goes
// through a transport that checks the response against the OpenAPI document
// the API serves: its status must be documented for the operation, its
// headers and body must match the schemas, and a successful request must
// itself be valid. After a full run, every operation of the document must
// have been exercised, and every route the API registers must be documented.

var contract *checker

// uncheckedHeader marks a request the checker lets by: one to a backend
// that fails in ways a node does not (TestBackendFaults), or one the node takes
// beyond what the document allows (a decimal as a JSON number).
const uncheckedHeader = "X-Bbus-Test-Unchecked"

func TestMain(m *testing.M) {
	var err error
	contract, err = newChecker(httpapi.OpenAPI())
	if err != nil {
		fmt.Fprintf(os.Stderr, "contract: the OpenAPI document: %v\n", err)
		os.Exit(1)
	}
	http.DefaultClient.Transport = contract
	code := m.Run()
	if code == 0 {
		code = contract.report(fullRun())
	}
	os.Exit(code)
}

// fullRun reports whether every test ran (no -run or -skip), so that every
// route should have been exercised.
func fullRun() bool {
	for _, name := range []string{"test.run", "test.skip"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return false
		}
	}
	return !testing.Short()
}

type checker struct {
	doc    *openapi3.T
	router routers.Router
	base   http.RoundTripper

	mu       sync.Mutex
	failures []string
	seen     map[string]map[int]bool // "GET /v1/vms/{id}" -> statuses
	checked  int
}

func newChecker(spec []byte) (*checker, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	// Test servers listen on any port.
	doc.Servers = openapi3.Servers{{URL: "/"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &checker{doc: doc, router: router, base: http.DefaultTransport, seen: map[string]map[int]bool{}}, nil
}

// RoundTrip sends req and checks the exchange against the document.
func (c *checker) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	resp, err := c.base.RoundTrip(req)
	if err != nil || req.Header.Get(uncheckedHeader) != "" {
		return resp, err
	}
	route, params, rerr := c.router.FindRoute(req)
	if rerr != nil {
		// Not a documented operation: the API must say so with 404 or 405.
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed && req.Method != http.MethodOptions {
			c.fail("%s %s: answered %d but is no operation of the document (%v)", req.Method, req.URL.Path, resp.StatusCode, rerr)
		}
		return resp, nil
	}
	op := req.Method + " " + route.Path
	opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	stream := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	var body []byte
	if stream {
		opts.ExcludeResponseBody = true
	} else {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil {
			return resp, err
		}
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: opts}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		c.fail("%s %s -> %d: response does not match the document: %v\nbody: %.400s", req.Method, req.URL.RequestURI(), resp.StatusCode, err, body)
	}
	if resp.StatusCode < 300 {
		// What the API accepted, the document must allow.
		vreq := req.Clone(context.Background())
		vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
		// The API takes JSON bodies whatever their Content-Type says (curl -d
		// sends form encoding), and a time's '+' whether escaped or not.
		if vreq.Header.Get("Content-Type") == "" {
			vreq.Header.Set("Content-Type", "application/json")
		}
		vreq.URL.RawQuery = strings.ReplaceAll(vreq.URL.RawQuery, "+", "%2B")
		in.Request = vreq
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			c.fail("%s %s -> %d: the API accepted a request the document does not allow: %v", req.Method, req.URL.RequestURI(), resp.StatusCode, err)
		}
	}
	c.mu.Lock()
	if c.seen[op] == nil {
		c.seen[op] = map[int]bool{}
	}
	c.seen[op][resp.StatusCode] = true
	c.checked++
	c.mu.Unlock()
	return resp, nil
}

func (c *checker) fail(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures = append(c.failures, fmt.Sprintf(format, args...))
}

// report prints what went wrong and returns the exit code: 1 if a response
// broke the contract or, after a full run, an operation was never exercised
// or a route is not documented.
func (c *checker) report(full bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	failures := append([]string{}, c.failures...)
	if full {
		failures = append(failures, c.coverage()...)
	}
	if len(failures) == 0 {
		if c.checked > 0 { // a run of no test (a fuzz run) checks nothing and says nothing
			fmt.Printf("contract: %d responses of %d operations match the OpenAPI document\n", c.checked, len(c.seen))
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "--- FAIL: the OpenAPI contract (%d problems)\n", len(failures))
	for _, f := range failures {
		fmt.Fprintf(os.Stderr, "    %s\n", f)
	}
	return 1
}

// coverage lists documented operations no test exercised and routes the API
// serves that the document does not describe.
func (c *checker) coverage() []string {
	var out []string
	documented := map[string]bool{}
	for _, path := range c.doc.Paths.InMatchingOrder() {
		for method := range c.doc.Paths.Value(path).Operations() {
			op := method + " " + path
			documented[op] = true
			if c.seen[op] == nil {
				out = append(out, "no test exercised "+op)
			}
		}
	}
	for _, p := range httpapi.Routes(httpapi.New(ledgertest.New(), httpapi.Options{})) {
		if p != "/" && !documented[p] {
			out = append(out, "the API serves "+p+" but the OpenAPI document does not describe it")
		}
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIServed checks that the API serves its document and that the
// document describes every route the API registers.
func TestOpenAPIServed(t *testing.T) {
	base := serve(t, ledgertest.New(), httpapi.Options{})
	r := do(t, "GET", base+"/v1/openapi.json", nil)
	if r.status != 200 || !bytes.Equal(r.body, httpapi.OpenAPI()) {
		t.Fatalf("GET /v1/openapi.json: %d, %d bytes", r.status, len(r.body))
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.body, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not an OpenAPI 3 document: %v", err)
	}
	for _, p := range httpapi.Routes(httpapi.New(ledgertest.New(), httpapi.Options{})) {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			continue
		}
		if doc.Paths[path][strings.ToLower(method)] == nil {
			t.Errorf("route %s is not in the OpenAPI document", p)
		}
	}
}

// TestContractCatchesDrift makes sure the checker fails a response that
// breaks the document: a field it does not describe, and a status it does
// not list.
func TestContractCatchesDrift(t *testing.T) {
	c, err := newChecker(httpapi.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status int
		body   string
	}{
		{200, `{"status":"ok","extra":1}`},
		{418, `{"error":{"code":"invalid","message":"teapot"}}`},
		{200, `{"status":42}`},
	} {
		c.base = roundTripFunc(func(*http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: tc.status, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(tc.body))}, nil
		})
		c.failures = nil
		req, _ := http.NewRequest("GET", "http://127.0.0.1:1/healthz", nil)
		if _, err := c.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if len(c.failures) != 1 {
			t.Errorf("%d %s: checker found %d problems, want 1: %v", tc.status, tc.body, len(c.failures), c.failures)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
