package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/cli"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/node"
)

// The federation tests run validators as child processes of "bbus start"
// (this test binary standing in for bbus), on loopback ports, and fail them
// with SIGKILL.

// member is one node of a federation on this machine.
type member struct {
	home  string
	cloud string
	api   string // http://host:port
	rpc   string // CometBFT's own RPC, to read headers and commits independently of bbus
	p     *process
}

// freePortRange returns the first of n consecutive free loopback ports.
func freePortRange(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ok := base+n < 65535
		for k := 1; ok && k < n; k++ {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+k))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

// startFederation lays out n validators with "bbus testnet" and starts each.
// If another program takes a port the layout chose before a node binds it,
// it lays the federation out again on other ports.
func startFederation(t *testing.T, n int) []*member {
	t.Helper()
	for try := 1; ; try++ {
		ms, err := tryFederation(t, n)
		if err == nil {
			return ms
		}
		if !errors.Is(err, errInUse) || try == 5 {
			t.Fatal(err)
		}
		t.Logf("laying the federation out again: %v", err)
	}
}

func tryFederation(t *testing.T, n int) ([]*member, error) {
	t.Helper()
	out := t.TempDir()
	p2p := freePortRange(t, n)
	run(t, 0, "testnet", "--validators", strconv.Itoa(n), "--out", out, "--p2p-port", strconv.Itoa(p2p), "--api-port", "1")
	ms := make([]*member, n)
	for k := range ms {
		ms[k] = newMember(t, filepath.Join(out, fmt.Sprintf("node%d", k)), fmt.Sprintf("cloud%d", k))
	}
	for _, m := range ms {
		p, err := tryStartNode(t, m.home, "")
		if err != nil {
			for _, o := range ms {
				if o.p != nil {
					o.p.cmd.Process.Kill()
					o.p.cmd.Wait()
				}
			}
			return nil, err
		}
		m.p, m.api = p, p.api
	}
	return ms, nil
}

// newMember turns CometBFT's RPC on for a home; its API address is the one
// its node binds when it starts.
func newMember(t *testing.T, home, cloud string) *member {
	m := &member{home: home, cloud: cloud}
	m.rebindRPC(t)
	return m
}

// rebindRPC gives the member's CometBFT RPC another free address.
func (m *member) rebindRPC(t *testing.T) {
	cfg, err := node.LoadConfig(m.home)
	if err != nil {
		t.Fatal(err)
	}
	rpc := freeAddr(t)
	cfg.RPCListen = "tcp://" + rpc
	if err := cfg.Save(m.home); err != nil {
		t.Fatal(err)
	}
	m.rpc = "http://" + rpc
}

// start starts the member's node, on another RPC address if another program
// took its own.
func (m *member) start(t *testing.T) {
	t.Helper()
	for try := 1; ; try++ {
		p, err := tryStartNode(t, m.home, "")
		if err == nil {
			m.p, m.api = p, p.api
			return
		}
		if !errors.Is(err, errInUse) || try == 5 {
			t.Fatal(err)
		}
		m.rebindRPC(t)
	}
}

// kill stops the node with SIGKILL: no shutdown of any kind.
func (m *member) kill(t *testing.T) {
	t.Helper()
	if err := m.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	m.p.cmd.Wait()
}

