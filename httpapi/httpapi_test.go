package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
	"github.com/bbusdev/bbus/httpapi"
	"github.com/bbusdev/bbus/internal/ledgertest"
	"github.com/bbusdev/bbus/kv"
)

var _ httpapi.Backend = (*ledgertest.Chain)(nil)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// serve runs the API over b on a real HTTP server for the test's lifetime.
func serve(t *testing.T, b httpapi.Backend, opts httpapi.Options) string {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	srv := httptest.NewServer(httpapi.New(b, opts))
	t.Cleanup(srv.Close)
	return srv.URL
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, method, url string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json (body %s)", method, url, ct, b)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// getJSON fetches url, wants status 200 and decodes the body into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	r := do(t, "GET", url, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200; body %s", url, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, r.body)
	}
}

// wantError checks that r is the error shape with the given status and code.
func wantError(t *testing.T, what string, r response, status int, code string) *bbus.ErrorResponse {
	t.Helper()
	var e bbus.ErrorResponse
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == nil {
		t.Fatalf("%s: body %s is not the error shape (%v)", what, r.body, err)
	}
	if r.status != status || e.Error.Code != code {
		t.Fatalf("%s: status %d code %q, want %d %q (message %q)", what, r.status, e.Error.Code, status, code, e.Error.Message)
	}
	if e.Error.Message == "" {
		t.Errorf("%s: error has no message", what)
	}
	return &e
}

func submit(t *testing.T, base string, raw []byte) bbus.TxResult {
	t.Helper()
	r := do(t, "POST", base+"/v1/txs", raw)
	if r.status != http.StatusOK {
		t.Fatalf("POST /v1/txs: status %d, body %s", r.status, r.body)
	}
	var res bbus.TxResult
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func register(vm string, cpu int64) bbus.Action {
	return bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: bbus.Resources{CPU: cpu, MemMiB: 1024}}}
}

func TestHealthAndStatus(t *testing.T) {
	chain := ledgertest.New(ledgertest.Founders("c1", "c2")...)
	base := serve(t, chain, httpapi.Options{})

	var h bbus.Health
	getJSON(t, base+"/healthz", &h)
	if h.Status != "ok" {
		t.Errorf("healthz = %+v", h)
	}

	chain.Do("c1", register("vm-1", 1))
	var st bbus.Status
	getJSON(t, base+"/v1/status", &st)
	if st.ChainID != ledgertest.ChainID || st.Height != 1 || len(st.Validators) != 2 || st.AppHash == "" {
		t.Errorf("status = %+v", st)
	}
}

