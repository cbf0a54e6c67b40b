package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/oracle"
)

// syncBuffer is a log buffer two goroutines may write and the test may read.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startOracle runs "bbus oracle run" as a child process.
func startOracle(t *testing.T, logs *syncBuffer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"oracle", "run"}, args...)...)
	cmd.Env = append(os.Environ(), "BBUS_TEST_MAIN=1")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// waitFor polls cond until it holds; it fails the test after limit, which
// only bounds a test that would otherwise hang.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool, logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s; oracle output:\n%s", what, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stableAddr returns a loopback address nothing listens on, for a server the
// test stops and starts again at the same address. Its port lies below the
// kernel's ephemeral range, from which the kernel picks the ports of other
// programs' connections and of listeners on port 0: while the server is down,
// only a program that names that very port can take it.
func stableAddr(t *testing.T) string {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	from := max(1024, low-16384)
	for range 100 {
		if low <= from {
			break
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", from+rand.IntN(low-from)))
		if err != nil {
			continue
		}
		defer l.Close()
		return l.Addr().String()
	}
	return freeAddr(t)
}

// TestOracleMeasuresAndReports runs bbus oracle run as a child process against
// a real node and real endpoints: an HTTP endpoint that goes down for a few
// windows and a TCP one that stays up. The oracle is killed with SIGKILL and
// restarted, and the node is restarted, while it runs. Every window from the
// first to the last is reported exactly once, the outage's windows show 0 %
// and record violations against the host, and the oracle's status, state and
// metrics say what it did.
func TestOracleMeasuresAndReports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an oracle for a few dozen seconds")
	}
	home := t.TempDir() + "/home"
	api := stableAddr(t) // fixed: the oracle must find the node again at it after the node restarts
	p := startNode(t, home, api)
	node := "--node=" + p.api
	tx := func(want int, from string, args ...string) string {
		return run(t, want, append([]string{"tx", "--home", home, node, "--from", from, "--output", "json"}, args...)...)
	}
	pubKey := func(id string) string {
		return strings.TrimSpace(run(t, 0, "keys", "show", id, "--home", home, "--pub-key"))
	}
	run(t, 0, "keys", "add", "cloud1", "--home", home)
	run(t, 0, "keys", "add", "oracle1", "--home", home)
	tx(0, "local", "cloud", "invite", "cloud1", "--pub-key", pubKey("cloud1"))
	tx(0, "cloud1", "cloud", "join", "--name", "Cloud One", "--cpu", "64", "--mem-mib", "65536", "--disk-iops", "1000", "--net-mbps", "1000")
	tx(0, "local", "oracle", "invite", "oracle1", "--pub-key", pubKey("oracle1"))
	tx(0, "oracle1", "oracle", "join", "--name", "Prober")
	tx(0, "cloud1", "oracle", "approve", "oracle1")
	tx(0, "local", "vm", "register", "vm-1", "--cpu", "4", "--mem-mib", "4096")
	tx(0, "local", "vm", "register", "vm-2", "--cpu", "1", "--mem-mib", "1024")
	tx(0, "cloud1", "agreement", "propose", "--provider", "cloud1", "--consumer", "local",
		"--price-vcpu-hour", "0.5", "--availability", "99", "--penalty-pct", "10")
	tx(0, "local", "agreement", "sign", "agr-1")
	tx(0, "local", "migration", "propose", "vm-1", "--to", "cloud1", "--agreement", "agr-1")
	tx(0, "cloud1", "migration", "accept", "mig-1")
	tx(0, "cloud1", "migration", "complete", "mig-1")

	// vm-1 serves HTTP until the test takes it down; vm-2 accepts TCP.
	var down atomic.Bool
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer web.Close()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	go func() {
		for {
			c, err := tcp.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	const period, interval, timeout = 2 * time.Second, 500 * time.Millisecond, 500 * time.Millisecond
	cfg := filepath.Join(t.TempDir(), "oracle.json")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`{"period": "2s", "probe_interval": "500ms", "timeout": "500ms", "vms": [
		{"vm": "vm-1", "probe": %q, "latency": true},
		{"vm": "vm-2", "probe": "tcp://%s"}]}`, web.URL+"/health", tcp.Addr())), 0o600)
	metrics := stableAddr(t) // fixed too: the oracle restarts on it
	args := []string{"--home", home, node, "--from", "oracle1", "--config", cfg, "--metrics", metrics, "--log-level", "debug"}
	logs := new(syncBuffer)
	o := startOracle(t, logs, args...)

	statePath := oracle.StatePath(home, "oracle1")
	lastEnd := func(vm string) int64 {
		st, err := oracle.LoadState(statePath)
		if err != nil || st.VMs[vm] == nil {
			return 0
		}
		return st.VMs[vm].LastEnd
	}
	settledPast := func(at time.Time) func() bool {
		return func() bool { return lastEnd("vm-1") >= at.Unix() && lastEnd("vm-2") >= at.Unix() }
	}
	// Two windows up, then an outage of about three and a half.
	waitFor(t, 60*time.Second, "two windows reported", settledPast(time.Now().Add(2*period)), logs)
	downAt := time.Now()
	down.Store(true)
	time.Sleep(7 * time.Second)
	upAt := time.Now()
	down.Store(false)

	// Mid-window, kill the oracle with SIGKILL, and restart it at once.
	time.Sleep(period + period/3)
	o.Process.Signal(syscall.SIGKILL)
	o.Wait()
	o = startOracle(t, logs, args...)
	waitFor(t, 60*time.Second, "a window reported after the kill", settledPast(time.Now().Add(period)), logs)

	// Stop the node for two windows and more; the oracle catches up.
	p.cmd.Process.Signal(os.Interrupt)
	p.cmd.Wait()
	time.Sleep(2*period + period/2)
	p = startNode(t, home, api)
	back := time.Now()
	waitFor(t, 60*time.Second, "the windows of the node's absence reported", settledPast(back.Add(period)), logs)

	var m bytes.Buffer
	if r, err := http.Get("http://" + metrics + "/metrics"); err != nil {
		t.Fatal(err)
	} else {
		io.Copy(&m, r.Body)
		r.Body.Close()
	}
	o.Process.Signal(os.Interrupt)
	if err := o.Wait(); err != nil {
		t.Fatalf("oracle exited with %v:\n%s", err, logs)
	}

	// Every report on the ledger, by VM, in window order.
	byVM := map[string][]bbus.Report{}
	for n := 1; ; n++ {
		var rep bbus.Report
		if code := getJSON(t, fmt.Sprintf("%s/v1/reports/rep-%d", p.api, n), &rep); code == 404 {
			break
		} else if code != 200 {
			t.Fatalf("rep-%d: status %d", n, code)
		}
		byVM[rep.VM] = append(byVM[rep.VM], rep)
	}
	var vios struct{ Items []bbus.Violation }
	getJSON(t, p.api+"/v1/violations?vm=vm-1&limit=1000", &vios)
	violated := map[string]bbus.Violation{}
	for _, v := range vios.Items {
		violated[v.Report] = v
	}

	st, err := oracle.LoadState(statePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, vm := range []string{"vm-1", "vm-2"} {
		reps := byVM[vm]
		sort.Slice(reps, func(i, j int) bool { return reps[i].Start.Before(reps[j].Start) })
		s := st.VMs[vm]
		if s == nil || len(reps) < 8 || int64(len(reps)) != s.Reported {
			t.Fatalf("%s: %d reports on the ledger, state %+v\n%s", vm, len(reps), s, logs)
		}
		if s.Duplicates+s.Conflicts+s.Rejected+s.Lost+s.Unmeasured != 0 || len(s.Queue) != 0 {
			t.Fatalf("%s: windows not reported once each: %+v\n%s", vm, s, logs)
		}
		for i, r := range reps {
			if r.Oracle != "oracle1" || r.End.Sub(r.Start) != period || r.Start.Unix()%2 != 0 {
				t.Fatalf("%s: report %+v is not an aligned 2 s window of oracle1", vm, r)
			}
			if i > 0 && !r.Start.Equal(reps[i-1].End) {
				t.Fatalf("%s: window %s to %s skipped between %s and %s\n%s", vm, reps[i-1].End, r.Start, reps[i-1].ID, r.ID, logs)
			}
		}
		if last := reps[len(reps)-1].End.Unix(); last != s.LastEnd {
			t.Fatalf("%s: last window on the ledger ends at %d, the state says %d", vm, last, s.LastEnd)
		}
	}

	// vm-1: windows wholly within the outage are 0 %: each of their probes
	// started after it began and, to succeed, had to be answered within its
	// timeout after the last round (at most one interval before the window's
	// end), so before the outage ended. Windows wholly outside it are mostly
	// 100 % (a probe slowed past its timeout on a loaded machine fails).
	var out, up int
	for _, r := range byVM["vm-1"] {
		v, hasV := violated[r.ID]
		switch {
		case !r.Start.Before(downAt) && !r.End.Add(interval+timeout).After(upAt):
			out++
			if r.Availability != 0 {
				t.Errorf("window %s to %s lies in the outage: availability %d, want 0", r.Start, r.End, r.Availability)
			}
		case !r.End.After(downAt) || !r.Start.Before(upAt):
			if r.Availability == 100000 {
				up++
			}
		default:
			if r.Availability == 100000 || r.Availability == 0 {
				t.Logf("window %s to %s spans an edge of the outage and measured %d", r.Start, r.End, r.Availability)
			}
		}
		if r.Availability < 99000 != hasV || hasV && (v.Cloud != "cloud1" || v.Agreement != "agr-1" || v.Availability != r.Availability) {
			t.Errorf("report %s measured %d against the 99 %% objective; violation %+v (present %v)", r.ID, r.Availability, v, hasV)
		}
		if r.Availability > 0 && r.LatencyMS <= 0 {
			t.Errorf("report %s carries no latency", r.ID)
		}
	}
	if out < 2 || up < 4 {
		t.Fatalf("%d windows wholly in the outage, %d wholly up at 100 %%", out, up)
	}
	for _, r := range byVM["vm-2"] {
		if r.LatencyMS != 0 {
			t.Errorf("vm-2 is not measured for latency: %+v", r)
		}
	}

	var status []struct {
		Oracle string
		VMs    []struct {
			VM           string
			Reported     int64
			LastWindow   string `json:"last_window_end"`
			SubmitErrors int64  `json:"submit_errors"`
		}
	}
	if err := json.Unmarshal([]byte(run(t, 0, "oracle", "status", "--home", home, "--output", "json")), &status); err != nil {
		t.Fatal(err)
	}
	if len(status) != 1 || status[0].Oracle != "oracle1" || len(status[0].VMs) != 2 || status[0].VMs[0].Reported != int64(len(byVM["vm-1"])) ||
		status[0].VMs[0].SubmitErrors == 0 {
		t.Fatalf("status: %+v", status)
	}
	for _, want := range []string{`bbus_oracle_reports_submitted_total{vm="vm-1"}`, `bbus_oracle_probe_failures_total{vm="vm-1"}`,
		`bbus_oracle_last_window_end_seconds{vm="vm-2"}`, `bbus_oracle_submit_errors_total{vm="vm-1"}`, `bbus_oracle_probes_total{vm="vm-2"}`} {
		if !strings.Contains(m.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, m.String())
		}
	}
	t.Logf("vm-1: %d windows, %d in the outage, %d violations; oracle state %+v", len(byVM["vm-1"]), out, len(vios.Items), st.VMs["vm-1"])
}