func (m *member) status(t *testing.T) bbus.Status {
	t.Helper()
	// A node that has not committed its first block yet cannot say (503).
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st bbus.Status
		code := getJSON(t, m.api+"/v1/status", &st)
		if code == 200 {
			return st
		}
		if code != 503 || time.Now().After(deadline) {
			t.Fatalf("%s status: %d", m.cloud, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signer signs transactions as cloud, with the key in home.
type signer struct {
	mu    sync.Mutex
	keys  map[string]*keys.Key
	nonce uint64
}

func newSigner(t *testing.T, ms []*member) *signer {
	s := &signer{keys: map[string]*keys.Key{}}
	for _, m := range ms {
		k, err := keys.Load(m.home, m.cloud)
		if err != nil {
			t.Fatal(err)
		}
		s.keys[m.cloud] = k
	}
	return s
}

func (s *signer) sign(cloud string, a bbus.Action) []byte {
	s.mu.Lock()
	s.nonce++
	n := s.nonce
	s.mu.Unlock()
	raw, _, err := bbus.SignTx(&bbus.Body{ChainID: "bbus-testnet", Signer: cloud, Nonce: n,
		Expires: time.Now().Add(10 * time.Minute).Unix(), Action: a}, s.keys[cloud].PrivKey)
	if err != nil {
		panic(err)
	}
	return raw
}

// post submits a transaction and waits for its commit, up to timeout. It
// returns the result only if the node said it was committed and applied.
func post(api string, raw []byte, timeout time.Duration) (*bbus.TxResult, error) {
	c := &http.Client{Timeout: timeout}
	r, err := c.Post(api+"/v1/txs", "application/json", bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	var res bbus.TxResult
	if r.StatusCode != 200 || json.Unmarshal(b, &res) != nil || res.Height == 0 {
		return nil, fmt.Errorf("HTTP %d: %s", r.StatusCode, b)
	}
	return &res, nil
}

func mustPost(t *testing.T, api string, raw []byte) *bbus.TxResult {
	t.Helper()
	res, err := post(api, raw, 60*time.Second)
	if err != nil {
		t.Fatalf("submit to %s: %v", api, err)
	}
	return res
}

func vmRegister(vm string) bbus.Action {
	return bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// headers returns "block hash app hash" of every height 1..h as node m's
// CometBFT RPC reports it.
func headers(t *testing.T, m *member, h int64) []string {
	t.Helper()
	out := make([]string, h+1)
	for lo := int64(1); lo <= h; lo += 20 {
		hi := min(lo+19, h)
		var r struct {
			Result struct {
				BlockMetas []struct {
					BlockID struct{ Hash string } `json:"block_id"`
					Header  struct {
						Height  string `json:"height"`
						AppHash string `json:"app_hash"`
					} `json:"header"`
				} `json:"block_metas"`
			} `json:"result"`
		}
		if code := getJSON(t, fmt.Sprintf("%s/blockchain?minHeight=%d&maxHeight=%d", m.rpc, lo, hi), &r); code != 200 {
			t.Fatalf("%s: blockchain %d-%d: %d", m.cloud, lo, hi, code)
		}
		for _, bm := range r.Result.BlockMetas {
			n, _ := strconv.ParseInt(bm.Header.Height, 10, 64)
			out[n] = bm.BlockID.Hash + " " + bm.Header.AppHash
		}
	}
	for i := int64(1); i <= h; i++ {
		if out[i] == "" {
			t.Fatalf("%s has no header at height %d", m.cloud, i)
		}
	}
	return out
}

// sameChain waits until every member reports the same height and app hash,
// then checks that all hold the same header and app hash at every height, and
// returns that height.
func sameChain(t *testing.T, ms []*member) int64 {
	t.Helper()
	var h int64
	eventually(t, 30*time.Second, "all members at one height and app hash", func() bool {
		st := ms[0].status(t)
		for _, m := range ms[1:] {
			if s := m.status(t); s.Height != st.Height || s.AppHash != st.AppHash {
				return false
			}
		}
		h = st.Height
		return true
	})
	want := headers(t, ms[0], h)
	for _, m := range ms[1:] {
		got := headers(t, m, h)
		for i := int64(1); i <= h; i++ {
			if got[i] != want[i] {
				t.Fatalf("height %d: %s has %s, %s has %s", i, m.cloud, got[i], ms[0].cloud, want[i])
			}
		}
	}
	return h
}

// history returns a VM's history as a member serves it.
func history(t *testing.T, m *member, vm string) string {
	t.Helper()
	r, err := http.Get(m.api + "/v1/vms/" + vm + "/history")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 {
		t.Fatalf("%s: history of %s: %d %s", m.cloud, vm, r.StatusCode, b)
	}
	return string(b)
}

// load runs one client per member: each registers VMs and moves them to the
// next cloud (propose, accept, complete), through its member's node, or the
// next live one when that fails. acked holds the VMs whose whole migration a
// node reported committed.
type load struct {
	mu     sync.Mutex
	acked  []string
	errors int
	down   map[int]bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startLoad(t *testing.T, ms []*member, s *signer) *load {
	l := &load{down: map[int]bool{}, stop: make(chan struct{})}
	for w := range ms {
		l.wg.Add(1)
		go func(w int) {
			defer l.wg.Done()
			target := w
			send := func(cloud string, a bbus.Action) (*bbus.TxResult, bool) {
				raw := s.sign(cloud, a)
				for {
					select {
					case <-l.stop:
						return nil, false
					default:
					}
					l.mu.Lock()
					for l.down[target] {
						target = (target + 1) % len(ms)
					}
					l.mu.Unlock()
					res, err := post(ms[target].api, raw, 10*time.Second)
					if err == nil {
						return res, true
					}
					if strings.Contains(err.Error(), "already committed") {
						return nil, false // a retry of what committed: the next VM
					}
					l.mu.Lock()
					l.errors++
					l.mu.Unlock()
					time.Sleep(50 * time.Millisecond)
				}
			}
			from, to := ms[w].cloud, ms[(w+1)%len(ms)].cloud
			for i := 0; ; i++ {
				vm := fmt.Sprintf("vm-%d-%d", w, i)
				if _, ok := send(from, vmRegister(vm)); !ok {
					return
				}
				res, ok := send(from, bbus.Action{MigrationPropose: &bbus.Propose{VM: vm, To: to}})
				if !ok {
					return
				}
				if _, ok := send(to, bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: res.ID}}); !ok {
					return
				}
				if _, ok := send(to, bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: res.ID}}); !ok {
					return
				}
				l.mu.Lock()
				l.acked = append(l.acked, vm)
				l.mu.Unlock()
			}
		}(w)
	}
	return l
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

func (l *load) finish() []string {
	close(l.stop)
	l.wg.Wait()
	return l.acked
}

// TestFourValidatorsSurviveKill9 kills one of four validators with SIGKILL
// while clients migrate VMs through all four: the other three keep
// committing; restarted, the killed one catches up; then all four hold the
// same header and app hash at every height and serve the same history of
// every VM a client was told had migrated.
func TestFourValidatorsSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four validators as processes")
	}
	ms := startFederation(t, 4)
	l := startLoad(t, ms, newSigner(t, ms))
	eventually(t, 30*time.Second, "the first migrations", func() bool { return l.count() >= 4 })
	time.Sleep(time.Second)

	victim := ms[3]
	l.mu.Lock()
	l.down[3] = true
	l.mu.Unlock()
	victim.kill(t)
	atKill, heightAtKill := l.count(), ms[0].status(t).Height
	eventually(t, 30*time.Second, "migrations with one validator down", func() bool {
		return l.count() >= atKill+8 && ms[0].status(t).Height > heightAtKill+8
	})
	t.Logf("with %s killed: %d more migrations, height %d -> %d", victim.cloud, l.count()-atKill, heightAtKill, ms[0].status(t).Height)

	restarted := time.Now()
	victim.start(t)
	target := ms[0].status(t).Height
	eventually(t, 60*time.Second, "the killed validator to catch up", func() bool { return victim.status(t).Height >= target })
	t.Logf("restarted %s caught up to height %d in %s", victim.cloud, target, time.Since(restarted).Round(time.Millisecond))
	l.mu.Lock()
	l.down[3] = false
	l.mu.Unlock()
	time.Sleep(500 * time.Millisecond)

	acked := l.finish()
	h := sameChain(t, ms)
	for _, vm := range acked {
		want := history(t, ms[0], vm)
		if !strings.Contains(want, `"status":"completed"`) {
			t.Fatalf("%s was acknowledged as migrated; history %s", vm, want)
		}
		for _, m := range ms[1:] {
			if got := history(t, m, vm); got != want {
				t.Fatalf("history of %s: %s serves %s, %s serves %s", vm, m.cloud, got, ms[0].cloud, want)
			}
		}
	}
	t.Logf("%d migrations acknowledged (%d client errors while a node was down); four validators agree on %d headers", len(acked), l.errors, h)
}

// TestTwoOfFourDownHalts kills two of four validators: no block commits and
// a client waiting on a write is not told it committed; one restarted, the
// chain resumes, the pending write commits, and nothing committed before is
// lost.
func TestTwoOfFourDownHalts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four validators as processes")
	}
	ms := startFederation(t, 4)
	s := newSigner(t, ms)
	before := mustPost(t, ms[0].api, s.sign("cloud0", vmRegister("before")))
	eventually(t, 30*time.Second, "every member to hold vm before", func() bool {
		for _, m := range ms {
			if getJSON(t, m.api+"/v1/vms/before", nil) != 200 {
				return false
			}
		}
		return true
	})
	ms[2].kill(t)
	ms[3].kill(t)
	// A block the dead ones voted for may still commit, one at the most.
	halted := haltedHeight(t, ms[:2])
	if res, err := post(ms[0].api, s.sign("cloud0", vmRegister("pending")), 4*time.Second); err == nil {
		t.Fatalf("with two of four validators down, a client was told a write committed: %+v", res)
	} else {
		t.Logf("with two of four down, the client got: %v", err)
	}
	for _, m := range ms[:2] {
		if st := m.status(t); st.Height > halted+1 {
			t.Fatalf("%s committed block %d with two of four validators down (halted at %d, and the votes held then could commit one more)", m.cloud, st.Height, halted)
		}
		if code := getJSON(t, m.api+"/v1/vms/pending", nil); code != 404 {
			t.Fatalf("%s: vm pending: %d", m.cloud, code)
		}
	}

	ms[2].start(t)
	resumed := time.Now()
	eventually(t, 90*time.Second, "the pending write to commit", func() bool { return getJSON(t, ms[0].api+"/v1/vms/pending", nil) == 200 })
	t.Logf("halted at height %d; with one validator back the pending write committed after %s", halted, time.Since(resumed).Round(time.Millisecond))
	after := mustPost(t, ms[2].api, s.sign("cloud2", vmRegister("after")))
	for _, m := range ms[:3] {
		var vm bbus.VM
		if code := getJSON(t, m.api+"/v1/vms/before", &vm); code != 200 || vm.Registered.Height != before.Height {
			t.Fatalf("%s lost vm before (committed at %d): %d %+v", m.cloud, before.Height, code, vm)
		}
	}
	if after.Height <= halted {
		t.Fatalf("write after resuming at height %d, halted at %d", after.Height, halted)
	}
}