// TestMigrationThroughAPI records a VM's migration by POST /v1/txs and reads it
// back through every read route.
func TestMigrationThroughAPI(t *testing.T) {
	chain := ledgertest.New(ledgertest.Founders("c1", "c2")...)
	base := serve(t, chain, httpapi.Options{})

	res := submit(t, base, chain.Sign("c1", bbus.Action{VMRegister: &bbus.VMRegister{
		VM: "vm-1", Image: "sha256:" + strings.Repeat("ab", 32), Resources: bbus.Resources{CPU: 4, MemMiB: 8192}}}))
	if res.Type != "vm_register" || res.ID != "vm-1" || res.Height != 1 || res.Signer != "c1" || len(res.TxID) != 64 || res.Hash == "" {
		t.Fatalf("register result = %+v", res)
	}
	registered := chain.Last().Time
	res = submit(t, base, chain.Sign("c1", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm-1", To: "c2"}}))
	mig := res.ID
	if mig != "mig-1" || res.Type != "migration_propose" {
		t.Fatalf("propose result = %+v", res)
	}
	submit(t, base, chain.Sign("c2", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: mig}}))
	res = submit(t, base, chain.Sign("c2", bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: mig}}))
	completed := chain.Last().Time
	if res.Height != 4 || res.ID != mig {
		t.Fatalf("complete result = %+v", res)
	}

	var clouds bbus.List[bbus.Cloud]
	getJSON(t, base+"/v1/clouds", &clouds)
	if len(clouds.Items) != 2 || clouds.Items[0].ID != "c1" || clouds.Items[1].ID != "c2" || clouds.Next != "" {
		t.Errorf("clouds = %+v", clouds)
	}
	var c2 bbus.Cloud
	getJSON(t, base+"/v1/clouds/c2", &c2)
	if c2.HostedVMs != 1 || c2.Allocated.CPU != 4 {
		t.Errorf("cloud c2 = %+v", c2)
	}

	var vms bbus.List[bbus.VM]
	getJSON(t, base+"/v1/vms", &vms)
	if len(vms.Items) != 1 || vms.Items[0].Host != "c2" || vms.Next != "" {
		t.Errorf("vms = %+v", vms)
	}
	var vm bbus.VM
	getJSON(t, base+"/v1/vms/vm-1", &vm)
	if vm.Host != "c2" || vm.Owner != "c1" || vm.Intervals != 2 {
		t.Errorf("vm = %+v", vm)
	}

	var hist bbus.History
	getJSON(t, base+"/v1/vms/vm-1/history", &hist)
	if len(hist.Intervals) != 2 || hist.Intervals[0].Cloud != "c1" || hist.Intervals[1].Cloud != "c2" ||
		len(hist.Migrations) != 1 || hist.Migrations[0].Status != bbus.MigrationCompleted {
		t.Errorf("history = %+v", hist)
	}
	var page1, page2 bbus.List[bbus.Interval]
	getJSON(t, base+"/v1/vms/vm-1/intervals?limit=1", &page1)
	getJSON(t, base+"/v1/vms/vm-1/intervals?limit=1&after="+page1.Next, &page2)
	if len(page1.Items) != 1 || page1.Items[0].Cloud != "c1" || page1.Next != "1" || len(page2.Items) != 1 || page2.Items[0].Cloud != "c2" || page2.Next != "" {
		t.Errorf("intervals page by page: %+v, then %+v", page1, page2)
	}

	for _, tc := range []struct {
		at   time.Time
		host string
	}{
		{registered, "c1"},
		{completed.Add(-time.Nanosecond), "c1"},
		{completed, "c2"},
		{completed.Add(time.Hour), "c2"},
	} {
		var iv bbus.Interval
		getJSON(t, base+"/v1/vms/vm-1/host?at="+url.QueryEscape(tc.at.Format(time.RFC3339Nano)), &iv)
		if iv.Cloud != tc.host {
			t.Errorf("host at %s = %s, want %s", tc.at, iv.Cloud, tc.host)
		}
	}
	// An unescaped time zone offset ('+' becomes a space) still parses.
	var iv bbus.Interval
	getJSON(t, base+"/v1/vms/vm-1/host?at="+completed.In(time.FixedZone("", 3600)).Format(time.RFC3339Nano), &iv)
	if iv.Cloud != "c2" {
		t.Errorf("host at an offset time = %+v", iv)
	}
	wantError(t, "host before registration", do(t, "GET", base+"/v1/vms/vm-1/host?at="+url.QueryEscape(registered.Add(-time.Second).Format(time.RFC3339)), nil), 404, bbus.ENOTFOUND)

	var m bbus.Migration
	getJSON(t, base+"/v1/migrations/"+mig, &m)
	if m.Status != bbus.MigrationCompleted || m.From != "c1" || m.To != "c2" || m.Accepted == nil {
		t.Errorf("migration = %+v", m)
	}
	var ms bbus.List[bbus.Migration]
	getJSON(t, base+"/v1/migrations?vm=vm-1&cloud=c2&status=completed", &ms)
	if len(ms.Items) != 1 || ms.Items[0].ID != mig {
		t.Errorf("migrations = %+v", ms)
	}
	getJSON(t, base+"/v1/migrations?status=proposed", &ms)
	if len(ms.Items) != 0 {
		t.Errorf("proposed migrations = %+v", ms)
	}
	since := url.QueryEscape(registered.Add(ledgertest.BlockStep).Format(time.RFC3339))
	getJSON(t, base+"/v1/migrations?since="+since+"&until="+since, &ms)
	if len(ms.Items) != 0 {
		t.Errorf("migrations in an empty window = %+v", ms)
	}
	getJSON(t, base+"/v1/migrations?since="+since, &ms)
	if len(ms.Items) != 1 {
		t.Errorf("migrations since the proposal = %+v", ms)
	}
}

