package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	logs *syncBuffer
	api  string
}

// errInUse is a node's refusal to start on an address another program took
// between the test choosing it and the node binding it.
var errInUse = errors.New("an address the node was given is in use")

// startNode runs "bbus start" as a child process and returns once it serves.
// With api "" the node binds a port of its own choosing (127.0.0.1:0) and
// reports the address: no other program can take it first. A fresh home's
// peer-to-peer address is chosen again if another program takes it first,
// and rebind, if given, chooses an initialised home's addresses again.
func startNode(t *testing.T, home, api string, rebind ...func()) *process {
	t.Helper()
	for try := 1; ; try++ {
		initialized := node.Initialized(home)
		p, err := tryStartNode(t, home, api)
		if err == nil {
			return p
		}
		if !errors.Is(err, errInUse) || try == 5 || initialized && len(rebind) == 0 {
			t.Fatal(err)
		}
		t.Logf("starting again: %v", err)
		if initialized {
			rebind[0]()
		}
	}
}

// tryStartNode starts a node once, failing with errInUse if an address it was
// given is in use.
func tryStartNode(t *testing.T, home, api string) (*process, error) {
	t.Helper()
	if api == "" {
		api = "127.0.0.1:0"
	}
	args := []string{"start", "--home", home, "--api", api, "--output", "json"}
	if !node.Initialized(home) {
		// Not CometBFT's default port, which tests of other packages may hold.
		args = append(args, "--p2p", "tcp://"+freeAddr(t))
	}
	p := &process{cmd: exec.Command(os.Args[0], args...), logs: new(syncBuffer)}
	p.cmd.Env = append(os.Environ(), "BBUS_TEST_MAIN=1")
	// Stdout's first line says where the API serves, once it does.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = w, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	serving := make(chan string, 1)
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		if sc.Scan() {
			var line struct {
				API string `json:"api"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				serving <- line.API
			}
			fmt.Fprintf(p.logs, "%s\n", sc.Bytes())
		}
		close(serving)
		io.Copy(p.logs, r)
	}()
	select {
	case url, ok := <-serving:
		if ok {
			p.api = url
			waitHealthy(t, p)
			return p, nil
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("node did not come up; its output:\n%s", p.logs)
	}
	// The node ended without serving.
	p.cmd.Wait()
	if strings.Contains(p.logs.String(), "in use") {
		return nil, fmt.Errorf("%w: %s", errInUse, strings.TrimSpace(p.logs.String()))
	}
	return nil, fmt.Errorf("node did not come up: %v; its output:\n%s", p.cmd.ProcessState, p.logs)
}

// waitHealthy waits until the node's /healthz answers 200.
func waitHealthy(t *testing.T, p *process) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, err := http.Get(p.api + "/healthz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node is not healthy; its output:\n%s", p.logs)
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
	p := startNode(t, home, "")
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
