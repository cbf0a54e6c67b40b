package evidence_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/evidence"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/node"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json from a real two-validator chain")

// federation is a real chain on this machine: cloud0's node (the only
// genesis validator) and cloud1's node, which joined as a full node and
// becomes a validator once cloud0 approves it.
type federation struct {
	t          testing.TB
	homes      [3]string
	nodes      [3]*node.Node
	genesis    []byte
	validators [3][]byte
	nodeIDs    [3]string // the nodes' ids: only an invited node may connect
	nonce      uint64
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startFederation(t testing.TB) *federation {
	t.Helper()
	dir := t.TempDir()
	f := &federation{t: t}
	// Ports found free are chosen again while another program takes one
	// before the node binds it.
	var p0 int
	for try := 1; f.nodes[0] == nil; try++ {
		p0 = freePort(t)
		homes, err := node.Testnet(node.TestnetOptions{Validators: 1, Out: filepath.Join(dir, fmt.Sprint(try)), ChainID: "bbus-evidence", P2PPort: p0, APIPort: 1})
		if err != nil {
			t.Fatal(err)
		}
		f.homes[0] = homes[0]
		if f.genesis, err = os.ReadFile(node.GenesisPath(homes[0])); err != nil {
			t.Fatal(err)
		}
		f.nodes[0] = f.tryStart(0, try)
	}
	st, err := f.nodes[0].Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.validators[0] = st.Validators[0].PubKey
	f.add(1, fmt.Sprintf("%s@127.0.0.1:%d", st.NodeID, p0))
	return f
}

// add lays out and starts node k, of cloud k, which knows the peer peer0, on
// a free port (chosen again while another program takes it before the node
// binds it).
func (f *federation) add(k int, peer0 string) {
	f.t.Helper()
	cloud := fmt.Sprint("cloud", k)
	for try := 1; f.nodes[k] == nil; try++ {
		f.homes[k] = filepath.Join(filepath.Dir(f.homes[0]), fmt.Sprint("node", k, "-", try))
		c := node.DefaultConfig(cloud)
		c.P2PListen = fmt.Sprintf("tcp://127.0.0.1:%d", freePort(f.t))
		id, err := node.Init(node.InitOptions{Home: f.homes[k], Cloud: cloud, Genesis: node.GenesisPath(f.homes[0]), Peers: peer0, Config: &c})
		if err != nil {
			f.t.Fatal(err)
		}
		f.validators[k] = id.ValidatorKey
		f.nodeIDs[k] = id.NodeID
		f.nodes[k] = f.tryStart(k, try)
	}
}

// tryStart starts node k; it returns nil if its port was in use, unless this
// was the fifth try.
func (f *federation) tryStart(k, try int) *node.Node {
	f.t.Helper()
	n, err := node.Open(f.homes[k], io.Discard)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := n.Start(""); err != nil {
		if strings.Contains(err.Error(), "in use") && try < 5 {
			f.t.Logf("again on another port: %v", err)
			return nil
		}
		f.t.Fatal(err)
	}
	f.t.Cleanup(n.Stop)
	return n
}

// send signs action as cloud (whose key is in home k), submits it to node k
// and waits for it to be applied.
func (f *federation) send(k int, cloud string, a bbus.Action) *bbus.TxResult {
	f.t.Helper()
	key, err := keys.Load(f.homes[k], cloud)
	if err != nil {
		f.t.Fatal(err)
	}
	f.nonce++
	raw, _, err := bbus.SignTx(&bbus.Body{ChainID: "bbus-evidence", Signer: cloud, Nonce: f.nonce,
		Expires: time.Now().Add(10 * time.Minute).Unix(), Action: a}, key.PrivKey)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := f.nodes[k].Submit(ctx, raw, true)
	if err != nil || res.Code != "" {
		f.t.Fatalf("%s by %s: %+v %v", a.Type(), cloud, res, err)
	}
	return res
}

// join makes cloud1 a member and a validator, and waits until both nodes run
// the chain together.
func (f *federation) join() {
	f.t.Helper()
	f.joinAs(1)
}

// joinAs makes cloud k a member and a validator (cloud0 invites it, cloud1
// approves it when it is a member), waits until node k runs the chain with
// the others, and returns the height of the admission.
func (f *federation) joinAs(k int) int64 {
	f.t.Helper()
	cloud := fmt.Sprint("cloud", k)
	key, err := keys.Load(f.homes[k], cloud)
	if err != nil {
		f.t.Fatal(err)
	}
	// cloud0's invitation is its vote: as the only member, it admits cloud1.
	// It names the node, which the members' nodes then let connect.
	inv := f.send(0, "cloud0", bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: cloud, PubKey: key.PubKey, ValidatorKey: f.validators[k], NodeID: f.nodeIDs[k]}})
	// A node that is still catching up neither relays transactions nor
	// votes: with two validators, the chain would wait for it. It must also
	// know the invitation to admit the join.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := f.nodes[k].Status(context.Background())
		if err == nil && !st.CatchingUp && st.Height >= inv.Height {
			break
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s's node never caught up to height %d: %+v %v", cloud, inv.Height, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	admitted := f.send(k, cloud, bbus.Action{CloudJoin: &bbus.CloudJoin{Name: "Cloud " + cloud, PubKey: key.PubKey,
		ValidatorKey: f.validators[k], Resources: bbus.Resources{CPU: 1000, MemMiB: 1 << 20}}}).Height
	if k > 1 {
		admitted = f.send(1, "cloud1", bbus.Action{CloudApprove: &bbus.CloudApprove{Cloud: cloud, PubKey: key.PubKey}}).Height
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		st, err := f.nodes[k].Status(context.Background())
		if err == nil && len(st.Validators) == k+1 {
			return admitted
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s never became a validator: %+v %v", cloud, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// vm runs a VM's whole life across the two clouds: every kind of transaction
// that touches a VM.
func (f *federation) vm(id string) {
	res := bbus.Resources{CPU: 2, MemMiB: 1024}
	f.send(0, "cloud0", bbus.Action{VMRegister: &bbus.VMRegister{VM: id, Resources: res}})
	m := f.send(0, "cloud0", bbus.Action{MigrationPropose: &bbus.Propose{VM: id, To: "cloud1"}}).ID
	f.send(1, "cloud1", bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: m}})
	f.send(1, "cloud1", bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: m}})
	m = f.send(1, "cloud1", bbus.Action{MigrationPropose: &bbus.Propose{VM: id, To: "cloud0"}}).ID
	f.send(0, "cloud0", bbus.Action{MigrationReject: &bbus.MigrationRef{Migration: m}})
	m = f.send(1, "cloud1", bbus.Action{MigrationPropose: &bbus.Propose{VM: id, To: "cloud0"}}).ID
	f.send(1, "cloud1", bbus.Action{MigrationCancel: &bbus.MigrationRef{Migration: m}})
	f.send(0, "cloud0", bbus.Action{VMTerminate: &bbus.VMRef{VM: id}})
}

