package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/node"
)

// attackPage is a page of another origin whose script sends signed
// transactions to the node at node: one with fetch (mode no-cors, text/plain,
// what a page may send without asking the node) and one as a form posted with
// enctype text/plain, whose body, name=value, is the transaction's own bytes
// when the name is what comes before its first "=" and the value the rest.
func attackPage(node string, viaFetch, viaForm []byte) string {
	js := func(b []byte) string { s, _ := json.Marshal(string(b)); return string(s) }
	form := string(viaForm)
	eq := strings.IndexByte(form, '=')
	return fmt.Sprintf(`<!doctype html><title>another site</title>
<iframe name="sink" id="sink"></iframe>
<script>
window.fetchDone = '';
window.formDone = false;
fetch(%[1]s + '/v1/txs', {method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'}, body: %[2]s})
  .then(() => { window.fetchDone = 'sent'; }, (e) => { window.fetchDone = 'failed: ' + e; });
const f = document.createElement('form');
f.method = 'POST';
f.action = %[1]s + '/v1/txs';
f.enctype = 'text/plain';
f.target = 'sink';
const i = document.createElement('input');
i.type = 'hidden';
i.name = %[3]s;
i.value = %[4]s;
f.appendChild(i);
document.body.appendChild(f);
document.getElementById('sink').addEventListener('load', () => { window.formDone = true; });
f.submit();
</script>`, js([]byte(node)), js(viaFetch), js([]byte(form[:eq])), js([]byte(form[eq+1:])))
}

// TestOtherOriginCannotWrite: a page of another site, opened in a real
// browser, posts signed transactions to the node on loopback (a fetch in
// no-cors mode with text/plain, and a text/plain form); the node refuses both
// and the ledger does not change. The same transactions, sent by a client,
// commit: they were refused for where they came from. The dashboard, the
// node's own origin, still works.
func TestOtherOriginCannotWrite(t *testing.T) {
	path := chromiumPath(t)
	f := startNode(t, func(c *node.Config) { c.CreateEmptyBlocksInterval = 0 })
	viaFetch, _, err := f.signers["local"].Sign(bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-fetch", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	viaForm, _, err := f.signers["local"].Sign(bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-form", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}})
	if err != nil || !strings.Contains(string(viaForm), "=") {
		t.Fatalf("signed %s %v", viaForm, err)
	}
	// Another site: localhost on another port (the node is at 127.0.0.1).
	page := attackPage(f.base, viaFetch, viaForm)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	}))
	other.Listener.Close()
	other.Listener = ln
	other.Start()
	t.Cleanup(other.Close)
	otherURL := fmt.Sprintf("http://localhost:%d/", ln.Addr().(*net.TCPAddr).Port)

	before := settle(t, f)
	ctx := browser(t, path)
	within(t, ctx, "the other site's page", chromedp.Navigate(otherURL))
	waitFor(t, ctx, "the fetch", `window.fetchDone !== ''`)
	waitFor(t, ctx, "the form's answer", `window.formDone === true`)
	if got := eval[string](t, ctx, `window.fetchDone`); got != "sent" {
		t.Logf("the fetch: %s", got)
	}
	if after := settle(t, f); after != before {
		t.Fatalf("the other site's page changed the ledger: %s -> %s", before, after)
	}
	for _, vm := range []string{"vm-fetch", "vm-form"} {
		resp, err := http.Get(f.base + "/v1/vms/" + vm)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", vm, resp.StatusCode)
		}
	}
	// The same bytes from a client commit: only their origin was refused.
	for _, raw := range [][]byte{viaFetch, viaForm} {
		if res, err := f.n.Submit(context.Background(), raw, true); err != nil || res.Code != "" {
			t.Fatalf("the page's transaction from a client: %+v %v", res, err)
		}
	}
	// The dashboard, served by the node itself, reads the ledger.
	within(t, ctx, "the dashboard", chromedp.Navigate(f.base+"/"), chromedp.WaitVisible(chromedp.CSS(`article.cloud[data-cloud="local"]`)))
	waitFor(t, ctx, "the dashboard's event stream", `document.getElementById('live').dataset.mode === 'open'`)
}

// settle waits until the node makes no blocks of its own and returns its
// height and app hash. With empty blocks off, CometBFT follows a block that
// changed the app hash with one that carries it in its header: the chain is
// still once the last block's header holds the state's app hash (a quiet
// spell alone is not enough: on a loaded machine that block may be late). The
// state must also stay the same over a spell, which catches any other block.
func settle(t *testing.T, f *federation) string {
	t.Helper()
	state := func() *bbus.Status {
		st, err := f.n.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	key := func(st *bbus.Status) string { return fmt.Sprintf("height %d app hash %s", st.Height, st.AppHash) }
	deadline := time.Now().Add(60 * time.Second) // a liveness bound only
	prev := state()
	for {
		time.Sleep(300 * time.Millisecond)
		cur := state()
		if key(cur) == key(prev) && cur.Height > 0 {
			b, err := f.n.Block(context.Background(), cur.Height)
			if err != nil {
				t.Fatal(err)
			}
			if b.AppHash == cur.AppHash {
				return key(cur)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node never stopped making blocks: %s", key(cur))
		}
		prev = cur
	}
}