// pages fetches every page of a list with the given page size and returns the
// ids in order, failing on a repeated id. between, if given, runs after each page.
func pages[T any](t *testing.T, url string, limit int, id func(T) string, between ...func()) []string {
	t.Helper()
	var ids []string
	seen := map[string]bool{}
	after := ""
	for n := 0; ; n++ {
		if n > 1000 {
			t.Fatalf("%s: more than 1000 pages", url)
		}
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		var page bbus.List[T]
		getJSON(t, fmt.Sprintf("%s%slimit=%d&after=%s", url, sep, limit, after), &page)
		if len(page.Items) > limit {
			t.Fatalf("%s: page of %d items, limit %d", url, len(page.Items), limit)
		}
		for _, it := range page.Items {
			if seen[id(it)] {
				t.Fatalf("%s: %s twice", url, id(it))
			}
			seen[id(it)] = true
			ids = append(ids, id(it))
		}
		if page.Next == "" {
			return ids
		}
		for _, f := range between {
			f()
		}
		if len(page.Items) != limit {
			t.Fatalf("%s: a short page of %d items has a next cursor", url, len(page.Items))
		}
		after = page.Next
	}
}

func TestPagination(t *testing.T) {
	founders := ledgertest.Founders("c0", "c1", "c2", "c3", "c4")
	chain := ledgertest.New(founders...)
	base := serve(t, chain, httpapi.Options{})

	var regs [][]byte
	for i := range 53 {
		regs = append(regs, chain.Sign("c0", register(fmt.Sprintf("vm-%02d", i), 1)))
	}
	for _, r := range chain.Block(regs...) {
		if !r.OK() {
			t.Fatal(r.Err())
		}
	}
	// One migration per VM, to c1..c4 in turn; the odd ones are cancelled.
	var props [][]byte
	for i := range 53 {
		props = append(props, chain.Sign("c0", bbus.Action{MigrationPropose: &bbus.Propose{VM: fmt.Sprintf("vm-%02d", i), To: fmt.Sprintf("c%d", 1+i%4)}}))
	}
	chain.Block(props...)
	var cancels [][]byte
	for i := 1; i < 53; i += 2 {
		cancels = append(cancels, chain.Sign("c0", bbus.Action{MigrationCancel: &bbus.MigrationRef{Migration: fmt.Sprintf("mig-%d", i+1)}}))
	}
	chain.Block(cancels...)

	cloudIDs := pages(t, base+"/v1/clouds", 2, func(c bbus.Cloud) string { return c.ID })
	if strings.Join(cloudIDs, ",") != "c0,c1,c2,c3,c4" {
		t.Errorf("clouds paged = %v", cloudIDs)
	}
	for _, limit := range []int{1, 7, 53, 100} {
		vmIDs := pages(t, base+"/v1/vms", limit, func(v bbus.VM) string { return v.ID })
		if len(vmIDs) != 53 || vmIDs[0] != "vm-00" || vmIDs[52] != "vm-52" {
			t.Errorf("vms paged by %d = %v", limit, vmIDs)
		}
		migIDs := pages(t, base+"/v1/migrations", limit, func(m bbus.Migration) string { return m.ID })
		if len(migIDs) != 53 || migIDs[0] != "mig-1" || migIDs[52] != "mig-53" {
			t.Errorf("migrations paged by %d = %v", limit, migIDs)
		}
	}
	// Filters page too: c1 receives VMs 0, 4, 8, ... (14 of them); c0 sends all,
	// of which the even VMs' (27) are still proposed.
	toC1 := pages(t, base+"/v1/migrations?cloud=c1", 3, func(m bbus.Migration) string { return m.ID })
	if len(toC1) != 14 || toC1[0] != "mig-1" || toC1[1] != "mig-5" {
		t.Errorf("migrations of c1 = %v", toC1)
	}
	open := pages(t, base+"/v1/migrations?cloud=c0&status=proposed", 2, func(m bbus.Migration) string { return m.ID })
	if len(open) != 27 || open[1] != "mig-3" || open[26] != "mig-53" {
		t.Errorf("proposed migrations of c1 = %v", open)
	}
	cancelled := pages(t, base+"/v1/migrations?status=cancelled", 5, func(m bbus.Migration) string { return m.ID })
	if len(cancelled) != 26 || cancelled[0] != "mig-2" {
		t.Errorf("cancelled migrations = %v", cancelled)
	}
	one := pages(t, base+"/v1/migrations?vm=vm-07", 1, func(m bbus.Migration) string { return m.ID })
	if len(one) != 1 || one[0] != "mig-8" {
		t.Errorf("migrations of vm-07 = %v", one)
	}

	var page bbus.List[bbus.VM]
	getJSON(t, base+"/v1/vms", &page)
	if len(page.Items) != 53 || page.Next != "" {
		t.Errorf("default page holds %d VMs, next %q", len(page.Items), page.Next)
	}
}

