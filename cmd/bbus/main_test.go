package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus/cli"
	"github.com/bbusdev/bbus/node"
)

// TestMain lets the test binary stand in for the bbus binary: tests start it
// as a child process with BBUS_TEST_MAIN=1 and bbus's own arguments.
func TestMain(m *testing.M) {
	if os.Getenv("BBUS_TEST_MAIN") == "1" {
		os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// run runs a bbus command in this process and returns its stdout; it fails the
// test unless the exit code is want.
func run(t *testing.T, want int, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := cli.Main(args, strings.NewReader(""), &out, &errb); code != want {
		t.Fatalf("bbus %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errb.String())
	}
	return out.String()
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// process is a bbus node running as a child process.
type process struct {
	cmd  *exec.Cmd
	logs *bytes.Buffer
	api  string
}

// startNode runs "bbus start" as a child process and waits until its API answers.
func startNode(t *testing.T, home, api string) *process {
	t.Helper()
	args := []string{"start", "--home", home, "--api", api}
	if !node.Initialized(home) {
		// Not CometBFT's default port, which tests of other packages may hold.
		args = append(args, "--p2p", "tcp://"+freeAddr(t))
	}
	p := &process{cmd: exec.Command(os.Args[0], args...), logs: new(bytes.Buffer), api: "http://" + api}
	p.cmd.Env = append(os.Environ(), "BBUS_TEST_MAIN=1")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, err := http.Get(p.api + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node did not come up; its output:\n%s", p.logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// getJSON fetches url into v and returns the status code.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if v != nil && r.StatusCode == 200 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v: %s", url, err, b)
		}
	}
	return r.StatusCode
}

// TestWalkthrough is the README's walkthrough: two clouds, one VM, one
// migration, its history, on a real node started by "bbus start" on an empty home.
func TestWalkthrough(t *testing.T) {
	home := t.TempDir() + "/home"
	p := startNode(t, home, freeAddr(t))
	node := "--node=" + p.api
	run(t, 0, "keys", "add", "cloud1", "--home", home)
	// A join nobody invited is refused; local's invitation is its vote, which alone admits cloud1.
	run(t, 1, "tx", "--home", home, node, "--from", "cloud1", "cloud", "join", "--name", "Cloud One",
		"--cpu", "64", "--mem-mib", "262144", "--disk-iops", "50000", "--net-mbps", "10000")
	pub := strings.TrimSpace(run(t, 0, "keys", "show", "cloud1", "--home", home, "--pub-key"))
	run(t, 0, "tx", "--home", home, node, "--from", "local", "cloud", "invite", "cloud1", "--pub-key", pub)
	run(t, 0, "tx", "--home", home, node, "--from", "cloud1", "cloud", "join", "--name", "Cloud One",
		"--cpu", "64", "--mem-mib", "262144", "--disk-iops", "50000", "--net-mbps", "10000")
	run(t, 0, "tx", "--home", home, node, "--from", "local", "vm", "register", "vm-1",
		"--cpu", "4", "--mem-mib", "8192", "--disk-iops", "1000", "--net-mbps", "100")
	var res struct {
		ID     string `json:"id"`
		Height int64  `json:"height"`
	}
	out := run(t, 0, "tx", "--home", home, node, "--from", "local", "--output", "json", "migration", "propose", "vm-1", "--to", "cloud1")
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.ID != "mig-1" || res.Height == 0 {
		t.Fatalf("propose printed %s (%v)", out, err)
	}
	// Only the destination may accept.
	run(t, 1, "tx", "--home", home, node, "--from", "local", "migration", "accept", "mig-1")
	run(t, 0, "tx", "--home", home, node, "--from", "cloud1", "migration", "accept", "mig-1")
	run(t, 0, "tx", "--home", home, node, "--from", "cloud1", "migration", "complete", "mig-1")

	var h struct {
		VM        struct{ Host string }
		Intervals []struct {
			Cloud string
			Start struct{ At time.Time }
			End   *struct{ At time.Time }
		}
		Migrations []struct{ ID, Status string }
	}
	out = run(t, 0, "query", node, "--output", "json", "vm-history", "vm-1")
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatal(err)
	}
	if h.VM.Host != "cloud1" || len(h.Intervals) != 2 || h.Intervals[0].Cloud != "local" || h.Intervals[1].Cloud != "cloud1" ||
		h.Intervals[0].End == nil || !h.Intervals[0].End.At.Equal(h.Intervals[1].Start.At) || h.Intervals[1].End != nil ||
		len(h.Migrations) != 1 || h.Migrations[0].Status != "completed" {
		t.Fatalf("history:\n%s", out)
	}
	at := h.Intervals[0].Start.At.Add(time.Nanosecond).Format(time.RFC3339Nano)
	if out := run(t, 0, "query", node, "host", "vm-1", "--at", at); !strings.Contains(out, "local") {
		t.Fatalf("host at %s: %s", at, out)
	}
	if out := run(t, 0, "query", node, "migrations", "--vm", "vm-1"); !strings.Contains(out, "completed") {
		t.Fatalf("migrations: %s", out)
	}
	// SIGTERM shuts the node down cleanly.
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("node exited with %v:\n%s", err, p.logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("node did not stop on SIGINT")
	}
}
