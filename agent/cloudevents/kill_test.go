package cloudevents_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	ce "github.com/bbusdev/bbus/agent/cloudevents"
	"github.com/bbusdev/bbus/agent/internal/fedtest"
	"github.com/bbusdev/bbus/cli"
)

// TestMain lets the test binary stand in for bbus: a test starts it as a
// child process with BBUS_TEST_MAIN=1 and bbus's own arguments.
func TestMain(m *testing.M) {
	if os.Getenv("BBUS_TEST_MAIN") == "1" {
		os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// process is a bbus agent running as a child process.
type process struct {
	t      *testing.T
	args   []string
	url    string
	log    string
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has ended
}

func startProcess(t *testing.T, f *fedtest.Fed, cloud string, extra ...string) *process {
	t.Helper()
	addr := freeAddr(t)
	p := &process{t: t, url: "http://" + addr + ce.Path, log: filepath.Join(t.TempDir(), "agent.log"),
		args: []string{"agent", "--home", f.Home(cloud), "--node", f.URL, "--from", cloud, "--cloudevents", addr, "--register-new"}}
	p.args = append(p.args, extra...)
	p.start()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("%s's agent:\n%s", cloud, b)
		}
	})
	return p
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start starts the agent and returns once its hook answers. The agent
// restarts on the address it had, which another program may have taken while
// it was down (as a port found free and closed may be taken before the agent
// binds it): then the agent says so, and it is stopped and started again on
// other addresses (its hook's and its metrics').
func (p *process) start() {
	p.t.Helper()
	for try := 1; ; try++ {
		inUse := p.tryStart()
		if !inUse {
			return
		}
		if try == 5 {
			b, _ := os.ReadFile(p.log)
			p.t.Fatalf("the agent's addresses were in use five times:\n%s", b)
		}
		old := strings.TrimSuffix(strings.TrimPrefix(p.url, "http://"), ce.Path)
		for i, a := range p.args {
			if a == old || i > 0 && p.args[i-1] == "--metrics" {
				p.args[i] = freeAddr(p.t)
			}
		}
		p.url = "http://" + p.args[slices.Index(p.args, "--cloudevents")+1] + ce.Path
		p.t.Logf("an address of the agent was taken: starting it again on others (%s)", strings.Join(p.args, " "))
	}
}

// tryStart starts the agent once and waits until its hook answers (405 to a
// GET), or until the agent says an address it was given is in use: then it
// stops it and reports so.
func (p *process) tryStart() (inUse bool) {
	p.t.Helper()
	out, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	from, err := out.Seek(0, io.SeekEnd) // what this start writes
	if err != nil {
		p.t.Fatal(err)
	}
	p.cmd = exec.Command(os.Args[0], p.args...)
	p.cmd.Env = append(os.Environ(), "BBUS_TEST_MAIN=1")
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	out.Close()
	exited, cmd := make(chan struct{}), p.cmd
	p.exited = exited
	go func() { cmd.Wait(); close(exited) }()
	waitFor(p.t, "the agent's hook", func() bool {
		if b, _ := os.ReadFile(p.log); int64(len(b)) > from && strings.Contains(string(b[from:]), "in use") {
			inUse = true
			return true
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(p.log)
			p.t.Fatalf("the agent ended before its hook answered:\n%s", b)
		default:
		}
		r, err := (&http.Client{Timeout: 5 * time.Second}).Get(p.url)
		if err == nil {
			r.Body.Close()
		}
		return err == nil
	})
	if inUse {
		p.cmd.Process.Kill()
		<-exited
	}
	return inUse
}

// metrics returns the address the agent serves its metrics on.
func (p *process) metrics() string { return p.args[slices.Index(p.args, "--metrics")+1] }

// kill9 kills the agent with SIGKILL, no shutdown of any kind, and starts it
// again.
func (p *process) kill9() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p.start()
}

// The agents are killed with SIGKILL at each step of a migration, while the
// step's event is in flight; the sender sends again what got no answer, as a
// CloudEvents sender does. The ledger ends with exactly one complete migration
// record each time.
func TestCloudEventsAgentKilledAtEachStep(t *testing.T) {
	f := fedtest.Start(t, "east", "west")
	agents := map[string]*process{"east": startProcess(t, f, "east", "--metrics", freeAddr(t)), "west": startProcess(t, f, "west")}
	s := newSender(t, "")
	type step struct {
		to, typ string
	}
	steps := []step{{"east", "io.bbus.vm.created"}, {"east", "io.bbus.migration.started"}, {"west", "io.bbus.migration.arrived"}, {"west", "io.bbus.migration.succeeded"}}
	for n := range 8 * len(steps) {
		k, delay := n%len(steps), time.Duration(n/len(steps))*3*time.Millisecond
		vm := fmt.Sprintf("vm-k%d", n)
		d := ce.Data{VM: vm, Source: "east", Destination: "west", Resources: bbus.Resources{CPU: 1, MemMiB: 128}}
		for i, st := range steps {
			p := agents[st.to]
			if i == k {
				// The kill lands before, during or after the step's commit;
				// what got its answer is not sent again.
				answer := make(chan int, 1)
				go func() { answer <- s.sendQuiet(p.url, st.typ, d) }()
				time.Sleep(delay)
				p.kill9()
				if code := <-answer; code == http.StatusAccepted {
					t.Logf("%s: %s answered before the kill %s after it was sent", vm, st.typ, delay)
					continue
				}
				t.Logf("%s: %s got no answer, killed %s after it was sent: sent again", vm, st.typ, delay)
			}
			deliver(t, s, p.url, st.typ, d)
		}
		f.CheckMigrated(t, vm, "east", "west")
		f.Send(t, "east", bbus.Action{VMTerminate: &bbus.VMRef{VM: vm}}) // room at west for the next
	}
	// What the agent did, in its metrics and from its own files.
	r, err := http.Get("http://" + agents["east"].metrics() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	for _, want := range []string{`bbus_agent_steps_total{step="migration_propose"}`, `bbus_agent_events_total{kind="vm.created"}`, "bbus_agent_step_latency_seconds_bucket"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("east's metrics have no %s:\n%s", want, body)
		}
	}
	out, errb := bbus2(t, "agent", "status", "--home", f.Home("west"))
	if !strings.Contains(out, "agent of cloud west: running") {
		t.Fatalf("bbus agent status: %s %s", out, errb)
	}
	out, _ = bbus2(t, "agent", "log", "--home", f.Home("west"), "--limit", "100")
	if strings.Count(out, "recorded   vm-k") < 40 || !strings.Contains(out, "migration_complete") {
		t.Fatalf("bbus agent log: %s", out)
	}
}

// deliver sends an event until the agent answers 202.
func deliver(t *testing.T, s *sender, url, typ string, d ce.Data) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code := s.sendQuiet(url, typ, d); code == http.StatusAccepted {
			return
		} else if code != 0 {
			t.Fatalf("%s: HTTP %d", typ, code)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the agent never answered", typ)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func bbus2(t *testing.T, args ...string) (string, string) {
	t.Helper()
	var out, errb strings.Builder
	cmd := exec.CommandContext(context.Background(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), "BBUS_TEST_MAIN=1")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("bbus %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String()
}
