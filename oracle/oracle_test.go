package oracle

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
	"github.com/bbusdev/bbus/httpapi"
	"github.com/bbusdev/bbus/internal/ledgertest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestConfigRefusesWhatItCannotMeasure(t *testing.T) {
	good := func() Config {
		c := DefaultConfig()
		c.VMs = []VMConfig{{VM: "vm-1", Probe: "https://vm-1.example/health"}, {VM: "vm-2", Probe: "tcp://10.0.0.2:22"}}
		return c
	}
	if c := good(); c.Validate() != nil {
		t.Fatalf("the defaults with two VMs: %v", c.Validate())
	}
	for name, change := range map[string]func(*Config){
		"half a second period": func(c *Config) { c.Period = Duration(1500 * time.Millisecond) },
		"no period":            func(c *Config) { c.Period = 0 },
		"interval over period": func(c *Config) { c.ProbeInterval = Duration(2 * time.Minute) },
		"timeout over interval": func(c *Config) {
			c.Timeout = Duration(10 * time.Second)
		},
		"percentile 0":      func(c *Config) { c.LatencyPercentile = 0 },
		"percentile 101":    func(c *Config) { c.LatencyPercentile = 101 },
		"no tx ttl":         func(c *Config) { c.TxTTL = 0 },
		"no VM":             func(c *Config) { c.VMs = nil },
		"VM twice":          func(c *Config) { c.VMs[1].VM = "vm-1" },
		"bad VM id":         func(c *Config) { c.VMs[0].VM = "vm 1" },
		"icmp":              func(c *Config) { c.VMs[0].Probe = "icmp://10.0.0.1" },
		"tcp without port":  func(c *Config) { c.VMs[1].Probe = "tcp://10.0.0.2" },
		"http without host": func(c *Config) { c.VMs[0].Probe = "http:///health" },
	} {
		c := good()
		change(&c)
		if err := c.Validate(); bbus.ErrorCode(err) != bbus.EINVALID || bbus.ErrorMessage(err) == "" {
			t.Errorf("%s: %v, want an invalid error", name, err)
		}
	}

	path := filepath.Join(t.TempDir(), "oracle.json")
	os.WriteFile(path, []byte(`{"period": "10s", "vms": [{"vm": "vm-1", "probe": "tcp://127.0.0.1:1"}]}`), 0o600)
	c, err := LoadConfig(path)
	if err != nil || c.Period != Duration(10*time.Second) || c.ProbeInterval != Duration(5*time.Second) || c.LatencyPercentile != 95 {
		t.Fatalf("load: %+v %v", c, err)
	}
	os.WriteFile(path, []byte(`{"period": "10s", "perod": "5s", "vms": []}`), 0o600)
	if _, err := LoadConfig(path); bbus.ErrorCode(err) != bbus.EINVALID || !strings.Contains(bbus.ErrorMessage(err), "perod") {
		t.Fatalf("a misspelt field: %v", err)
	}
}

func TestAvailabilityAndPercentileAreIntegers(t *testing.T) {
	for _, c := range []struct{ ok, n, want int64 }{{0, 0, 0}, {0, 4, 0}, {1, 4, 25000}, {2, 3, 66666}, {12, 12, 100000}} {
		if got := availability(c.ok, c.n); got != c.want {
			t.Errorf("availability(%d, %d) = %d, want %d", c.ok, c.n, got, c.want)
		}
	}
	s := []int64{9, 1, 5, 3, 7, 2, 8, 4, 6, 10}
	for _, c := range []struct {
		pct  int
		want int64
	}{{1, 1}, {50, 5}, {90, 9}, {95, 10}, {100, 10}} {
		if got := percentile(s, c.pct); got != c.want {
			t.Errorf("p%d = %d, want %d", c.pct, got, c.want)
		}
	}
	if percentile(nil, 95) != 0 || s[0] != 9 {
		t.Error("percentile of nothing is 0, and the samples are left as they were")
	}
}