// haltedHeight waits until the members ms say, by CometBFT's own account of its
// peers, that each is connected to the other members of ms only: every
// message the others sent before they died has been read (a connection ends
// after its data). It returns the highest height the members committed: they
// can commit at most one more, with the precommits they already hold.
func haltedHeight(t *testing.T, ms []*member) int64 {
	t.Helper()
	eventually(t, 60*time.Second, "the living validators to drop the dead ones", func() bool {
		for _, m := range ms {
			var ni struct {
				Result struct {
					NPeers any `json:"n_peers"`
				} `json:"result"`
			}
			if getJSON(t, m.rpc+"/net_info", &ni) != 200 || fmt.Sprint(ni.Result.NPeers) != strconv.Itoa(len(ms)-1) {
				return false
			}
		}
		return true
	})
	var h int64
	for _, m := range ms {
		h = max(h, m.status(t).Height)
	}
	return h
}

// TestFifthCloudJoinsByVote runs the operator's commands for a new cloud: it
// initialises a node that joins the chain, syncs it, applies with the node's
// validator key, is admitted by the vote of three of the four members, and
// from then on its node signs blocks. Evidence of a VM whose history spans
// the change of validators verifies offline; removal by vote takes the power
// away again.
func TestFifthCloudJoinsByVote(t *testing.T) {
	if testing.Short() {
		t.Skip("runs five validators as processes")
	}
	ms := startFederation(t, 4)
	genesis := node.GenesisPath(ms[0].home)
	// The new node is told of one member only, cloud0's: it finds the others
	// from their records on the ledger.
	cfg0, err := node.LoadConfig(ms[0].home)
	if err != nil {
		t.Fatal(err)
	}
	peer0 := ms[0].status(t).NodeID + "@" + strings.TrimPrefix(cfg0.P2PListen, "tcp://")
	home := filepath.Join(t.TempDir(), "node4")
	out := run(t, 0, "init", "--home", home, "--cloud", "cloud4", "--genesis", genesis, "--peers", peer0,
		"--p2p", "tcp://"+freeAddr(t))
	if !strings.Contains(out, "--validator") {
		t.Fatalf("init does not say how to apply:\n%s", out)
	}
	newcomer := newMember(t, home, "cloud4")
	joinArgs := []string{"tx", "--home", home, "--node", newcomer.api, "--from", "cloud4", "cloud", "join", "--name", "Cloud Four",
		"--cpu", "64", "--mem-mib", "65536", "--disk-iops", "1000", "--net-mbps", "1000", "--validator"}
	// Uninvited, the application is refused before it reaches a block.
	uninvited := append([]string{}, joinArgs...)
	uninvited[4] = ms[0].api
	run(t, 1, uninvited...)
	// cloud0 invites cloud4's key, its node's validator key and its node id:
	// that is its vote, and it lets the node sync.
	k4, err := keys.Load(home, "cloud4")
	if err != nil {
		t.Fatal(err)
	}
	v4, err := node.ValidatorKey(home)
	if err != nil {
		t.Fatal(err)
	}
	n4, err := node.NodeID(home)
	if err != nil {
		t.Fatal(err)
	}
	run(t, 0, "tx", "--home", ms[0].home, "--node", ms[0].api, "--from", "cloud0", "cloud", "invite", "cloud4",
		"--pub-key", base64.StdEncoding.EncodeToString(k4.PubKey), "--validator-key", base64.StdEncoding.EncodeToString(v4),
		"--node-id", n4)
	newcomer.start(t)
	joinArgs[4] = newcomer.api // the address its node bound
	eventually(t, 60*time.Second, "the new node to sync", func() bool {
		st := newcomer.status(t)
		return !st.CatchingUp && st.Height >= ms[0].status(t).Height
	})
	run(t, 0, joinArgs...)
	// cloud0 registers a VM before the vote, to move it to cloud4 after.
	run(t, 0, "tx", "--home", ms[0].home, "--node", ms[0].api, "--from", "cloud0", "vm", "register", "vm-5", "--cpu", "2", "--mem-mib", "2048")
	for k, m := range ms[1:3] {
		out := run(t, 0, "tx", "--home", m.home, "--node", m.api, "--from", m.cloud, "cloud", "approve", "cloud4")
		if want := []string{"cloud4 has 2 of the 3 votes it needs (more than 2/3 of 4 active members)", "cloud4 is admitted, with 3 votes"}[k]; !strings.Contains(out, want) {
			t.Fatalf("approve %d says:\n%s\nwant %q", k+1, out, want)
		}
		var c bbus.Cloud
		getJSON(t, m.api+"/v1/clouds/cloud4", &c)
		if admitted := c.Status == bbus.CloudActive; admitted != (k == 1) {
			t.Fatalf("after the invitation and %d approvals cloud4 is %s", k+1, c.Status)
		}
	}
	var vals []bbus.Validator
	eventually(t, 30*time.Second, "five validators", func() bool {
		out := run(t, 0, "query", "--node", ms[0].api, "--output", "json", "validators")
		return json.Unmarshal([]byte(out), &vals) == nil && len(vals) == 5
	})
	addr := ""
	for _, v := range vals {
		if v.Cloud == "cloud4" && v.Power == 10 {
			addr = v.Address
		}
	}
	if addr == "" {
		t.Fatalf("cloud4 is no validator of power 10: %+v", vals)
	}
	// The newcomer's node shows the same once it has caught up with the admission.
	eventually(t, 30*time.Second, "the newcomer listing five validators", func() bool {
		out := run(t, 0, "query", "--node", newcomer.api, "validators")
		return strings.Contains(out, "cloud4") && strings.Contains(out, "5 validators")
	})
	// Activity after the change, then a commit signed by cloud4's node.
	admittedAt := ms[0].status(t).Height
	mig := struct{ ID string }{}
	json.Unmarshal([]byte(run(t, 0, "tx", "--home", ms[0].home, "--node", ms[0].api, "--from", "cloud0", "--output", "json",
		"migration", "propose", "vm-5", "--to", "cloud4")), &mig)
	run(t, 0, "tx", "--home", home, "--node", newcomer.api, "--from", "cloud4", "migration", "accept", mig.ID)
	run(t, 0, "tx", "--home", home, "--node", newcomer.api, "--from", "cloud4", "migration", "complete", mig.ID)
	signedBy := func(h int64) bool {
		var c struct {
			Result struct {
				SignedHeader struct {
					Commit struct {
						Signatures []struct {
							Flag    int    `json:"block_id_flag"`
							Address string `json:"validator_address"`
						} `json:"signatures"`
					} `json:"commit"`
				} `json:"signed_header"`
			} `json:"result"`
		}
		if getJSON(t, fmt.Sprintf("%s/commit?height=%d", ms[1].rpc, h), &c) != 200 {
			return false
		}
		for _, s := range c.Result.SignedHeader.Commit.Signatures {
			if s.Address == addr && s.Flag == 2 {
				return true
			}
		}
		return false
	}
	signed := int64(0)
	eventually(t, 30*time.Second, "a commit signed by cloud4's node", func() bool {
		for h := admittedAt; h < ms[1].status(t).Height; h++ {
			if signedBy(h) {
				signed = h
				return true
			}
		}
		return false
	})
	t.Logf("cloud4 admitted by the third vote; its validator %s signed the commit of block %d", addr, signed)
	var c4 bbus.Cloud
	if getJSON(t, ms[1].api+"/v1/clouds/cloud4", &c4); c4.NodeID != n4 || c4.P2PAddress == "" {
		t.Fatalf("cloud4 publishes node %q at %q, want node %s", c4.NodeID, c4.P2PAddress, n4)
	}

	// cloud0's node killed: the four others, four fifths of the power, go on,
	// cloud4's among them though it was told only of cloud0's. The members
	// see cloud0's node down.
	ms[0].kill(t)
	killed := time.Now()
	eventually(t, 10*time.Second, "bbus query nodes on node1 to show cloud0 not connected", func() bool {
		var ns []bbus.NodeHealth
		json.Unmarshal([]byte(run(t, 0, "query", "--node", ms[1].api, "--output", "json", "nodes")), &ns)
		for _, n := range ns {
			if n.Cloud == "cloud0" {
				return !n.Connected
			}
		}
		return false
	})
	t.Logf("node1 reported cloud0's node down %s after the kill", time.Since(killed).Round(time.Millisecond))
	if out := run(t, 0, "query", "--node", newcomer.api, "nodes"); !strings.Contains(out, "4 of 5 members' nodes connected") {
		t.Fatalf("cloud4's node with cloud0's killed:\n%s", out)
	}
	run(t, 0, "tx", "--home", home, "--node", newcomer.api, "--from", "cloud4", "vm", "register", "vm-7", "--cpu", "1", "--mem-mib", "1")
	eventually(t, 30*time.Second, "node1 to hold vm-7", func() bool { return getJSON(t, ms[1].api+"/v1/vms/vm-7", nil) == 200 })
	ms[0].start(t)
	eventually(t, 60*time.Second, "the restarted node0 to catch up", func() bool {
		return getJSON(t, ms[0].api+"/v1/vms/vm-7", nil) == 200
	})

	// The evidence of vm-5 spans four and then five validators. The node it is
	// exported from must have applied the completion first.
	eventually(t, 30*time.Second, "node1 applying vm-5's completion", func() bool {
		var vm struct{ Host string }
		return getJSON(t, ms[1].api+"/v1/vms/vm-5", &vm) == 200 && vm.Host == "cloud4"
	})
	bundle := filepath.Join(t.TempDir(), "vm-5.json")
	if err := os.WriteFile(bundle, []byte(run(t, 0, "evidence", "export", "--node", ms[1].api, "--vm", "vm-5")), 0o644); err != nil {
		t.Fatal(err)
	}
	out = run(t, 0, "evidence", "verify", bundle, "--genesis", genesis)
	if !strings.Contains(out, "verified") || !strings.Contains(out, "cloud4 completes") || !strings.Contains(out, "key from cloud_join") {
		t.Fatalf("verify:\n%s", out)
	}
	var rep struct {
		ValidatorSets int `json:"validator_sets"`
	}
	json.Unmarshal([]byte(run(t, 0, "evidence", "verify", bundle, "--genesis", genesis, "--output", "json")), &rep)
	if rep.ValidatorSets != 2 {
		t.Fatalf("the bundle has %d validator sets, want 2 (four, then five)", rep.ValidatorSets)
	}
	b, _ := os.ReadFile(bundle)
	tampered := bytes.Replace(b, []byte(`\"to\":\"cloud4\"`), []byte(`\"to\":\"cloud3\"`), 1)
	if bytes.Equal(tampered, b) {
		t.Fatal("the bundle has no proposal to cloud4")
	}
	os.WriteFile(bundle, tampered, 0o644)
	var stdout, stderr bytes.Buffer
	if code := runCLI([]string{"evidence", "verify", bundle, "--genesis", genesis}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "the bundle does not verify: evidence: ") {
		t.Fatalf("a tampered bundle: exit %d, stderr %s", code, stderr.String())
	}

	// Removed by vote, its node has no power any more; the chain goes on.
	for _, m := range ms[:3] {
		run(t, 0, "tx", "--home", m.home, "--node", m.api, "--from", m.cloud, "cloud", "remove", "cloud4")
	}
	eventually(t, 30*time.Second, "four validators again", func() bool {
		out := run(t, 0, "query", "--node", ms[0].api, "--output", "json", "validators")
		return json.Unmarshal([]byte(out), &vals) == nil && len(vals) == 4
	})
	run(t, 0, "tx", "--home", ms[3].home, "--node", ms[3].api, "--from", "cloud3", "vm", "register", "vm-6", "--cpu", "1", "--mem-mib", "1")
}

// runCLI runs a bbus command in this process and returns its exit code.
func runCLI(args []string, stdout, stderr io.Writer) int {
	return cli.Main(args, strings.NewReader(""), stdout, stderr)
}
