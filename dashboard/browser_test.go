package dashboard_test

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/node"
	"github.com/bbusdev/bbus/tokens"
)

var screenshotDir = flag.String("screenshots", "",
	"folder for the browser test's screenshots (default: bbus-dashboard-screenshots in the system's temporary folder)")

// chromiumPath is the browser the tests drive: Debian's chromium, which
// .ci/run installs, or the one BBUS_CHROMIUM names.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("BBUS_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("BBUS_SKIP_BROWSER") == "1" {
			t.Skipf("no browser at %s and BBUS_SKIP_BROWSER=1: skipping the browser test", p)
		}
		t.Fatalf("no browser at %s: install Debian's chromium (apt-get install -y chromium, as .ci/run does), "+
			"point BBUS_CHROMIUM at another Chromium, or set BBUS_SKIP_BROWSER=1 to skip this test", p)
	}
	return p
}

// federation is a real node with three clouds and an oracle, whose keys the
// test holds, so that it can sign as any of them.
type federation struct {
	n       *node.Node
	home    string
	base    string // http://127.0.0.1:PORT
	signers map[string]client.Signer
}

// startNode starts a real single-validator node of cloud "local" on
// loopback, with settings changed by tune if it is not nil.
func startNode(t *testing.T, tune func(c *node.Config)) *federation {
	t.Helper()
	home := t.TempDir()
	cfg := node.DefaultConfig("local")
	// A p2p port of its own choosing (not CometBFT's default, which other
	// packages' nodes may hold; not one found free and closed, which another
	// program could take before the node binds it).
	cfg.P2PListen = "tcp://127.0.0.1:0"
	if tune != nil {
		tune(&cfg)
	}
	if _, err := node.Init(node.InitOptions{Home: home, Cloud: "local", Config: &cfg}); err != nil {
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
	st, err := n.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f := &federation{n: n, home: home, base: "http://" + n.APIAddr(), signers: map[string]client.Signer{}}
	for _, id := range []string{"local", "cloud1", "cloud2", "oracle1"} {
		k, err := keys.Load(home, id)
		if err != nil {
			k, err = keys.Add(home, id)
		}
		if err != nil {
			t.Fatal(err)
		}
		f.signers[id] = client.Signer{ChainID: st.ChainID, ID: id, Key: k.PrivKey}
	}
	return f
}

// send signs action as from, submits it and waits for its commit; the ledger
// must apply it.
func (f *federation) send(t *testing.T, from string, a bbus.Action) *bbus.TxResult {
	t.Helper()
	raw, _, err := f.signers[from].Sign(a)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.n.Submit(context.Background(), raw, true)
	if err != nil || res.Code != "" {
		t.Fatalf("%s by %s: %+v %v", a.Type(), from, res, err)
	}
	return res
}

func pub(f *federation, id string) []byte {
	return f.signers[id].Key.Public().(ed25519.PublicKey)
}

// scenario is what the browser test expects the dashboard to show.
type scenario struct {
	propose *bbus.TxResult // local proposes vm-1 to cloud1 under agr-1
	report  *bbus.TxResult // oracle1's report that makes vio-1
}

// buildScenario records, in this order: cloud1 and oracle1 join and are
// admitted, cloud2 joins and is admitted, local registers vm-1 and cloud2
// vm-2, cloud1 and local agree terms (agr-1), vm-1 migrates from local to
// cloud1 under them (mig-1), an oracle reports a missed availability objective
// on cloud1 (vio-1), and cloud1 closes its invoice to local (inv-1).
func buildScenario(t *testing.T, f *federation) scenario {
	capacity := bbus.Resources{CPU: 64, MemMiB: 65536, DiskIOPS: 10000, NetMbps: 1000}
	// Each invitation is local's vote: alone, it admits cloud1; with cloud1, the others.
	f.send(t, "local", bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "cloud1", PubKey: pub(f, "cloud1")}})
	f.send(t, "cloud1", bbus.Action{CloudJoin: &bbus.CloudJoin{Name: "Cloud One", PubKey: pub(f, "cloud1"), Resources: capacity}})
	f.send(t, "local", bbus.Action{OracleInvite: &bbus.OracleInvite{Oracle: "oracle1", PubKey: pub(f, "oracle1")}})
	f.send(t, "oracle1", bbus.Action{OracleJoin: &bbus.OracleJoin{Name: "Probe", PubKey: pub(f, "oracle1")}})
	f.send(t, "cloud1", bbus.Action{OracleApprove: &bbus.OracleApprove{Oracle: "oracle1", PubKey: pub(f, "oracle1")}})
	f.send(t, "local", bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: "cloud2", PubKey: pub(f, "cloud2")}})
	f.send(t, "cloud2", bbus.Action{CloudJoin: &bbus.CloudJoin{Name: "Cloud Two", PubKey: pub(f, "cloud2"), Resources: capacity}})
	f.send(t, "cloud1", bbus.Action{CloudApprove: &bbus.CloudApprove{Cloud: "cloud2", PubKey: pub(f, "cloud2")}})

	f.send(t, "local", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-1", Resources: bbus.Resources{CPU: 16, MemMiB: 16384, DiskIOPS: 2000, NetMbps: 100}}})
	f.send(t, "cloud2", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-2", Resources: bbus.Resources{CPU: 8, MemMiB: 32768}}})
	// 0.5 credits per vCPU-hour, 99.9 % availability, 10 % of a missed part's charge back.
	f.send(t, "cloud1", bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: "cloud1", Consumer: "local",
		PriceVCPUHour: 500_000, Availability: 99_900, PenaltyPct: 10_000}})
	f.send(t, "local", bbus.Action{AgreementSign: &bbus.AgreementRef{Agreement: "agr-1"}})
	var sc scenario
	sc.propose = f.send(t, "local", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm-1", To: "cloud1", Agreement: "agr-1"}})
	f.send(t, "cloud1", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: "mig-1"}})
	f.send(t, "cloud1", bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: "mig-1"}})

	// A report covers a window of block time that has passed: wait for one
	// on cloud1, two whole seconds long, to be over.
	var arrived time.Time
	if c, err := client.New(f.base).VMHistory(context.Background(), "vm-1"); err != nil || len(c.Intervals) != 2 {
		t.Fatalf("history of vm-1: %+v %v", c, err)
	} else {
		arrived = c.Intervals[1].Start.At
	}
	start := arrived.Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(start.Add(3300 * time.Millisecond)))
	// A block's time is its predecessor's commit time: after the idle wait, one
	// block brings the chain's clock up to now.
	f.send(t, "cloud1", bbus.Action{OfferPublish: &bbus.OfferPublish{Resources: bbus.Resources{CPU: 32, MemMiB: 32768},
		PriceVCPUHour: 500_000, Tags: []bbus.Tag{{Key: "region", Value: "eu"}}}})
	sc.report = f.send(t, "oracle1", bbus.Action{Report: &bbus.ReportAction{VM: "vm-1", Start: start.Unix(), End: start.Add(2 * time.Second).Unix(), Availability: 95_000}})
	f.send(t, "cloud1", bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: "cloud1", Consumer: "local", Until: start.Add(3 * time.Second).Unix()}})
	return sc
}