func TestProbes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
		case "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		default:
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	defer l.Close()
	p := newProber(100 * time.Millisecond)
	for probe, up := range map[string]bool{
		srv.URL + "/ok": true, srv.URL + "/moved": true, srv.URL + "/down": false, srv.URL + "/slow": false,
		"tcp://" + l.Addr().String(): true, "tcp://" + closedAddr: false, "http://" + closedAddr: false,
	} {
		if r := p.probe(context.Background(), probe); r.ok != up || (!up && r.err == "") || (up && r.latency <= 0) {
			t.Errorf("%s: %+v, want up %v", probe, r, up)
		}
	}
}

func TestStateSavesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := StatePath(dir, "o1")
	st, err := LoadState(path)
	if err != nil || len(st.VMs) != 0 {
		t.Fatalf("a missing state: %+v %v", st, err)
	}
	st.Oracle = "o1"
	st.VMs["vm-1"] = &VMState{LastEnd: 120, Queue: []Window{{Start: 120, End: 180, Raw: []byte(`{"body":{}}`), TxID: "ab"}}}
	if err := st.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(path)
	if err != nil || got.VMs["vm-1"].LastEnd != 120 || string(got.VMs["vm-1"].Queue[0].Raw) != `{"body":{}}` {
		t.Fatalf("reloaded %+v %v", got, err)
	}
	ents, _ := os.ReadDir(StateDir(dir))
	if len(ents) != 1 {
		t.Fatalf("the state folder holds %d files, want only the state", len(ents))
	}
	os.WriteFile(path, []byte("{not json"), 0o600)
	if _, err := LoadState(path); bbus.ErrorCode(err) != bbus.EINVALID {
		t.Fatalf("a damaged state: %v", err)
	}
}