func TestErrors(t *testing.T) {
	chain := ledgertest.New(ledgertest.Founders("c1", "c2")...)
	base := serve(t, chain, httpapi.Options{MaxBodyBytes: 4096})
	chain.Do("c1", register("vm-1", 1))

	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/v1/clouds?limit=0", 400, bbus.EINVALID},
		{"GET", "/v1/clouds?limit=1001", 400, bbus.EINVALID},
		{"GET", "/v1/vms?limit=ten", 400, bbus.EINVALID},
		{"GET", "/v1/migrations?since=yesterday", 400, bbus.EINVALID},
		{"GET", "/v1/migrations?until=2025-13-01T00:00:00Z", 400, bbus.EINVALID},
		{"GET", "/v1/migrations?status=done", 400, bbus.EINVALID},
		{"GET", "/v1/migrations?vm=bad/id", 400, bbus.EINVALID},
		{"GET", "/v1/migrations?after=nope", 400, bbus.EINVALID},
		{"GET", "/v1/vms/vm-1/host", 400, bbus.EINVALID},
		{"GET", "/v1/vms/vm-1/host?at=noon", 400, bbus.EINVALID},
		{"POST", "/v1/txs?wait=maybe", 400, bbus.EINVALID},
		{"POST", "/v1/txs", 400, bbus.EMALFORMED},
		{"GET", "/v1/clouds/nope", 404, bbus.ENOTFOUND},
		{"GET", "/v1/vms/nope", 404, bbus.ENOTFOUND},
		{"GET", "/v1/vms/nope/history", 404, bbus.ENOTFOUND},
		{"GET", "/v1/vms/nope/host?at=2025-01-01T00:00:00Z", 404, bbus.ENOTFOUND},
		{"GET", "/v1/migrations/mig-9", 404, bbus.ENOTFOUND},
		{"GET", "/v1/migrations/nope", 404, bbus.ENOTFOUND},
		{"GET", "/v1/nothing", 404, bbus.ENOTFOUND},
		{"GET", "/nothing", 404, bbus.ENOTFOUND},
		{"GET", "/ui", 404, bbus.ENOTFOUND},
		{"POST", "/", 405, bbus.EINVALID},
		{"POST", "/v1/clouds/c1/approve", 401, bbus.EUNAUTHENTICATED},
		{"POST", "/v1/clouds/c1/join", 404, bbus.ENOTFOUND},
		{"POST", "/v1/status", 405, bbus.EINVALID},
		{"DELETE", "/v1/vms/vm-1", 405, bbus.EINVALID},
		{"GET", "/v1/txs", 405, bbus.EINVALID},
	} {
		what := tc.method + " " + tc.path
		r := do(t, tc.method, base+tc.path, nil)
		wantError(t, what, r, tc.status, tc.code)
		if tc.status == 405 && r.header.Get("Allow") == "" {
			t.Errorf("%s: 405 without an Allow header", what)
		}
	}
	if r := do(t, "POST", base+"/v1/status", nil); r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /v1/status: Allow %q", r.header.Get("Allow"))
	}
	if r := do(t, "GET", base+"/v1/txs", nil); r.header.Get("Allow") != "POST" {
		t.Errorf("GET /v1/txs: Allow %q", r.header.Get("Allow"))
	}

	// Over the body limit: 413, and the backend sees nothing.
	r := do(t, "POST", base+"/v1/txs", bytes.Repeat([]byte("x"), 4097))
	wantError(t, "large body", r, 413, bbus.ETOOLARGE)
	if n := len(chain.Submitted()); n != 0 {
		t.Errorf("backend got %d transactions from a refused body", n)
	}

	// Refused at admission: a bad signature.
	_, wrongKey, _ := ed25519.GenerateKey(rand.Reader)
	bad, _, err := bbus.SignTx(&bbus.Body{ChainID: ledgertest.ChainID, Signer: "c1", Nonce: 1,
		Expires: chain.Last().Time.Add(time.Minute).Unix(), Action: register("vm-2", 1)}, wrongKey)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, "bad signature", do(t, "POST", base+"/v1/txs", bad), 400, bbus.EBADSIG)

	// Committed but rejected by the ledger: 409 with the result.
	raw := chain.Sign("c2", bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm-1"}})
	e := wantError(t, "terminate by another cloud", do(t, "POST", base+"/v1/txs", raw), 409, bbus.EUNAUTHORIZED)
	if e.Result == nil || e.Result.Code != bbus.EUNAUTHORIZED || e.Result.Height != chain.Last().Height || e.Result.Type != "vm_terminate" {
		t.Errorf("rejected tx result = %+v", e.Result)
	}
	// A ledger rule refused at admission: the same transaction again.
	raw = chain.Sign("c1", register("vm-3", 1))
	submit(t, base, raw)
	wantError(t, "replay", do(t, "POST", base+"/v1/txs", raw), 409, bbus.EREPLAY)
}