// travel migrates vm n times between cloud0 and cloud1, from cloud0 first:
// each step submitted to the node of the cloud that signs it, and committed
// before the next.
func (f *federation) travel(vm string, n int) {
	f.t.Helper()
	for i := 0; i < n; i++ {
		from, to := i%2, 1-i%2
		m := f.send(from, fmt.Sprint("cloud", from), bbus.Action{MigrationPropose: &bbus.Propose{VM: vm, To: fmt.Sprint("cloud", to)}}).ID
		f.send(to, fmt.Sprint("cloud", to), bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: m}})
		f.send(to, fmt.Sprint("cloud", to), bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: m}})
	}
}

func (f *federation) export(k int, vm string) []byte {
	f.t.Helper()
	return f.exportFor(k, vm, 0)
}

// exportFor exports the bundle of vm from node k for an auditor who trusts
// the header at height checkpoint (0: genesis only).
func (f *federation) exportFor(k int, vm string, checkpoint int64) []byte {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := f.nodes[k].Evidence(ctx, vm, checkpoint)
	if err != nil {
		f.t.Fatalf("export %s: %v", vm, err)
	}
	out, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		f.t.Fatal(err)
	}
	return append(out, '\n')
}

// TestExportAndVerify exports the evidence of VMs from a real chain whose
// validator set grows from one to two between their transactions, and
// verifies it offline against the genesis document alone.
func TestExportAndVerify(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a two-validator chain")
	}
	f := startFederation(t)
	f.send(0, "cloud0", bbus.Action{VMRegister: &bbus.VMRegister{VM: "early", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}})
	f.join()
	f.vm("vm-1")
	f.send(0, "cloud0", bbus.Action{MigrationPropose: &bbus.Propose{VM: "early", To: "cloud1"}})

	bundle := f.export(1, "vm-1")
	rep, err := evidence.Verify(bundle, f.genesis)
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, bundle)
	}
	t.Logf("vm-1: %d bytes; %s", len(bundle), strings.TrimSpace(rep.String()))
	var types []string
	for _, e := range rep.Txs {
		types = append(types, e.Type)
	}
	if got := strings.Join(types, " "); got != "vm_register migration_propose migration_accept migration_complete migration_propose migration_reject migration_propose migration_cancel vm_terminate" {
		t.Fatalf("transactions %s", got)
	}
	// Each proposal is named by the transaction that answered it.
	for i, e := range rep.Txs {
		if e.Type == "migration_propose" && (e.ID == "" || e.ID != rep.Txs[i+1].ID || !strings.HasSuffix(e.Summary, " as "+e.ID)) {
			t.Errorf("proposal %d: %+v, answered by %+v", i, e, rep.Txs[i+1])
		}
	}
	if rep.ValidatorSets != 2 || len(rep.Intervals) != 2 || rep.Intervals[0].Cloud != "cloud0" || rep.Intervals[1].Cloud != "cloud1" ||
		rep.Intervals[1].End == nil || len(rep.Signers) != 2 || rep.Signers[0].From != "genesis" || !strings.HasPrefix(rep.Signers[1].From, "cloud_join") {
		t.Fatalf("report %+v", rep)
	}
	// The proved history is the ledger's.
	var hist *bbus.History
	f.nodes[0].View(func(r kv.Reader) error {
		hist, err = ledger.VMHistory(r, "vm-1")
		return err
	})
	for i, iv := range hist.Intervals {
		p := rep.Intervals[i]
		if p.Cloud != iv.Cloud || !p.Start.Time.Equal(iv.Start.At) || p.Start.Height != iv.Start.Height || p.End.Height != iv.End.Height {
			t.Fatalf("interval %d: proved %+v, ledger %+v", i, p, iv)
		}
	}
	// Both nodes export the same evidence.
	if other := f.export(0, "vm-1"); len(other) == 0 {
		t.Fatal("empty export")
	} else if _, err := evidence.Verify(other, f.genesis); err != nil {
		t.Fatal(err)
	}
	// A VM whose last transaction is the latest: the export waits for the
	// block whose header carries the app hash of the state it proves.
	early := f.export(0, "early")
	if rep, err := evidence.Verify(early, f.genesis); err != nil || len(rep.Txs) != 2 {
		t.Fatalf("early: %+v %v", rep, err)
	}
	// Against another chain's genesis nothing verifies.
	other := startFederationGenesisOnly(t)
	if _, err := evidence.Verify(bundle, other); err == nil {
		t.Fatal("verified against another chain's genesis")
	} else {
		t.Logf("another genesis: %v", err)
	}
	if _, err := f.nodes[0].Evidence(context.Background(), "nope", 0); bbus.ErrorCode(err) != bbus.ENOTFOUND {
		t.Fatalf("unknown VM: %v", err)
	}

	if *update {
		write(t, "genesis.json", f.genesis)
		write(t, "vm-1.json", bundle)
		// A VM with 100 transactions, for BenchmarkVerify.
		f.send(0, "cloud0", bbus.Action{VMRegister: &bbus.VMRegister{VM: "busy", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}})
		f.travel("busy", 33)
		write(t, "busy-100.json", f.export(0, "busy"))
	}
}