// TestUnreachableNodeLosesWindowsOnlyAfterTheirExpiry runs an oracle whose
// node never answers: it keeps measuring, retries, and gives a window up only
// once its transaction would have expired.
func TestUnreachableNodeLosesWindowsOnlyAfterTheirExpiry(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	node := "http://" + closed.Addr().String()
	closed.Close()
	cfg := Config{Period: Duration(time.Second), ProbeInterval: Duration(250 * time.Millisecond), Timeout: Duration(200 * time.Millisecond),
		LatencyPercentile: 95, TxTTL: Duration(time.Second), VMs: []VMConfig{{VM: "vm-1", Probe: srv.URL}}}
	_, key, _ := ed25519.GenerateKey(nil)
	path := StatePath(t.TempDir(), "o1")
	r, err := New(cfg, "o1", key, client.New(node), path, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	var s VMState
	for {
		st, err := LoadState(path)
		if err == nil && st.VMs["vm-1"] != nil {
			s = *st.VMs["vm-1"]
		}
		if s.Lost >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no window lost: %+v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A window is given up only once past its expiry: its end plus the tx_ttl.
	if s.SubmitErrors == 0 || s.Reported != 0 || s.LastEnd == 0 || s.LastEnd+1 > time.Now().Unix() || s.Probes == 0 {
		t.Fatalf("state %+v", s)
	}
	for _, w := range s.Queue {
		if w.End <= s.LastEnd {
			t.Fatalf("window %+v still queued behind the last settled end %d", w, s.LastEnd)
		}
	}
}

// TestSettleTellsItsOwnReportsFromAnotherOracles submits queued windows to a
// ledger that already holds reports: one by another oracle (no obstacle: the
// quorum takes both, so it is reported), one by this oracle through another
// transaction (a duplicate), one the very same transaction (found recorded),
// and a new one (reported).
func TestSettleTellsItsOwnReportsFromAnotherOracles(t *testing.T) {
	chain := ledgertest.New(ledgertest.Founders("c1")...)
	for _, o := range []string{"o1", "o2"} {
		k := chain.AddKey(o)
		pub := k.Public().(ed25519.PublicKey)
		for _, step := range []struct {
			by string
			a  bbus.Action
		}{
			{"c1", bbus.Action{OracleInvite: &bbus.OracleInvite{Oracle: o, PubKey: pub}}}, // c1's vote admits it
			{o, bbus.Action{OracleJoin: &bbus.OracleJoin{Name: o, PubKey: pub}}},
		} {
			if res := chain.Do(step.by, step.a); res.Code != "" {
				t.Fatalf("%s: %s %s", o, res.Code, res.Message)
			}
		}
	}
	if res := chain.Do("c1", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}); res.Code != "" {
		t.Fatal(res.Message)
	}
	t0 := chain.Last().Time.Unix() + 1
	chain.Advance(20 * time.Second)
	report := func(by string, start int64) {
		if res := chain.Do(by, bbus.Action{Report: &bbus.ReportAction{VM: "vm-1", Start: start, End: start + 2, Availability: 100000}}); res.Code != "" {
			t.Fatalf("%s: %s", res.Code, res.Message)
		}
	}
	report("o2", t0)
	report("o1", t0+2)
	srv := httptest.NewServer(httpapi.New(chain, httpapi.Options{Logger: quiet}))
	defer srv.Close()

	cfg := DefaultConfig()
	cfg.VMs = []VMConfig{{VM: "vm-1", Probe: srv.URL}}
	r, err := New(cfg, "o1", chain.Key("o1"), client.New(srv.URL), StatePath(t.TempDir(), "o1"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(5 * time.Minute).Unix()
	s := r.vmState("vm-1")
	for _, start := range []int64{t0, t0 + 2, t0 + 4, t0 + 6} {
		s.Queue = append(s.Queue, Window{Start: start, End: start + 2, Availability: 50000, Expires: expires})
	}
	// The third window's transaction reached the ledger before a crash.
	raw, txid, _ := bbus.SignTx(&bbus.Body{ChainID: ledgertest.ChainID, Signer: "o1", Nonce: 7, Expires: expires,
		Action: bbus.Action{Report: &bbus.ReportAction{VM: "vm-1", Start: t0 + 4, End: t0 + 6, Availability: 50000}}}, chain.Key("o1"))
	s.Queue[2].Raw, s.Queue[2].TxID = raw, txid
	if res, err := client.New(srv.URL).Submit(context.Background(), raw, true); err != nil {
		t.Fatalf("%+v %v", res, err)
	}

	if r.submitAll(context.Background()) {
		t.Fatalf("a window waits for a retry: %+v", s)
	}
	if s.Conflicts != 0 || s.Duplicates != 1 || s.Resolved != 1 || s.Reported != 3 || len(s.Queue) != 0 || s.LastEnd != t0+8 {
		t.Fatalf("state %+v", s)
	}
	if s.LastReport != "rep-5" {
		t.Fatalf("last report %s, want rep-5 (rep-1 o2's, rep-2 o1's own, rep-3 the crashed submission, rep-4 o1's of o2's window)", s.LastReport)
	}
	rep, err := client.New(srv.URL).Report(context.Background(), "rep-1")
	if err != nil || rep.Oracle != "o2" || rep.Availability != 100000 {
		t.Fatalf("o2's report was changed: %+v %v", rep, err)
	}
}

// TestAssignedMeasuresVMsUnderObjectives asks the ledger which listed VMs run
// under an active agreement with objectives.
func TestAssignedMeasuresVMsUnderObjectives(t *testing.T) {
	chain := ledgertest.New(ledgertest.Founders("c1", "c2")...)
	do := func(by string, a bbus.Action) string {
		t.Helper()
		res := chain.Do(by, a)
		if res.Code != "" {
			t.Fatalf("%s: %s", res.Code, res.Message)
		}
		return res.ID
	}
	for _, vm := range []string{"vm-1", "vm-2", "vm-4"} {
		do("c1", bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: bbus.Resources{CPU: 1, MemMiB: 1}}})
	}
	agr := do("c2", bbus.Action{AgreementPropose: &bbus.AgreementPropose{Provider: "c2", Consumer: "c1", PriceVCPUHour: 1,
		Availability: 99000, MaxLatencyMS: 200, PenaltyPct: 10000}})
	do("c1", bbus.Action{AgreementSign: &bbus.AgreementRef{Agreement: agr}})
	mig := do("c1", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm-1", To: "c2", Agreement: agr}})
	do("c2", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: mig}})
	do("c2", bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: mig}})
	mig = do("c1", bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm-4", To: "c2"}}) // under no agreement
	do("c2", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: mig}})
	do("c2", bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: mig}})
	srv := httptest.NewServer(httpapi.New(chain, httpapi.Options{Logger: quiet}))
	defer srv.Close()

	cfg := DefaultConfig()
	cfg.Assigned = true
	for _, vm := range []string{"vm-1", "vm-2", "vm-3", "vm-4"} {
		cfg.VMs = append(cfg.VMs, VMConfig{VM: vm, Probe: srv.URL})
	}
	_, key, _ := ed25519.GenerateKey(nil)
	r, err := New(cfg, "o1", key, client.New(srv.URL), StatePath(t.TempDir(), "o1"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.targets(); len(got) != 0 {
		t.Fatalf("before the ledger was read: %+v", got)
	}
	got, err := r.readAssignments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.assigned = got
	if ts := r.targets(); len(ts) != 1 || ts[0].VM != "vm-1" || !ts[0].Latency {
		t.Fatalf("targets %+v, want vm-1 alone, measured for latency (its agreement's objective)", ts)
	}
}

// TestFirstWindowStartsAfterTheRegistration starts an oracle in the window in
// which its VM was registered: that window began before the VM existed on
// the ledger, which would refuse its report, so the oracle's first window is
// the next one. A VM not on the ledger is not measured at all.
func TestFirstWindowStartsAfterTheRegistration(t *testing.T) {
	chain := ledgertest.New(ledgertest.Founders("c1")...)
	// The next block comes 300 ms past an even second: mid-window.
	chain.Advance(time.Duration(2e9-chain.Last().Time.UnixNano()%2e9) + 300*time.Millisecond - ledgertest.BlockStep)
	if res := chain.Do("c1", bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}); res.Code != "" {
		t.Fatal(res.Message)
	}
	reg := chain.Last().Time
	srv := httptest.NewServer(httpapi.New(chain, httpapi.Options{Logger: quiet}))
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.Period, cfg.ProbeInterval, cfg.Timeout = Duration(2*time.Second), Duration(500*time.Millisecond), Duration(400*time.Millisecond)
	cfg.VMs = []VMConfig{{VM: "vm-1", Probe: srv.URL}, {VM: "vm-9", Probe: srv.URL}}
	r, err := New(cfg, "o1", ed25519.NewKeyFromSeed(make([]byte, 32)), client.New(srv.URL), StatePath(t.TempDir(), "o1"), quiet)
	if err != nil {
		t.Fatal(err)
	}
	ws := reg.Unix() / 2 * 2
	for _, now := range []time.Time{reg.Add(100 * time.Millisecond), time.Unix(ws+2, 0), time.Unix(ws+2, 5e8)} {
		if err := r.round(context.Background(), now); err != nil {
			t.Fatal(err)
		}
	}
	s := r.st.VMs["vm-1"]
	if s.Since != reg.Unix()+1 || s.Open == nil || s.Open.Start != ws+2 || s.Open.Probes != 2 || len(s.Queue) != 0 {
		t.Fatalf("registered at %s: state %+v, open %+v; want the first window from %s", reg, s, s.Open, unixTime(ws+2))
	}
	if s := r.st.VMs["vm-9"]; s != nil && (s.Open != nil || s.Probes != 0 || s.Since != 0) {
		t.Fatalf("a VM not on the ledger was measured: %+v", s)
	}
}
