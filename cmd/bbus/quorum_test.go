package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/oracle"
)

// TestOracleQuorum runs three bbus oracle run processes against a real node
// whose chain was made with oracle_quorum 2, and real HTTP endpoints: vm-1's
// endpoint goes down for a few 2 s windows; oracle1 and oracle2 probe it,
// while oracle3 lies: its probe points at an endpoint the test keeps up, so it
// reports 100 % throughout. oracle1 is killed with SIGKILL mid-outage and
// restarted. The windows of the outage are decided from the honest majority
// (0 %) and record violations against the host, cloud1; the liar's reports of
// them disagree with the combined value, and its reputation falls below the
// honest oracles'; no oracle reports a window twice.
func TestOracleQuorum(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three oracles for half a minute")
	}
	home := t.TempDir() + "/home"
	api := freeAddr(t)
	run(t, 0, "init", "--home", home, "--cloud", "local", "--api", api, "--p2p", "tcp://"+freeAddr(t), "--oracle-quorum", "2")
	p := startNode(t, home, api)
	node := "--node=" + p.api
	tx := func(from string, args ...string) string {
		return run(t, 0, append([]string{"tx", "--home", home, node, "--from", from, "--output", "json"}, args...)...)
	}
	pubKey := func(id string) string {
		return strings.TrimSpace(run(t, 0, "keys", "show", id, "--home", home, "--pub-key"))
	}
	oracles := []string{"oracle1", "oracle2", "oracle3"}
	const liar = "oracle3"
	run(t, 0, "keys", "add", "cloud1", "--home", home)
	tx("local", "cloud", "invite", "cloud1", "--pub-key", pubKey("cloud1"))
	tx("cloud1", "cloud", "join", "--name", "Cloud One", "--cpu", "64", "--mem-mib", "65536", "--disk-iops", "1000", "--net-mbps", "1000")
	for _, o := range oracles {
		run(t, 0, "keys", "add", o, "--home", home)
		tx("local", "oracle", "invite", o, "--pub-key", pubKey(o))
		tx(o, "oracle", "join", "--name", "Prober "+o)
		tx("cloud1", "oracle", "approve", o)
	}
	tx("local", "vm", "register", "vm-1", "--cpu", "4", "--mem-mib", "4096")
	tx("cloud1", "agreement", "propose", "--provider", "cloud1", "--consumer", "local",
		"--price-vcpu-hour", "0.5", "--availability", "99", "--penalty-pct", "10")
	tx("local", "agreement", "sign", "agr-1")
	tx("local", "migration", "propose", "vm-1", "--to", "cloud1", "--agreement", "agr-1")
	tx("cloud1", "migration", "accept", "mig-1")
	tx("cloud1", "migration", "complete", "mig-1")

	// vm-1's endpoint, which the test takes down, and one that stays up.
	var down atomic.Bool
	vm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer vm.Close()
	always := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer always.Close()

	const period, interval, timeout = 2 * time.Second, 500 * time.Millisecond, 500 * time.Millisecond
	args := map[string][]string{}
	logs := map[string]*syncBuffer{}
	procs := map[string]interface{ Wait() error }{}
	cmds := map[string]*os.Process{}
	start := func(o string) {
		c := startOracle(t, logs[o], args[o]...)
		procs[o], cmds[o] = c, c.Process
	}
	for _, o := range oracles {
		probe := vm.URL + "/health"
		if o == liar {
			probe = always.URL + "/health"
		}
		cfg := filepath.Join(t.TempDir(), o+".json")
		os.WriteFile(cfg, []byte(fmt.Sprintf(`{"period": "2s", "probe_interval": "500ms", "timeout": "500ms", "vms": [{"vm": "vm-1", "probe": %q}]}`, probe)), 0o600)
		args[o] = []string{"--home", home, node, "--from", o, "--config", cfg, "--log-level", "debug"}
		logs[o] = new(syncBuffer)
		start(o)
	}
	allLogs := stringer(func() string {
		var b strings.Builder
		for _, o := range oracles {
			fmt.Fprintf(&b, "--- %s\n%s", o, logs[o])
		}
		return b.String()
	})
	lastEnd := func(o string) int64 {
		st, err := oracle.LoadState(oracle.StatePath(home, o))
		if err != nil || st.VMs["vm-1"] == nil {
			return 0
		}
		return st.VMs["vm-1"].LastEnd
	}
	settledPast := func(at time.Time) func() bool {
		return func() bool {
			for _, o := range oracles {
				if lastEnd(o) < at.Unix() {
					return false
				}
			}
			return true
		}
	}

	// Two windows up, then an outage of five windows, during which
	// oracle1 is killed with SIGKILL and restarted at once.
	waitFor(t, 60*time.Second, "two windows reported by each oracle", settledPast(time.Now().Add(2*period)), allLogs)
	downAt := time.Now()
	down.Store(true)
	time.Sleep(4 * time.Second)
	cmds["oracle1"].Signal(syscall.SIGKILL)
	procs["oracle1"].Wait()
	start("oracle1")
	time.Sleep(6 * time.Second)
	upAt := time.Now()
	down.Store(false)
	waitFor(t, 60*time.Second, "two windows after the outage reported by each oracle", settledPast(time.Now().Add(2*period)), allLogs)
	for _, o := range oracles {
		cmds[o].Signal(os.Interrupt)
		if err := procs[o].Wait(); err != nil {
			t.Fatalf("%s exited with %v:\n%s", o, err, allLogs)
		}
	}

	// Each oracle reported each window once: its reports on the ledger are
	// what its state says it reported, and no two of them share a second.
	byOracle := map[string][]bbus.Report{}
	for n := 1; ; n++ {
		var rep bbus.Report
		if code := getJSON(t, fmt.Sprintf("%s/v1/reports/rep-%d", p.api, n), &rep); code == 404 {
			break
		} else if code != 200 {
			t.Fatalf("rep-%d: status %d", n, code)
		}
		byOracle[rep.Oracle] = append(byOracle[rep.Oracle], rep)
	}
	for _, o := range oracles {
		st, err := oracle.LoadState(oracle.StatePath(home, o))
		if err != nil {
			t.Fatal(err)
		}
		s, reps := st.VMs["vm-1"], byOracle[o]
		if s == nil || int64(len(reps)) != s.Reported || len(reps) < 6 || s.Duplicates+s.Conflicts+s.Rejected+s.Lost != 0 || len(s.Queue) != 0 {
			t.Fatalf("%s: %d reports on the ledger, state %+v\n%s", o, len(reps), s, allLogs)
		}
		seen := map[int64]string{}
		for _, r := range reps {
			for sec := r.Start.Unix(); sec < r.End.Unix(); sec++ {
				if prev, twice := seen[sec]; twice {
					t.Fatalf("%s reported second %d twice: %s and %s", o, sec, prev, r.ID)
				}
				seen[sec] = r.ID
			}
		}
	}

	// The windows as the ledger decided them.
	var windows bbus.List[bbus.Window]
	getJSON(t, p.api+"/v1/vms/vm-1/windows?limit=1000", &windows)
	var vios bbus.List[bbus.Violation]
	getJSON(t, p.api+"/v1/violations?vm=vm-1&limit=1000", &vios)
	violation := map[string]bbus.Violation{}
	for _, v := range vios.Items {
		violation[v.ID] = v
	}
	outage, liarDisagreed := 0, 0
	for _, w := range windows.Items {
		inOutage := !w.Start.Before(downAt) && !w.End.Add(interval+timeout).After(upAt)
		if w.Status != bbus.WindowDecided {
			// Only a window at the edge of a run (one oracle started or
			// stopped before the others) may lack its quorum.
			if len(w.Reports) >= 2 || inOutage {
				t.Errorf("window %s to %s is %s with %d reports", w.Start, w.End, w.Status, len(w.Reports))
			}
			continue
		}
		if len(w.Violations) > 0 != (w.Availability < 99000) {
			t.Errorf("window %s to %s combined %d and recorded violations %v", w.Start, w.End, w.Availability, w.Violations)
		}
		for _, id := range w.Violations {
			if v := violation[id]; v.Cloud != "cloud1" || v.Agreement != "agr-1" || v.Availability != w.Availability {
				t.Errorf("violation %s of window %s to %s: %+v", id, w.Start, w.End, v)
			}
		}
		if !inOutage {
			continue
		}
		outage++
		if w.Availability != 0 || len(w.Violations) != 1 {
			t.Errorf("window %s to %s lies in the outage: combined %d, violations %v, reports %+v", w.Start, w.End, w.Availability, w.Violations, w.Reports)
		}
		for _, r := range w.Reports {
			switch {
			case r.Oracle == liar && (r.Availability == 0 || r.Verdict != "disagree"):
				// (100 %, unless a probe of the endpoint that stays up
				// timed out on a loaded machine)
				t.Errorf("the liar's report of outage window %s to %s: %+v", w.Start, w.End, r)
			case r.Oracle == liar:
				liarDisagreed++
			case r.Availability != 0 || r.Verdict != "agree":
				t.Errorf("an honest report of outage window %s to %s: %+v", w.Start, w.End, r)
			}
		}
	}
	if outage < 2 || liarDisagreed < 2 {
		t.Fatalf("%d windows wholly in the outage, the liar disagreed on %d:\n%+v", outage, liarDisagreed, windows.Items)
	}

	// bbus query reputation: the liar's disagreements cost it reputation.
	var rep bbus.ReputationList
	if err := json.Unmarshal([]byte(run(t, 0, "query", node, "reputation", "--output", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	standing := map[string]int{}
	for i, s := range rep.Oracles {
		standing[s.Oracle] = i
	}
	if len(rep.Oracles) != 3 {
		t.Fatalf("reputation: %+v", rep)
	}
	lie := rep.Oracles[standing[liar]]
	if lie.Disagreeing < int64(liarDisagreed) || lie.ReputationBP >= 10000 {
		t.Errorf("the liar's standing %+v, after disagreeing on %d outage windows", lie, liarDisagreed)
	}
	for _, o := range oracles[:2] {
		if h := rep.Oracles[standing[o]]; h.ReputationBP <= lie.ReputationBP || h.Disagreeing >= lie.Disagreeing {
			t.Errorf("honest %+v does not stand above the liar %+v", h, lie)
		}
	}
	if len(rep.Items) == 0 || rep.Items[len(rep.Items)-1].Cloud != "cloud1" || rep.Items[len(rep.Items)-1].ReputationBP >= 10000 {
		t.Errorf("the host's standing: %+v", rep.Items)
	}
	t.Logf("%d windows, %d in the outage, %d violations; oracles %+v", len(windows.Items), outage, len(vios.Items), rep.Oracles)
}

// stringer makes a function a fmt.Stringer.
type stringer func() string

func (s stringer) String() string { return s() }