// TestSubmitPassesExactBytes sends bytes that differ from their canonical
// re-encoding only in spacing: the backend must get them as sent (and the
// ledger refuse them), never a re-encoded copy.
func TestSubmitPassesExactBytes(t *testing.T) {
	chain := ledgertest.New(ledgertest.Founders("c1")...)
	base := serve(t, chain, httpapi.Options{})

	raw := chain.Sign("c1", register("vm-1", 1))
	spaced := bytes.Replace(raw, []byte(`,"sig":`), []byte(`, "sig": `), 1)
	wantError(t, "spaced tx", do(t, "POST", base+"/v1/txs", spaced), 400, bbus.EMALFORMED)
	res := submit(t, base, raw)
	if res.ID != "vm-1" {
		t.Fatalf("result = %+v", res)
	}
	got := chain.Submitted()
	if len(got) != 2 || !bytes.Equal(got[0], spaced) || !bytes.Equal(got[1], raw) {
		t.Errorf("backend got %q, want %q then %q", got, spaced, raw)
	}
}

func TestSubmitNoWait(t *testing.T) {
	chain := ledgertest.New(ledgertest.Founders("c1")...)
	base := serve(t, chain, httpapi.Options{})
	r := do(t, "POST", base+"/v1/txs?wait=false", chain.Sign("c1", register("vm-1", 1)))
	if r.status != http.StatusAccepted {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	var res bbus.TxResult
	if err := json.Unmarshal(r.body, &res); err != nil || len(res.TxID) != 64 || res.Hash == "" {
		t.Errorf("result %s (%v)", r.body, err)
	}
}

// faulty is a backend whose every call fails with err.
type faulty struct{ err error }

func (f faulty) Status(context.Context) (*bbus.Status, error) { return nil, f.err }
func (f faulty) Submit(context.Context, []byte, bool) (*bbus.TxResult, error) {
	return nil, f.err
}
func (f faulty) View(func(kv.Reader) error) error { return f.err }

func TestBackendFaults(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{bbus.Errorf(bbus.EUNAVAILABLE, "timed out waiting for commit"), 503, bbus.EUNAVAILABLE},
		{fmt.Errorf("store: %w", bbus.Errorf(bbus.ETOOLARGE, "mempool is full")), 413, bbus.ETOOLARGE},
		{errors.New("disk on fire /var/lib/secret"), 500, bbus.EINTERNAL},
	} {
		base := serve(t, faulty{tc.err}, httpapi.Options{})
		for _, req := range [][2]string{{"GET", "/v1/status"}, {"POST", "/v1/txs"}, {"GET", "/v1/vms"}, {"GET", "/v1/vms/x/history"}} {
			r := call(t, req[0], base+req[1], []byte("{}"), uncheckedHeader+": a backend no node is")
			e := wantError(t, req[0]+" "+req[1]+" with "+tc.err.Error(), r, tc.status, tc.code)
			if strings.Contains(e.Error.Message, "secret") {
				t.Errorf("internal error leaks its text: %q", e.Error.Message)
			}
		}
	}
}

