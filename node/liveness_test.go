package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
)

// syncBuffer is a bytes.Buffer that a node's logger and a test may share.
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

// probe is what a health endpoint answered.
type probe struct {
	status int
	err    *bbus.Error
	down   bool // the server did not answer at all
}

func getProbe(url string) probe {
	r, err := http.Get(url)
	if err != nil {
		return probe{down: true}
	}
	defer r.Body.Close()
	var body struct {
		Error *bbus.Error `json:"error"`
	}
	b, _ := io.ReadAll(r.Body)
	json.Unmarshal(b, &body)
	return probe{status: r.StatusCode, err: body.Error}
}

// setHealth writes settings into the "health" object of a home's bbus.json,
// as an operator would edit the file.
func setHealth(t *testing.T, home string, health map[string]any) {
	t.Helper()
	b, err := os.ReadFile(configPath(home))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["health"] = health
	b, _ = json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(configPath(home), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// singleHome initialises a single-validator home for cloud "local".
func singleHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	c := DefaultConfig("local")
	c.P2PListen = "tcp://127.0.0.1:0" // a port of its own choosing: no other program can take it first
	if _, err := Init(InitOptions{Home: home, Cloud: "local", Config: &c}); err != nil {
		t.Fatal(err)
	}
	return home
}

// breakSignState replaces the validator's last-sign state by a folder, so that
// CometBFT's next signature cannot be saved: it panics in consensus, which
// stops with CONSENSUS FAILURE (as with a full disk).
func breakSignState(t *testing.T, home string) {
	t.Helper()
	p := filepath.Join(home, "data", "priv_validator_state.json")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p, 0o700); err != nil {
		t.Fatal(err)
	}
}

func registerTx(t *testing.T, home, cloud, chainID, vm string) []byte {
	return signer(t, home, cloud, chainID)(bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: bbus.Resources{CPU: 1, MemMiB: 1}}})
}

// TestConsensusFailureIsNotHealthy: once consensus has failed, /readyz and
// /healthz answer 503 with the reason, and the node stops cleanly.
func TestConsensusFailureIsNotHealthy(t *testing.T) {
	home := singleHome(t)
	logs := &syncBuffer{}
	n, err := Open(home, logs)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			n.Stop()
		}
	}()
	base := "http://" + n.APIAddr()
	ctx := context.Background()
	if res, err := n.Submit(ctx, registerTx(t, home, "local", "bbus-local", "vm-1"), true); err != nil || res.Code != "" {
		t.Fatalf("register: %+v %v", res, err)
	}
	if p := getProbe(base + "/readyz"); p.status != 200 {
		t.Fatalf("readyz of a healthy node: %+v", p)
	}
	breakSignState(t, home)
	// The next block needs a signature, which cannot be saved.
	n.Submit(ctx, registerTx(t, home, "local", "bbus-local", "vm-2"), false)
	waitFor(t, 30*time.Second, "/readyz to say 503", func() bool { return getProbe(base+"/readyz").status == 503 })
	for _, path := range []string{"/readyz", "/healthz"} {
		p := getProbe(base + path)
		if p.status != 503 || p.err == nil || p.err.Code != bbus.EUNAVAILABLE ||
			!strings.Contains(p.err.Message, "consensus") || !strings.Contains(p.err.Message, "priv_validator_state.json") {
			t.Errorf("%s after the consensus failure: %d %+v", path, p.status, p.err)
		} else {
			t.Logf("%s: %d %s", path, p.status, p.err.Message)
		}
	}
	// A request for another host is refused before the reason is given.
	req, _ := http.NewRequest("GET", base+"/healthz", nil)
	req.Host = "evil.example."
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || strings.Contains(string(b), "priv_validator") {
			t.Errorf("/healthz for another host after the failure: %d %s", resp.StatusCode, b)
		}
	}
	done := make(chan struct{})
	go func() { n.Stop(); close(done) }()
	select {
	case <-done:
		stopped = true
	case <-time.After(30 * time.Second):
		t.Fatal("the failed node did not stop")
	}
	if !strings.Contains(logs.String(), "CONSENSUS FAILURE") {
		t.Errorf("logs lack CometBFT's failure:\n%s", logs)
	}
}

// TestRunEndsOnConsensusFailure: Run returns an error naming the failure
// (what makes bbus start exit non-zero) and logs it at error level.
func TestRunEndsOnConsensusFailure(t *testing.T) {
	home := singleHome(t)
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan *Node, 1)
	result := make(chan error, 1)
	go func() { result <- Run(ctx, home, "127.0.0.1:0", logs, func(n *Node) { started <- n }) }()
	var n *Node
	select {
	case n = <-started:
	case err := <-result:
		t.Fatalf("run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the node did not start")
	}
	base := "http://" + n.APIAddr()
	if res, err := n.Submit(ctx, registerTx(t, home, "local", "bbus-local", "vm-1"), true); err != nil || res.Code != "" {
		t.Fatalf("register: %+v %v", res, err)
	}
	breakSignState(t, home)
	n.Submit(ctx, registerTx(t, home, "local", "bbus-local", "vm-2"), false)
	select {
	case err := <-result:
		t.Logf("run: %v", err)
		if err == nil || !strings.Contains(err.Error(), "consensus") || !strings.Contains(err.Error(), "priv_validator_state.json") {
			t.Fatalf("run returned %v, want the consensus failure", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("run did not return after the consensus failure; logs:\n%s", logs)
	}
	if p := getProbe(base + "/readyz"); !p.down && p.status != 503 {
		t.Errorf("readyz after run returned: %+v", p)
	}
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.HasPrefix(l, "E[") && strings.Contains(l, "node stops") {
			line = l
		}
	}
	if line == "" || !strings.Contains(line, "priv_validator_state.json") {
		t.Errorf("no error-level line says why the node stops:\n%s", logs)
	}
}