// browser starts headless Chromium at 1280x800 for the test and returns a
// tab. Uncaught exceptions, console.error calls and security errors (a
// refused script or style) in the page fail the test.
func browser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	var mu sync.Mutex
	var problems []string
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleError && m.Source != "network" {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s %s (%s:%d)", m.Type, m.Text, m.URL, m.Line))
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("browser console: %s", p)
		}
	})
	return ctx
}

// shots saves screenshots of the views into a folder that outlives the test.
type shots struct {
	dir string
	n   int
}

func newShots(t *testing.T) *shots {
	dir := *screenshotDir
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "bbus-dashboard-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return &shots{dir: dir}
}

func (s *shots) take(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	s.n++
	p := filepath.Join(s.dir, fmt.Sprintf("%02d-%s.png", s.n, name))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Error(err)
	}
}

// within runs actions with a deadline, so a missing element fails the test
// instead of hanging it.
func within(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitFor waits until a JavaScript expression is true in the page.
func waitFor(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(c, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s (%s): %v", what, expr, err)
	}
}

// TestDashboardInBrowser drives the dashboard in headless Chromium against a
// real node with three clouds, an oracle, a VM migrated under an agreement, an
// SLA violation and an invoice: the overview shows the clouds, the VM timeline
// shows its hosts in order, the live feed shows a migration committed after
// the page loaded, search finds transactions by hash and by id, and every
// main view renders, keyboard-usable, at 1280x800 and at phone width.
func TestDashboardInBrowser(t *testing.T) {
	path := chromiumPath(t)
	f := startNode(t, nil)
	sc := buildScenario(t, f)
	ctx := browser(t, path)
	shot := newShots(t)

	// Overview: the three clouds with their capacity bars, and the counts.
	within(t, ctx, "overview", chromedp.Navigate(f.base+"/"), chromedp.WaitVisible(chromedp.CSS(`article.cloud[data-cloud="cloud2"]`)))
	if got := eval[[]string](t, ctx, `[...document.querySelectorAll('article.cloud')].map(a => a.dataset.cloud)`); !slices.Equal(got, []string{"cloud1", "cloud2", "local"}) {
		t.Errorf("overview clouds %v, want cloud1, cloud2, local", got)
	}
	if got := eval[int](t, ctx, `document.querySelectorAll('article.cloud [role=meter]').length`); got != 3*5 {
		t.Errorf("overview has %d meters, want 5 per cloud (4 resources and reputation)", got)
	}
	// cloud1 hosts vm-1's 16 vCPU of its 64.
	if got := eval[string](t, ctx, `document.querySelector('article.cloud[data-cloud="cloud1"] [role=meter]').getAttribute('aria-valuetext')`); !strings.HasPrefix(got, "16 of 64") {
		t.Errorf("cloud1 vCPU meter says %q", got)
	}
	if got := eval[string](t, ctx, `document.querySelector('[data-count="SLA violations"]').textContent`); got != "1" {
		t.Errorf("violations count %q, want 1", got)
	}
	if got := eval[string](t, ctx, `document.querySelector('article.cloud[data-cloud="local"] .validator').textContent`); !strings.HasPrefix(got, "Validator") {
		t.Errorf("local's validator line %q", got)
	}
	// Beside the clouds, the oracle: its one report agreed with its window's combined value.
	if got := eval[string](t, ctx, `document.querySelector('#oracles article.oracle[data-oracle="oracle1"]').textContent`); !strings.Contains(got, "1 of 1 reports in decided windows agreed") || !strings.Contains(got, "100") {
		t.Errorf("oracle1's card %q", got)
	}
	shot.take(t, ctx, "overview")

	// Keyboard: the first Tab reaches the skip link, visibly focused, and it
	// leads to the content.
	within(t, ctx, "tab", chromedp.KeyEvent("\t"))
	if got := eval[string](t, ctx, `document.activeElement.className + ' ' + getComputedStyle(document.activeElement).outlineStyle`); got != "skip solid" {
		t.Errorf("first Tab focuses %q, want the skip link with a solid outline", got)
	}
	within(t, ctx, "enter", chromedp.KeyEvent("\r"))
	waitFor(t, ctx, "focus on main", `document.activeElement.id === 'main'`)
	if n := eval[int](t, ctx, `document.querySelectorAll('[onclick], div[role=button], span[role=button]').length`); n != 0 {
		t.Errorf("%d clickable non-buttons", n)
	}

	// The VM timeline: vm-1 ran on local, then on cloud1.
	within(t, ctx, "vm view", chromedp.Navigate(f.base+"/#/vm/vm-1"), chromedp.WaitVisible(chromedp.CSS(`#timeline svg .bar-iv`)))
	if got := eval[[]string](t, ctx, `[...document.querySelectorAll('#timeline .bar-iv')].map(g => g.dataset.cloud)`); !slices.Equal(got, []string{"local", "cloud1"}) {
		t.Errorf("timeline bars %v, want local then cloud1", got)
	}
	if got := eval[[]string](t, ctx, `[...document.querySelectorAll('#timeline .row-label')].map(e => e.textContent)`); !slices.Equal(got, []string{"local", "cloud1"}) {
		t.Errorf("timeline rows %v, want local then cloud1", got)
	}
	// Both clouds' signatures of mig-1, with their blocks.
	migRow := eval[string](t, ctx, `document.querySelector('#migrations tbody tr').textContent`)
	if !strings.Contains(migRow, "mig-1") || !strings.Contains(migRow, fmt.Sprintf("#%d", sc.propose.Height)) || strings.Count(migRow, "#") < 3 {
		t.Errorf("migration row %q: want mig-1 proposed at #%d, accepted and completed", migRow, sc.propose.Height)
	}
	if got := eval[string](t, ctx, `document.querySelector('#violations tbody').textContent`); !strings.Contains(got, "vio-1") || !strings.Contains(got, "95 %") {
		t.Errorf("vm violations %q", got)
	}
	// The window behind vio-1: oracle1's report, the combined value, decided.
	if got := eval[string](t, ctx, `document.querySelector('#windows tbody tr[data-status="decided"] td[data-oracle="oracle1"]').textContent`); !strings.Contains(got, "95 %") || !strings.Contains(got, "agree") {
		t.Errorf("vm-1's window, oracle1's report %q", got)
	}
	if got := eval[string](t, ctx, `document.querySelector('#windows tbody tr[data-status="decided"]').textContent`); !strings.Contains(got, "vio-1") {
		t.Errorf("vm-1's decided window %q, want its violation vio-1", got)
	}
	if got := eval[string](t, ctx, `document.getElementById('evidence-link').getAttribute('href')`); got != "/v1/evidence?vm=vm-1" {
		t.Errorf("evidence link %q", got)
	} else if res, err := http.Get(f.base + got); err != nil || res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("the evidence link answers %v %v", res, err)
	} else {
		res.Body.Close()
	}
	shot.take(t, ctx, "vm")

	// Live feed: load the page, then commit a migration; it appears without reload.
	within(t, ctx, "live feed", chromedp.Navigate(f.base+"/#/live"), chromedp.WaitVisible(chromedp.CSS(`#feed`)))
	waitFor(t, ctx, "the event stream", `document.getElementById('live').dataset.mode === 'open'`)
	eval[bool](t, ctx, `window.bbusLoaded = true`)
	f.send(t, "cloud1", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm-1", To: "cloud2"}})
	f.send(t, "cloud2", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: "mig-2"}})
	done := f.send(t, "cloud2", bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: "mig-2"}})
	waitFor(t, ctx, "mig-2 in the feed", `[...document.querySelectorAll('#feed li.event[data-type="migration.completed"]')].some(e => e.textContent.includes('mig-2'))`)
	if !eval[bool](t, ctx, `window.bbusLoaded === true`) {
		t.Error("the page reloaded")
	}
	if got := eval[string](t, ctx, fmt.Sprintf(`document.querySelector('#feed li.block-group[data-height="%d"] .block-head').textContent`, done.Height)); !strings.Contains(got, fmt.Sprintf("Block #%d", done.Height)) {
		t.Errorf("feed block head %q, want block %d", got, done.Height)
	}
	shot.take(t, ctx, "live-feed")

	// The timeline again: local, cloud1, cloud2, in that order.
	within(t, ctx, "vm view again", chromedp.Navigate(f.base+"/#/vm/vm-1"), chromedp.WaitVisible(chromedp.CSS(`#timeline .bar-iv[data-cloud="cloud2"]`)))
	if got := eval[[]string](t, ctx, `[...document.querySelectorAll('#timeline .bar-iv')].map(g => g.dataset.cloud)`); !slices.Equal(got, []string{"local", "cloud1", "cloud2"}) {
		t.Errorf("timeline bars %v, want local, cloud1, cloud2", got)
	}
	shot.take(t, ctx, "vm-after-second-migration")

	clearSearch := chromedp.Evaluate[chromedp.Void](`document.getElementById('q').value = ''`)
	// Search by the consensus hash of mig-1's proposal (which the node does
	// not index), from the header's search box.
	within(t, ctx, "search by hash",
		clearSearch,
		chromedp.SendKeys(chromedp.ID("q"), sc.propose.Hash+"\r"),
		chromedp.WaitVisible(chromedp.ID("tx-hash")))
	if got := eval[string](t, ctx, `document.getElementById('tx-hash').textContent + ' ' + document.querySelector('.tx-type').textContent`); got != sc.propose.Hash+" migration_propose" {
		t.Errorf("search by hash shows %q", got)
	}
	if got := eval[string](t, ctx, `document.querySelector('dl.action').textContent`); !strings.Contains(got, "vm-1") || !strings.Contains(got, "agr-1") {
		t.Errorf("decoded action %q", got)
	}
	shot.take(t, ctx, "tx")
	// By the bbus id of the report, lower case.
	within(t, ctx, "search by id",
		clearSearch,
		chromedp.SendKeys(chromedp.ID("q"), sc.report.TxID+"\r"),
		chromedp.Poll[chromedp.Void](`location.hash === '#/tx/`+sc.report.TxID+`' && document.getElementById('tx-id') && document.getElementById('tx-id').textContent === '`+sc.report.TxID+`'`))
	// By a VM id and a cloud id.
	within(t, ctx, "search vm-2", clearSearch, chromedp.SendKeys(chromedp.ID("q"), "vm-2\r"),
		chromedp.Poll[chromedp.Void](`location.hash === '#/vm/vm-2' && document.querySelector('#timeline .bar-iv[data-cloud="cloud2"]') !== null`))
	within(t, ctx, "search cloud1", clearSearch, chromedp.SendKeys(chromedp.ID("q"), "cloud1\r"),
		chromedp.Poll[chromedp.Void](`location.hash === '#/cloud/cloud1' && document.querySelector('h1').textContent.includes('cloud1')`))

	// The migration graph: one edge local -> cloud1 and one cloud1 -> cloud2.
	within(t, ctx, "graph", chromedp.Navigate(f.base+"/#/graph"), chromedp.WaitVisible(chromedp.CSS(`#graph svg .edge`)))
	if got := eval[[]string](t, ctx, `[...document.querySelectorAll('#graph .edge')].map(e => e.dataset.from + '>' + e.dataset.to + ':' + e.dataset.n).sort()`); !slices.Equal(got, []string{"cloud1>cloud2:1", "local>cloud1:1"}) {
		t.Errorf("graph edges %v", got)
	}
	shot.take(t, ctx, "graph")

	// SLA violations and the invoice cloud1 sent local, with its two lines.
	within(t, ctx, "sla", chromedp.Navigate(f.base+"/#/sla"), chromedp.WaitVisible(chromedp.CSS(`article.pair[data-pair="cloud1>local"] table.lines`)))
	if got := eval[[]string](t, ctx, `[...document.querySelectorAll('article.pair[data-pair="cloud1>local"] table.lines tbody tr')].map(r => r.className)`); !slices.Equal(got, []string{"hosting", "penalty"}) {
		t.Errorf("invoice lines %v, want hosting and penalty", got)
	}
	if got := eval[string](t, ctx, `document.querySelector('#violations tbody').textContent`); !strings.Contains(got, "vio-1") || !strings.Contains(got, "0.000444") {
		t.Errorf("violations table %q: want vio-1 with its 444 micro-credit penalty (2 s x 16 vCPU x 0.5 per vCPU-hour, 10 percent)", got)
	}
	shot.take(t, ctx, "sla-invoices")

	// Blocks: the latest, and mig-1's block with its transaction decoded.
	within(t, ctx, "blocks", chromedp.Navigate(f.base+"/#/blocks"), chromedp.WaitVisible(chromedp.CSS(`#blocks tbody tr`)))
	shot.take(t, ctx, "blocks")
	within(t, ctx, "block", chromedp.Navigate(fmt.Sprintf("%s/#/block/%d", f.base, sc.propose.Height)),
		chromedp.WaitVisible(chromedp.CSS(`#block-txs dl.action[data-action="migration_propose"]`)))
	shot.take(t, ctx, "block")

	// Phone width: nothing wider than the screen but what scrolls in its own box.
	within(t, ctx, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)), chromedp.Navigate(f.base+"/#/"),
		chromedp.WaitVisible(chromedp.CSS(`article.cloud[data-cloud="cloud2"]`)))
	for _, view := range []string{"overview", "vm"} {
		if view == "vm" {
			within(t, ctx, "phone vm", chromedp.Navigate(f.base+"/#/vm/vm-1"), chromedp.WaitVisible(chromedp.CSS(`#timeline svg`)))
		}
		if w := eval[int](t, ctx, `document.documentElement.scrollWidth`); w > 390 {
			t.Errorf("%s at phone width is %d px wide", view, w)
		}
		shot.take(t, ctx, "phone-"+view)
	}
}