// panicky is a backend whose View panics, as a ledger query does on corrupt state.
type panicky struct{ faulty }

func (panicky) View(func(kv.Reader) error) error { panic("corrupt state record") }

func TestPanicIsInternal(t *testing.T) {
	base := serve(t, panicky{}, httpapi.Options{})
	wantError(t, "panicking view", do(t, "GET", base+"/v1/clouds", nil), 500, bbus.EINTERNAL)
}

func TestStatusOfEveryCode(t *testing.T) {
	// The statuses by the class of the code; every code bbus.go declares must
	// be in one class, so that a new code cannot fall to 500 unnoticed.
	classes := map[int][]string{
		400: {bbus.EMALFORMED, bbus.EINVALID, bbus.EWRONGCHAIN, bbus.EBADSIG, bbus.EEXPIRED},
		401: {bbus.EUNAUTHENTICATED},
		403: {bbus.EFORBIDDEN},
		404: {bbus.ENOTFOUND},
		409: {bbus.EREPLAY, bbus.EUNKNOWNSIGNER, bbus.EUNAUTHORIZED, bbus.ENOTMEMBER, bbus.EEXISTS, bbus.ECAPACITY,
			bbus.ESTATE, bbus.EOPEN, bbus.ELAPSED, bbus.ENOTINVITED},
		413: {bbus.ETOOLARGE},
		429: {bbus.ERATELIMITED},
		503: {bbus.EUNAVAILABLE},
		500: {bbus.EINTERNAL},
	}
	want := map[string]int{}
	for status, codes := range classes {
		for _, c := range codes {
			want[c] = status
		}
	}
	declared := errorCodes(t)
	if len(declared) < 20 {
		t.Fatalf("found %d codes in bbus.go", len(declared))
	}
	for _, code := range declared {
		status, ok := want[code]
		if !ok {
			t.Errorf("code %q of bbus.go has no status in this test: give it one", code)
			continue
		}
		if got := httpapi.Status(code); got != status {
			t.Errorf("Status(%q) = %d, want %d", code, got, status)
		}
		delete(want, code)
	}
	for code := range want {
		t.Errorf("code %q is not declared in bbus.go", code)
	}
	if got := httpapi.Status("no_such_code"); got != 500 {
		t.Errorf("Status of an unknown code = %d, want 500", got)
	}
	// Code inverts Status where Status is one to one.
	for status, codes := range classes {
		if len(codes) == 1 {
			if got := client.CodeOfStatus(status); got != codes[0] {
				t.Errorf("Code(%d) = %q, want %q", status, got, codes[0])
			}
		}
	}
	if client.CodeOfStatus(200) != "" || client.CodeOfStatus(400) != bbus.EINVALID || client.CodeOfStatus(502) != bbus.EUNAVAILABLE {
		t.Error("Code of 200, 400 or 502 is wrong")
	}
}

// errorCodes returns the values of the error codes bbus.go declares: its
// string constants whose names start with E.
func errorCodes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../bbus.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "E") || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					codes = append(codes, v)
				}
			}
		}
	}
	return codes
}