// TestReadyWhenTransactionsWait: an idle chain stays ready past
// health.stall_after; with one of two validators stopped no block can commit,
// and once a submitted transaction has waited longer than the bound /readyz
// says 503 while /healthz still serves.
func TestReadyWhenTransactionsWait(t *testing.T) {
	var homes []string
	nodes := make([]*Node, 2)
	onFreePorts(t, 2, func(base int) (err error) {
		homes, err = Testnet(TestnetOptions{Validators: 2, Out: t.TempDir(), P2PPort: base, APIPort: 1})
		if err != nil {
			t.Fatal(err)
		}
		setHealth(t, homes[0], map[string]any{"stall_after": "1s"})
		for k, h := range homes {
			if nodes[k], err = Open(h, io.Discard); err != nil {
				t.Fatal(err)
			}
			api := ""
			if k == 0 {
				api = "127.0.0.1:0"
			}
			if err := nodes[k].Start(api); err != nil {
				if k == 1 {
					nodes[0].Stop()
				}
				return err
			}
		}
		return nil
	})
	defer nodes[0].Stop()
	url := "http://" + nodes[0].APIAddr()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if res, err := nodes[0].Submit(ctx, registerTx(t, homes[0], "cloud0", "bbus-testnet", "vm-1"), true); err != nil || res.Code != "" {
		t.Fatalf("register: %+v %v", res, err)
	}
	waitFor(t, 30*time.Second, "/readyz to say 200", func() bool { return getProbe(url+"/readyz").status == 200 })
	// An idle chain commits no block, and stays ready well past the bound.
	time.Sleep(2 * time.Second)
	if p := getProbe(url + "/readyz"); p.status != 200 {
		t.Fatalf("readyz of an idle chain: %d %+v", p.status, p.err)
	}
	nodes[1].Stop()
	if _, err := nodes[0].Submit(ctx, registerTx(t, homes[0], "cloud0", "bbus-testnet", "vm-2"), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "/readyz to say 503", func() bool { return getProbe(url+"/readyz").status == 503 })
	p := getProbe(url + "/readyz")
	if p.err == nil || p.err.Code != bbus.EUNAVAILABLE || !strings.Contains(p.err.Message, "waiting") {
		t.Errorf("readyz while a transaction waits: %+v", p)
	} else {
		t.Logf("readyz: %d %s", p.status, p.err.Message)
	}
	if p := getProbe(url + "/healthz"); p.status != 200 {
		t.Errorf("healthz while a transaction waits: %+v", p)
	}
}

// TestReadyStallClock: the stall clock starts at the later of the last commit
// and the first transaction admitted after it, so a transaction arriving at a
// chain idle for long is given the whole bound.
func TestReadyStallClock(t *testing.T) {
	l := newLiveness(HealthConfig{StallAfter: Duration(time.Minute)})
	waiting := 0
	l.mempool = func() int { return waiting }
	t0 := time.Now()
	l.lastCommit.Store(t0.Add(-time.Hour).UnixNano()) // idle for an hour
	if err := l.stalled(t0); err != nil {
		t.Fatalf("idle with nothing waiting: %v", err)
	}
	waiting = 1
	l.admitted()
	if err := l.stalled(time.Now().Add(59 * time.Second)); err != nil {
		t.Fatalf("a transaction waiting for less than the bound: %v", err)
	}
	err := l.stalled(time.Now().Add(61 * time.Second))
	if bbus.ErrorCode(err) != bbus.EUNAVAILABLE || !strings.Contains(err.Error(), "transactions waiting: 1") {
		t.Fatalf("a transaction waiting for more than the bound: %v", err)
	}
	// A later admission does not restart the clock; a commit does.
	l.admitted()
	if l.stalled(time.Now().Add(61*time.Second)) == nil {
		t.Fatal("a second admission restarted the clock")
	}
	l.committed()
	if err := l.stalled(time.Now().Add(59 * time.Second)); err != nil {
		t.Fatalf("after a commit: %v", err)
	}
	l.stallAfter = 0
	if err := l.stalled(time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("with the check off: %v", err)
	}
	l.fail(errors.New("consensus failed: disk full"))
	if err := l.stalled(time.Now()); bbus.ErrorCode(err) != bbus.EUNAVAILABLE || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("after a failure: %v", err)
	}
}