// TestDashboardWithReadToken runs the dashboard against a node that wants a
// token for every read: the page asks for one, and with it shows the
// federation and follows the event stream (which carries the token too).
func TestDashboardWithReadToken(t *testing.T) {
	path := chromiumPath(t)
	f := startNode(t, func(c *node.Config) { c.REST.Reads = "token" })
	secret, _, err := tokens.Create(f.home, "read", "dashboard")
	if err != nil {
		t.Fatal(err)
	}
	ctx := browser(t, path)
	within(t, ctx, "token prompt", chromedp.Navigate(f.base+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	within(t, ctx, "token", chromedp.SendKeys(chromedp.ID("token"), secret+"\r"),
		chromedp.WaitVisible(chromedp.CSS(`article.cloud[data-cloud="local"]`)))
	waitFor(t, ctx, "the event stream", `document.getElementById('live').dataset.mode === 'open'`)
	// The tab keeps the token for its session: a reload does not ask again.
	within(t, ctx, "live feed", chromedp.Navigate(f.base+"/#/live"), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("feed")))
	waitFor(t, ctx, "the event stream after the reload", `document.getElementById('live').dataset.mode === 'open'`)
	if eval[bool](t, ctx, `!document.getElementById('auth').hidden`) {
		t.Error("the token prompt came back after a reload")
	}
	f.send(t, "local", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-t", Resources: bbus.Resources{CPU: 1, MemMiB: 512}}})
	waitFor(t, ctx, "vm-t in the feed", `[...document.querySelectorAll('#feed li.event[data-type="vm.registered"]')].some(e => e.textContent.includes('vm-t'))`)
}