// startFederationGenesisOnly returns the genesis of another one-cloud chain
// with the same chain id.
func startFederationGenesisOnly(t *testing.T) []byte {
	homes, err := node.Testnet(node.TestnetOptions{Validators: 1, Out: t.TempDir(), ChainID: "bbus-evidence", P2PPort: 1, APIPort: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(node.GenesisPath(homes[0]))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, name string, data []byte) {
	if err := os.WriteFile(filepath.Join("testdata", name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote testdata/%s (%d bytes)", name, len(data))
}

// BenchmarkExportTraveller exports and verifies the bundle of a VM that
// migrated 100 and 1,000 times between two validators' clouds, on a real
// two-validator chain: the export's time and size, and the offline
// verification's time (each step of each migration waits for its block, so
// building the 1,000 takes a minute or two).
//
//	go test ./evidence -run '^$' -bench ExportTraveller -benchtime 1x
func BenchmarkExportTraveller(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("migrations=%d", n), func(b *testing.B) {
			f := startFederation(b)
			f.join()
			vm := "traveller"
			f.send(0, "cloud0", bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: bbus.Resources{CPU: 1, MemMiB: 1}}})
			f.travel(vm, n)
			b.ResetTimer()
			t0 := time.Now()
			bundle := f.export(0, vm)
			export := time.Since(t0)
			t0 = time.Now()
			rep, err := evidence.Verify(bundle, f.genesis)
			verify := time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			if len(rep.Txs) != 1+3*n {
				b.Fatalf("%d transactions proved, want %d", len(rep.Txs), 1+3*n)
			}
			b.ReportMetric(float64(export.Microseconds())/1000, "export-ms")
			b.ReportMetric(float64(verify.Microseconds())/1000, "verify-ms")
			b.ReportMetric(float64(len(bundle)), "bundle-bytes")
		})
	}
}
