package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
	"github.com/bbusdev/bbus/httpapi"
	"github.com/bbusdev/bbus/internal/ledgertest"
	"github.com/bbusdev/bbus/node"
	"github.com/bbusdev/bbus/tokens"
)

// These tests run the API on a real node: CometBFT in-process with the bbus
// application, on a temporary home, served on a loopback port.

type liveNode struct {
	n    *node.Node
	home string
	base string
}

// startNode initialises and starts a single-cloud federation of cloud "local"
// (chain bbus-local); config, if not nil, changes the home's settings first.
func startNode(t *testing.T, config func(*node.Config)) *liveNode {
	t.Helper()
	home := t.TempDir()
	c := node.DefaultConfig("local")
	c.P2PListen = "tcp://127.0.0.1:0"
	if config != nil {
		config(&c)
	}
	if _, err := node.Init(node.InitOptions{Home: home, Cloud: "local", ChainID: "bbus-local", Config: &c}); err != nil {
		t.Fatal(err)
	}
	n, err := node.Open(home, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	return &liveNode{n: n, home: home, base: "http://" + n.APIAddr()}
}

// token makes a token of the node's home.
func (l *liveNode) token(t *testing.T, scope string) string {
	t.Helper()
	secret, _, err := tokens.Create(l.home, scope, "test")
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// client returns a client of the node with token (none if empty).
func (l *liveNode) client(token string) *client.Client {
	if token == "" {
		return client.New(l.base)
	}
	return client.New(l.base, client.WithToken(token))
}

// join makes cloud id a member of the federation: the node's cloud invites a
// new key (a write the node signs; as the only member, its invitation admits)
// and the cloud applies with it (a transaction it signs itself). It returns a
// signer for the new cloud.
func (l *liveNode) join(t *testing.T, write *client.Client, id string) client.Signer {
	t.Helper()
	ctx := context.Background()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	s := client.Signer{ChainID: "bbus-local", ID: id, Key: key}
	if _, err := write.InviteCloud(ctx, id, bbus.InviteRequest{PubKey: key.Public().(ed25519.PublicKey)}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := l.client("").Send(ctx, s, bbus.Action{CloudJoin: &bbus.CloudJoin{
		Name: "Cloud " + id, PubKey: key.Public().(ed25519.PublicKey), Resources: bbus.Resources{CPU: 64, MemMiB: 1 << 18, DiskIOPS: 10000, NetMbps: 1000}}}); err != nil {
		t.Fatal(err)
	}
	return s
}

// call sends a request with the given headers ("Name: value") and returns the
// response; its body must be JSON.
func call(t *testing.T, method, url string, body []byte, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json") // unless headers say otherwise
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
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
	return response{resp.StatusCode, resp.Header, b}
}

func bearer(token string) string { return "Authorization: Bearer " + token }

func wantResult(t *testing.T, what string, r response, status int) bbus.TxResult {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, status, r.body)
	}
	var res bbus.TxResult
	if err := json.Unmarshal(r.body, &res); err != nil {
		t.Fatalf("%s: %v in %s", what, err, r.body)
	}
	return res
}

// TestNodeSignedWrites drives a migration's whole lifecycle through the writes
// the node signs, with its refusals: no token, a read token, a bad body, a
// rule of the ledger.
func TestNodeSignedWrites(t *testing.T) {
	ctx := context.Background()
	l := startNode(t, func(c *node.Config) { c.REST.MaxBodyBytes = 4096 })
	write, read := l.token(t, tokens.ScopeWrite), l.token(t, tokens.ScopeRead)
	w := l.client(write)
	c2 := l.join(t, w, "c2")

	vm := []byte(`{"id":"vm-1","cpu":4,"mem_mib":8192,"disk_iops":100,"net_mbps":10,"image":"sha256:` + strings.Repeat("ab", 32) + `"}`)
	wantError(t, "no token", call(t, "POST", l.base+"/v1/vms", vm), 401, bbus.EUNAUTHENTICATED)
	if r := call(t, "POST", l.base+"/v1/vms", vm); r.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	wantError(t, "bad token", call(t, "POST", l.base+"/v1/vms", vm, bearer("bbus_nope")), 401, bbus.EUNAUTHENTICATED)
	wantError(t, "not bearer", call(t, "POST", l.base+"/v1/vms", vm, "Authorization: Basic "+write), 401, bbus.EUNAUTHENTICATED)
	wantError(t, "read token", call(t, "POST", l.base+"/v1/vms", vm, bearer(read)), 403, bbus.EFORBIDDEN)
	wantError(t, "garbage", call(t, "POST", l.base+"/v1/vms", []byte("{\"id\":"), bearer(write)), 400, bbus.EMALFORMED)
	wantError(t, "unknown field", call(t, "POST", l.base+"/v1/vms", []byte(`{"id":"vm-9","cpu":1,"mem_mib":1,"colour":"red"}`), bearer(write)), 400, bbus.EMALFORMED)
	wantError(t, "no cpu", call(t, "POST", l.base+"/v1/vms", []byte(`{"id":"vm-9"}`), bearer(write)), 400, bbus.EINVALID)
	wantError(t, "bad id", call(t, "POST", l.base+"/v1/vms", []byte(`{"id":"a/b","cpu":1,"mem_mib":1}`), bearer(write)), 400, bbus.EINVALID)
	wantError(t, "empty", call(t, "POST", l.base+"/v1/vms", nil, bearer(write)), 400, bbus.EMALFORMED)
	big := append([]byte(`{"id":"vm-9","image":"`), bytes.Repeat([]byte("x"), 5000)...)
	wantError(t, "oversized", call(t, "POST", l.base+"/v1/vms", append(big, `"}`...), bearer(write)), 413, bbus.ETOOLARGE)
	wantError(t, "wait=maybe", call(t, "POST", l.base+"/v1/vms?wait=maybe", vm, bearer(write)), 400, bbus.EINVALID)
	wantError(t, "a body where none is taken", call(t, "POST", l.base+"/v1/vms/vm-1/terminate", []byte(`{"now":true}`), bearer(write)), 400, bbus.EMALFORMED)

	res := wantResult(t, "register", call(t, "POST", l.base+"/v1/vms", vm, bearer(write)), 200)
	if res.ID != "vm-1" || res.Type != "vm_register" || res.Signer != "local" || res.Height == 0 {
		t.Fatalf("register: %+v", res)
	}
	wantError(t, "register again", call(t, "POST", l.base+"/v1/vms", vm, bearer(write)), 409, bbus.EEXISTS)

	res = wantResult(t, "propose", call(t, "POST", l.base+"/v1/migrations", []byte(`{"vm":"vm-1","to":"c2"}`), bearer(write)), 200)
	mig := res.ID
	if !strings.HasPrefix(mig, "mig-") {
		t.Fatalf("propose: %+v", res)
	}
	// Only the destination accepts: the node signs as local, the source.
	e := wantError(t, "accept as the source", call(t, "POST", l.base+"/v1/migrations/"+mig+"/accept", nil, bearer(write)), 409, bbus.EUNAUTHORIZED)
	if e.Result == nil || e.Result.Height == 0 || e.Result.Type != "migration_accept" {
		t.Errorf("a rejected write's result: %+v", e.Result)
	}
	wantResult(t, "cancel", call(t, "POST", l.base+"/v1/migrations/"+mig+"/cancel", []byte("{}"), bearer(write)), 200)
	wantError(t, "cancel again", call(t, "POST", l.base+"/v1/migrations/"+mig+"/cancel", nil, bearer(write)), 409, bbus.ESTATE)
	wantError(t, "unknown migration", call(t, "POST", l.base+"/v1/migrations/mig-99/cancel", nil, bearer(write)), 404, bbus.ENOTFOUND)

	// Out to c2 (which signs its own steps) and back to local through the node.
	out, err := w.ProposeMigration(ctx, bbus.MigrationRequest{VM: "vm-1", To: "c2"}, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []bbus.Action{{MigrationAccept: &bbus.MigrationRef{Migration: out.ID}}, {MigrationComplete: &bbus.MigrationRef{Migration: out.ID}}} {
		if _, err := l.client("").Send(ctx, c2, a); err != nil {
			t.Fatal(err)
		}
	}
	back := func() string {
		r, err := l.client("").Send(ctx, c2, bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm-1", To: "local"}})
		if err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	refused := back()
	if _, err := w.MigrationStep(ctx, refused, "reject", true); err != nil {
		t.Fatal(err)
	}
	again := back()
	for _, step := range []string{"accept", "complete"} {
		if _, err := w.MigrationStep(ctx, again, step, true); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	v, err := l.client("").VM(ctx, "vm-1")
	if err != nil || v.Host != "local" || v.Intervals != 3 {
		t.Fatalf("vm after the round trip: %+v %v", v, err)
	}
	m, err := l.client("").Migration(ctx, refused)
	if err != nil || m.Status != bbus.MigrationRejected {
		t.Fatalf("rejected migration: %+v %v", m, err)
	}

	if _, err := w.TerminateVM(ctx, "vm-1", true); err != nil {
		t.Fatal(err)
	}
	if _, err := w.VoteCloud(ctx, "c2", "remove", true); err != nil {
		t.Fatal(err)
	}
	// Without waiting: 202 once the mempool has it.
	r := call(t, "POST", l.base+"/v1/vms?wait=false", []byte(`{"id":"vm-2","cpu":1,"mem_mib":1}`), bearer(write))
	if res := wantResult(t, "no wait", r, 202); len(res.TxID) != 64 || res.Height != 0 {
		t.Errorf("202 result: %+v", res)
	}
	out, err = w.RegisterVM(ctx, bbus.VMRequest{ID: "vm-3", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}, false)
	if err != nil || out.TxID == "" {
		t.Fatalf("register without waiting: %+v %v", out, err)
	}
	_, err = l.client(read).RegisterVM(ctx, bbus.VMRequest{ID: "vm-4", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}, true)
	wantCodeErr(t, "a read token's write through the client", err, bbus.EFORBIDDEN)
}

func mkdirConfig(home string) error { return os.MkdirAll(filepath.Join(home, "config"), 0o700) }

func wantCodeErr(t *testing.T, what string, err error, code string) {
	t.Helper()
	var e *bbus.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("%s: error %v, want code %s", what, err, code)
	}
}

// TestWritesNeedASigner: a backend that cannot sign answers node-signed
// writes with 503, and the checks before it still hold.
func TestWritesNeedASigner(t *testing.T) {
	home := t.TempDir()
	if err := mkdirConfig(home); err != nil {
		t.Fatal(err)
	}
	secret, _, err := tokens.Create(home, tokens.ScopeWrite, "")
	if err != nil {
		t.Fatal(err)
	}
	base := serve(t, ledgertest.New(), httpapi.Options{Tokens: tokens.Open(home)})
	body := []byte(`{"id":"vm-1","cpu":1,"mem_mib":1}`)
	wantError(t, "no signer", call(t, "POST", base+"/v1/vms", body, bearer(secret)), 503, bbus.EUNAVAILABLE)
	wantError(t, "no token", call(t, "POST", base+"/v1/vms", body), 401, bbus.EUNAUTHENTICATED)
	for _, path := range []string{"/v1/txs/" + strings.Repeat("ab", 32), "/v1/blocks/1", "/v1/events"} {
		wantError(t, path, call(t, "GET", base+path, nil), 503, bbus.EUNAVAILABLE)
	}
}

// TestTokenLifecycle: a token made in the home works at once, a revoked one is
// refused at once, and a node that wants tokens for reads says so.
func TestTokenLifecycle(t *testing.T) {
	l := startNode(t, func(c *node.Config) { c.REST.Reads = httpapi.ReadsToken })
	wantError(t, "read without a token", call(t, "GET", l.base+"/v1/vms", nil), 401, bbus.EUNAUTHENTICATED)
	wantError(t, "submit without a token", call(t, "POST", l.base+"/v1/txs", []byte("x")), 401, bbus.EUNAUTHENTICATED)
	// Health, readiness and the API's description stay open.
	for _, path := range []string{"/healthz", "/readyz", "/v1/openapi.json"} {
		if r := call(t, "GET", l.base+path, nil); r.status != 200 {
			t.Errorf("GET %s without a token: %d %s", path, r.status, r.body)
		}
	}

	read, rt, err := tokens.Create(l.home, tokens.ScopeRead, "auditor")
	if err != nil {
		t.Fatal(err)
	}
	write, wt, err := tokens.Create(l.home, tokens.ScopeWrite, "orchestrator")
	if err != nil {
		t.Fatal(err)
	}
	if list, err := tokens.List(l.home); err != nil || len(list) != 2 || list[0].ID != rt.ID || list[1].ID != wt.ID {
		t.Fatalf("tokens: %+v %v", list, err)
	}
	if r := call(t, "GET", l.base+"/v1/vms", nil, bearer(read)); r.status != 200 {
		t.Fatalf("read with a read token: %d %s", r.status, r.body)
	}
	if r := call(t, "GET", l.base+"/v1/vms", nil, bearer(write)); r.status != 200 {
		t.Fatalf("read with a write token: %d %s", r.status, r.body)
	}
	body := []byte(`{"id":"vm-1","cpu":1,"mem_mib":1}`)
	wantError(t, "write with a read token", call(t, "POST", l.base+"/v1/vms", body, bearer(read)), 403, bbus.EFORBIDDEN)
	wantResult(t, "write with a write token", call(t, "POST", l.base+"/v1/vms", body, bearer(write)), 200)

	if err := tokens.Revoke(l.home, wt.ID); err != nil {
		t.Fatal(err)
	}
	wantError(t, "revoked write token", call(t, "POST", l.base+"/v1/vms", []byte(`{"id":"vm-2","cpu":1,"mem_mib":1}`), bearer(write)), 401, bbus.EUNAUTHENTICATED)
	wantError(t, "revoked token on a read", call(t, "GET", l.base+"/v1/vms", nil, bearer(write)), 401, bbus.EUNAUTHENTICATED)
	if r := call(t, "GET", l.base+"/v1/vms/vm-1", nil, bearer(read)); r.status != 200 {
		t.Errorf("the other token after a revocation: %d %s", r.status, r.body)
	}
	if err := tokens.Revoke(l.home, wt.ID); bbus.ErrorCode(err) != bbus.ENOTFOUND {
		t.Errorf("revoking twice: %v", err)
	}
	if err := tokens.Revoke(l.home, rt.ID); err != nil {
		t.Fatal(err)
	}
	wantError(t, "revoked read token", call(t, "GET", l.base+"/v1/vms", nil, bearer(read)), 401, bbus.EUNAUTHENTICATED)
	// A new token works at once.
	fresh, _, err := tokens.Create(l.home, tokens.ScopeRead, "")
	if err != nil {
		t.Fatal(err)
	}
	if r := call(t, "GET", l.base+"/v1/vms", nil, bearer(fresh)); r.status != 200 {
		t.Errorf("a new token: %d %s", r.status, r.body)
	}
}

// collect reads n events (and any gap) from s, failing after a while.
func collect(t *testing.T, s *client.EventStream, n int) (events []bbus.Event, gaps int) {
	t.Helper()
	type item struct {
		e   *bbus.Event
		err error
	}
	ch := make(chan item, 1)
	for len(events) < n {
		go func() {
			e, err := s.Next()
			ch <- item{e, err}
		}()
		select {
		case it := <-ch:
			var gap *client.GapError
			switch {
			case errors.As(it.err, &gap):
				gaps++
			case it.err != nil:
				t.Fatalf("after %d events: %v", len(events), it.err)
			default:
				events = append(events, *it.e)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("waited 20 s for event %d of %d", len(events)+1, n)
		}
	}
	return events, gaps
}

// TestEvents: a subscriber sees the events of writes made after it subscribed,
// filtered as it asked; a reconnection with the last id it saw misses nothing;
// a resumption from further back than the node holds is told of the gap.
func TestEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := startNode(t, func(c *node.Config) { c.REST.EventBuffer = 64 })
	w := l.client(l.token(t, tokens.ScopeWrite))
	c2 := l.join(t, w, "c2")

	all, err := l.client("").Events(ctx, bbus.EventFilter{}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	mine, err := l.client("").Events(ctx, bbus.EventFilter{VM: "vm-1", Types: []string{"migration"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()

	reg, err := w.RegisterVM(ctx, bbus.VMRequest{ID: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}, true)
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := collect(t, all, 1)
	if e := evs[0]; e.Type != "vm.registered" || e.Attrs["vm"] != "vm-1" || e.Attrs["cloud"] != "local" || e.Tx != reg.TxID || e.Height != reg.Height || e.ID != fmt.Sprintf("%d-0", reg.Height) {
		t.Fatalf("first event: %+v (register %+v)", e, reg)
	}
	// The SSE data is the Event schema of the document.
	checkEventSchema(t, evs[0])

	prop, err := w.ProposeMigration(ctx, bbus.MigrationRequest{VM: "vm-1", To: "c2"}, true)
	if err != nil {
		t.Fatal(err)
	}
	evs, _ = collect(t, mine, 1)
	if e := evs[0]; e.Type != "migration.proposed" || e.Attrs["migration"] != prop.ID || e.Attrs["to"] != "c2" {
		t.Fatalf("filtered stream: %+v", e)
	}
	evs, _ = collect(t, all, 1)
	if evs[0].Type != "migration.proposed" {
		t.Fatalf("second event: %+v", evs[0])
	}
	// The subscriber goes away; more happens; it comes back with its last id.
	last := all.LastID()
	all.Close()
	for _, a := range []bbus.Action{{MigrationAccept: &bbus.MigrationRef{Migration: prop.ID}}, {MigrationComplete: &bbus.MigrationRef{Migration: prop.ID}}} {
		if _, err := l.client("").Send(ctx, c2, a); err != nil {
			t.Fatal(err)
		}
	}
	for i := 2; i <= 4; i++ {
		if _, err := w.RegisterVM(ctx, bbus.VMRequest{ID: fmt.Sprintf("vm-%d", i), Resources: bbus.Resources{CPU: 1, MemMiB: 1}}, true); err != nil {
			t.Fatal(err)
		}
	}
	again, err := l.client("").Events(ctx, bbus.EventFilter{}, last)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	evs, gaps := collect(t, again, 5)
	var types []string
	for _, e := range evs {
		types = append(types, e.Type+" "+e.Attrs["vm"])
	}
	if gaps != 0 || strings.Join(types, ",") != "migration.accepted vm-1,migration.completed vm-1,vm.registered vm-2,vm.registered vm-3,vm.registered vm-4" {
		t.Fatalf("after reconnecting: %d gaps, %v", gaps, types)
	}
	// The whole history from the start, page by page of ids: strictly ordered, no holes.
	from0, err := l.client("").Events(ctx, bbus.EventFilter{}, "0")
	if err != nil {
		t.Fatal(err)
	}
	defer from0.Close()
	hist, gaps := collect(t, from0, 10)
	if gaps != 0 || hist[0].Type != "cloud.invited" || hist[len(hist)-1].Attrs["vm"] != "vm-4" {
		t.Fatalf("from 0: %d gaps, %+v", gaps, hist)
	}
	for i := 1; i < len(hist); i++ {
		p, _ := httpapi.ParseEventPos(hist[i-1].ID)
		q, _ := httpapi.ParseEventPos(hist[i].ID)
		if !p.Less(q) || q.Height == p.Height && q.N != p.N+1 || q.Height != p.Height && q.N != 0 {
			t.Fatalf("event %s follows %s", hist[i].ID, hist[i-1].ID)
		}
	}

	// Past what the node holds: a gap first, then the oldest held.
	for i := 5; i < 75; i++ {
		if _, err := w.RegisterVM(ctx, bbus.VMRequest{ID: fmt.Sprintf("vm-%d", i), Resources: bbus.Resources{CPU: 1, MemMiB: 1}}, i == 74); err != nil {
			t.Fatal(err)
		}
	}
	old, err := l.client("").Events(ctx, bbus.EventFilter{Types: []string{"vm.registered"}}, hist[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	evs, gaps = collect(t, old, 64)
	if gaps != 1 || evs[63].Attrs["vm"] != "vm-74" {
		t.Fatalf("from beyond the buffer: %d gaps, last %+v", gaps, evs[63])
	}

	for _, after := range []string{"x", "1-", "-1", "1-2-3"} {
		wantError(t, "Last-Event-ID "+after, call(t, "GET", l.base+"/v1/events", nil, "Last-Event-ID: "+after), 400, bbus.EINVALID)
	}
	wantError(t, "bad vm filter", call(t, "GET", l.base+"/v1/events?vm=a/b", nil), 400, bbus.EINVALID)
}

// checkEventSchema validates an event against the document's Event schema.
func checkEventSchema(t *testing.T, e bbus.Event) {
	t.Helper()
	b, _ := json.Marshal(e)
	var v any
	json.Unmarshal(b, &v)
	if err := contract.doc.Components.Schemas["Event"].Value.VisitJSON(v); err != nil {
		t.Errorf("event %s does not match the Event schema: %v", b, err)
	}
}

// TestPaginationWhileWriting pages through lists with small pages while
// another writer keeps adding to them: every item there at the start comes
// exactly once, in order, and nothing comes twice.
func TestPaginationWhileWriting(t *testing.T) {
	ctx := context.Background()
	l := startNode(t, nil)
	w := l.client(l.token(t, tokens.ScopeWrite))
	l.join(t, w, "c2")
	const n = 60
	for i := range n {
		if _, err := w.RegisterVM(ctx, bbus.VMRequest{ID: fmt.Sprintf("vm-%03d", 2*i), Resources: bbus.Resources{CPU: 1, MemMiB: 1}}, i == n-1); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n / 2 {
		if _, err := w.ProposeMigration(ctx, bbus.MigrationRequest{VM: fmt.Sprintf("vm-%03d", 2*i), To: "c2"}, i == n/2-1); err != nil {
			t.Fatal(err)
		}
	}
	initialVMs := map[string]bool{}
	for i := range n {
		initialVMs[fmt.Sprintf("vm-%03d", 2*i)] = true
	}
	initialMigs := map[string]bool{}
	for i := 1; i <= n/2; i++ {
		initialMigs[fmt.Sprintf("mig-%d", i)] = true
	}

	// The writer: VMs whose ids fall between the existing ones, and migrations of them.
	stop := make(chan struct{})
	written := make(chan struct{}, 1000)
	var wg sync.WaitGroup
	wg.Add(1)
	var wrote int
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprintf("vm-%03d", 2*(n-1-i%n)+1) // from the end, so some land ahead of the cursor
			if i >= n {
				id = fmt.Sprintf("vm-%03d-%d", 2*(i%n), i)
			}
			if _, err := w.RegisterVM(ctx, bbus.VMRequest{ID: id, Resources: bbus.Resources{CPU: 1, MemMiB: 1}}, true); err != nil {
				t.Error(err)
				return
			}
			if _, err := w.ProposeMigration(ctx, bbus.MigrationRequest{VM: id, To: "c2"}, false); err != nil {
				t.Error(err)
				return
			}
			wrote++
			written <- struct{}{}
		}
	}()
	// Between two pages, at least one write commits.
	between := func() {
		select {
		case <-written:
		case <-time.After(10 * time.Second):
			t.Fatal("the writer is stuck")
		}
	}
	vmIDs := pages(t, l.base+"/v1/vms", 7, func(v bbus.VM) string { return v.ID }, between)
	migIDs := pages(t, l.base+"/v1/migrations?cloud=c2", 4, func(m bbus.Migration) string { return m.ID }, between)
	close(stop)
	wg.Wait()
	if wrote == 0 {
		t.Fatal("the writer wrote nothing while the pages were read")
	}
	check := func(what string, ids []string, initial map[string]bool, less func(a, b string) bool) {
		t.Helper()
		found := 0
		for i, id := range ids {
			if i > 0 && !less(ids[i-1], id) {
				t.Errorf("%s: %s after %s", what, id, ids[i-1])
			}
			if initial[id] {
				found++
			}
		}
		if found != len(initial) {
			t.Errorf("%s: %d of the %d items there at the start came back (%d items in all)", what, found, len(initial), len(ids))
		}
	}
	check("vms", vmIDs, initialVMs, func(a, b string) bool { return a < b })
	check("migrations", migIDs, initialMigs, func(a, b string) bool {
		x, _ := strconv.Atoi(strings.TrimPrefix(a, "mig-"))
		y, _ := strconv.Atoi(strings.TrimPrefix(b, "mig-"))
		return x < y
	})
	t.Logf("paged %d VMs and %d migrations while %d VMs were added", len(vmIDs), len(migIDs), wrote)
}

// TestReplayAndBodies: a replayed signed transaction is refused, garbage is
// 400 and an oversized body 413, on a real node.
func TestReplayAndBodies(t *testing.T) {
	ctx := context.Background()
	l := startNode(t, func(c *node.Config) { c.REST.MaxBodyBytes = 20000 })
	w := l.client(l.token(t, tokens.ScopeWrite))
	c2 := l.join(t, w, "c2")
	raw, _, err := c2.Sign(bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	res := wantResult(t, "submit", call(t, "POST", l.base+"/v1/txs", raw), 200)
	if res.ID != "vm-1" || res.Signer != "c2" {
		t.Fatalf("submit: %+v", res)
	}
	wantError(t, "replay", call(t, "POST", l.base+"/v1/txs", raw), 409, bbus.EREPLAY)
	wantError(t, "replay with a line break", call(t, "POST", l.base+"/v1/txs", append(raw, '\n')), 409, bbus.EREPLAY)
	if _, err := l.client("").Submit(ctx, raw, true); bbus.ErrorCode(err) != bbus.EREPLAY {
		t.Errorf("replay through the client: %v", err)
	}
	for _, garbage := range []string{"hello", "{}", `{"body":{},"sig":""}`, "\x00\x01\x02", `{"body":` + string(raw) + `}`} {
		wantError(t, "garbage "+garbage, call(t, "POST", l.base+"/v1/txs", []byte(garbage)), 400, bbus.EMALFORMED)
	}
	wantError(t, "over the body limit", call(t, "POST", l.base+"/v1/txs", bytes.Repeat([]byte("{"), 20001)), 413, bbus.ETOOLARGE)
	wantError(t, "over the transaction limit", call(t, "POST", l.base+"/v1/txs", bytes.Repeat([]byte("{"), bbus.MaxTxBytes+1)), 413, bbus.ETOOLARGE)
	wantError(t, "empty", call(t, "POST", l.base+"/v1/txs", nil), 400, bbus.EMALFORMED)
}

// TestBlocksAndTxs reads back committed transactions, applied and rejected,
// by id and in their blocks.
func TestBlocksAndTxs(t *testing.T) {
	ctx := context.Background()
	l := startNode(t, nil)
	w := l.client(l.token(t, tokens.ScopeWrite))
	c := l.client("")
	reg, err := w.RegisterVM(ctx, bbus.VMRequest{ID: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}, true)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := w.RegisterVM(ctx, bbus.VMRequest{ID: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}, true)
	if bbus.ErrorCode(err) != bbus.EEXISTS || bad == nil {
		t.Fatalf("duplicate: %+v %v", bad, err)
	}

	tx, err := c.Tx(ctx, reg.TxID)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Height != reg.Height || tx.Index != reg.Index || tx.Hash != reg.Hash || tx.ID != "vm-1" || tx.Code != "" ||
		tx.Type != "vm_register" || tx.Body == nil || tx.Body.Action.VMRegister.VM != "vm-1" || tx.Time.IsZero() {
		t.Fatalf("tx: %+v (registered %+v)", tx, reg)
	}
	if d, err := bbus.DecodeTx(tx.Raw); err != nil || d.ID != reg.TxID {
		t.Fatalf("raw bytes of the tx: %v", err)
	}
	tx, err = c.Tx(ctx, strings.ToUpper(bad.TxID))
	if err != nil || tx.Code != bbus.EEXISTS || tx.Height != bad.Height {
		t.Fatalf("rejected tx: %+v %v", tx, err)
	}

	b, err := c.Block(ctx, reg.Height)
	if err != nil {
		t.Fatal(err)
	}
	if b.Height != reg.Height || len(b.Txs) == 0 || b.Hash == "" || b.Time.IsZero() || b.Proposer == "" {
		t.Fatalf("block: %+v", b)
	}
	found := false
	for _, x := range b.Txs {
		found = found || x.TxID == reg.TxID && x.ID == "vm-1" && x.Code == ""
	}
	if !found {
		t.Errorf("block %d lacks the registration: %+v", reg.Height, b.Txs)
	}
	b, err = c.Block(ctx, bad.Height)
	if err != nil || len(b.Txs) != 1 || b.Txs[0].Code != bbus.EEXISTS {
		t.Fatalf("block of the rejected tx: %+v %v", b, err)
	}

	_, err = c.Tx(ctx, strings.Repeat("0", 64))
	wantCodeErr(t, "unknown tx", err, bbus.ENOTFOUND)
	_, err = c.Tx(ctx, "abc")
	wantCodeErr(t, "short tx id", err, bbus.EINVALID)
	_, err = c.Block(ctx, 1<<40)
	wantCodeErr(t, "future block", err, bbus.ENOTFOUND)
	_, err = c.Block(ctx, 0)
	wantCodeErr(t, "block 0", err, bbus.EINVALID)
	wantError(t, "height x", call(t, "GET", l.base+"/v1/blocks/x", nil), 400, bbus.EINVALID)
}

// TestMetricsAndReadiness: /metrics shows bbus's and CometBFT's series on the
// API's port; /readyz says the node caught up.
func TestMetricsAndReadiness(t *testing.T) {
	ctx := context.Background()
	l := startNode(t, nil)
	w := l.client(l.token(t, tokens.ScopeWrite))
	if _, err := w.RegisterVM(ctx, bbus.VMRequest{ID: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := w.RegisterVM(ctx, bbus.VMRequest{ID: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}, true); bbus.ErrorCode(err) != bbus.EEXISTS {
		t.Fatal(err)
	}
	call(t, "GET", l.base+"/v1/vms/nope", nil)
	r := call(t, "GET", l.base+"/metrics", nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", r.status, r.header.Get("Content-Type"))
	}
	text := string(r.body)
	for _, want := range []string{
		`bbus_txs_total{result="ok",type="vm_register"} 1`,
		`bbus_txs_total{result="already_exists",type="vm_register"} 1`,
		`bbus_submit_commit_seconds_count 2`,
		`bbus_state_bytes `,
		`bbus_height `,
		`bbus_ledger_internal_errors_total 0`,
		`bbus_api_requests_total{route="POST /v1/vms",status="200"} 1`,
		`bbus_api_requests_total{route="POST /v1/vms",status="409"} 1`,
		`bbus_api_requests_total{route="GET /v1/vms/{id}",status="404"} 1`,
		`bbus_api_request_duration_seconds_bucket{route="POST /v1/vms",le=`,
		`cometbft_consensus_height{chain_id="bbus-local"} `,
		`cometbft_mempool_size{chain_id="bbus-local"} `,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	ready, err := l.client("").Ready(ctx)
	if err != nil || ready.Status != "ready" || ready.Height < 2 {
		t.Fatalf("ready: %+v %v", ready, err)
	}
	if err := l.client("").Health(ctx); err != nil {
		t.Fatal(err)
	}
	doc, err := l.client("").OpenAPI(ctx)
	if err != nil || !bytes.Equal(append(doc, '\n'), httpapi.OpenAPI()) && !bytes.Equal(doc, httpapi.OpenAPI()) {
		t.Fatalf("openapi through the client: %v", err)
	}
}

// notReady is a backend whose node is still catching up.
type notReady struct{ *ledgertest.Chain }

func (n notReady) Status(ctx context.Context) (*bbus.Status, error) {
	st, err := n.Chain.Status(ctx)
	if st != nil {
		st.CatchingUp = true
	}
	return st, err
}

func TestReadinessWhileCatchingUp(t *testing.T) {
	base := serve(t, notReady{ledgertest.New()}, httpapi.Options{})
	wantError(t, "catching up", call(t, "GET", base+"/readyz", nil), 503, bbus.EUNAVAILABLE)
	if r := call(t, "GET", base+"/healthz", nil); r.status != 200 {
		t.Errorf("healthz while catching up: %d", r.status)
	}
}

// TestRateLimit: a token over its rate gets 429 with Retry-After; callers on
// the node's own machine without a token are not limited.
func TestRateLimit(t *testing.T) {
	l := startNode(t, func(c *node.Config) { c.REST.RateLimit, c.REST.RateBurst = 0.5, 3 })
	tok := l.token(t, tokens.ScopeRead)
	for i := range 3 {
		if r := call(t, "GET", l.base+"/v1/clouds", nil, bearer(tok)); r.status != 200 {
			t.Fatalf("request %d within the burst: %d %s", i+1, r.status, r.body)
		}
	}
	r := call(t, "GET", l.base+"/v1/clouds", nil, bearer(tok))
	wantError(t, "over the rate", r, 429, bbus.ERATELIMITED)
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 2 {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// Another token has its own bucket; the local anonymous caller has none.
	other := l.token(t, tokens.ScopeRead)
	if r := call(t, "GET", l.base+"/v1/clouds", nil, bearer(other)); r.status != 200 {
		t.Errorf("another token: %d", r.status)
	}
	for range 10 {
		if r := call(t, "GET", l.base+"/v1/clouds", nil); r.status != 200 {
			t.Fatalf("local caller without a token: %d", r.status)
		}
	}
	_, _, err := l.client(tok).Clouds(context.Background(), bbus.Page{})
	wantCodeErr(t, "limited through the client", err, bbus.ERATELIMITED)
}

// TestCORS: no CORS headers unless configured; an allowed origin gets them
// and its preflight is answered.
func TestCORS(t *testing.T) {
	base := serve(t, ledgertest.New(), httpapi.Options{})
	if r := call(t, "GET", base+"/v1/status", nil, "Origin: https://evil.example"); r.status != 403 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS without configuration: %d %v", r.status, r.header)
	}
	base = serve(t, ledgertest.New(), httpapi.Options{CORSOrigins: []string{"https://dash.example"}})
	if r := call(t, "GET", base+"/v1/status", nil, "Origin: https://dash.example"); r.header.Get("Access-Control-Allow-Origin") != "https://dash.example" {
		t.Errorf("allowed origin: %v", r.header)
	}
	if r := call(t, "GET", base+"/v1/status", nil, "Origin: https://evil.example"); r.status != 403 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin: %d %v", r.status, r.header)
	}
	r := call(t, "OPTIONS", base+"/v1/vms", nil, "Origin: https://dash.example", "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: authorization")
	if r.status != 204 || !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", r.status, r.header)
	}
}
