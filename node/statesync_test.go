package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

// stateSyncTxs is how many transactions TestJoinByStateSync commits before a
// node joins: 100,000 with BBUS_STATESYNC_100K=1 (the figure in
// docs/BENCHMARKS.md), fewer by default so that CI runs it quickly.
func stateSyncTxs() int {
	if os.Getenv("BBUS_STATESYNC_100K") != "" {
		return 100_000
	}
	return 6_000
}

// load commits n VM registrations on node n0, in batches submitted without
// waiting, the last of each waited for.
func load(t *testing.T, n0 *Node, sign func(bbus.Action) []byte, total int) {
	t.Helper()
	ctx := context.Background()
	const batch = 2500
	for done := 0; done < total; {
		k := min(batch, total-done)
		raws := make([][]byte, k)
		for i := range raws {
			raws[i] = sign(registerVM(fmt.Sprintf("vm-%06d", done+i)))
		}
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < k-1; i += 4 {
					if _, err := n0.Submit(ctx, raws[i], false); err != nil {
						errs <- err
						return
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		res, err := n0.Submit(ctx, raws[k-1], true)
		if err != nil || res.Code != "" {
			t.Fatalf("batch ending at %d: %+v %v", done+k, res, err)
		}
		done += k
	}
}

// joiner makes the home of a node that joins n0's chain, by state sync if
// trust is not empty, by replaying every block otherwise, and starts it.
func joiner(t *testing.T, n0 *Node, rpc, trust string) *Node {
	t.Helper()
	logs := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of the joining node:\n%s", logs.tail(60))
		}
	})
	home := t.TempDir()
	st, err := n0.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var n *Node
	onFreePorts(t, 1, func(base int) error {
		c := DefaultConfig("joiner")
		c.LogLevel = "info"
		c.P2PListen = "tcp://" + loopback(base)
		if trust != "" {
			h, hash, err := ParseTrust(trust)
			if err != nil {
				t.Fatal(err)
			}
			c.StateSync = StateSyncConfig{Enable: true, RPCServers: []string{rpc, rpc}, TrustHeight: h, TrustHash: hash, TrustPeriod: DefaultTrustPeriod}
		}
		os.RemoveAll(home)
		if _, err := Init(InitOptions{Home: home, Cloud: "joiner", Genesis: genesisPath(n0.Home), Config: &c, Out: io.Discard,
			Peers: st.NodeID + "@" + loopback(p2pPort(t, n0))}); err != nil {
			t.Fatal(err)
		}
		n, err = Open(home, logs)
		if err != nil {
			return err
		}
		return n.Start("")
	})
	t.Cleanup(n.Stop)
	return n
}

func p2pPort(t *testing.T, n *Node) int {
	t.Helper()
	_, p, _ := stringsCut(n.Config.P2PListen)
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func stringsCut(addr string) (string, string, bool) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[:i], addr[i+1:], true
		}
	}
	return addr, "", false
}

// caughtUp waits until n has committed height and its consensus no longer
// catches up, and returns how long that took from start.
func caughtUp(t *testing.T, n *Node, height int64, start time.Time, d time.Duration) time.Duration {
	t.Helper()
	waitFor(t, d, fmt.Sprintf("the joining node to commit height %d", height), func() bool {
		h, _, _ := n.store.Last()
		return h >= height
	})
	return time.Since(start)
}

// TestJoinByStateSync commits many transactions on a one-validator chain
// that takes snapshots, then starts a node that joins from a snapshot and
// one that replays every block. The first must restore the state of a
// snapshot's height (its first block past it, nothing replayed from height
// 1), catch up, and reach the same app hash and the same VM records as the
// member; the times of both go to docs/BENCHMARKS.md.
func TestJoinByStateSync(t *testing.T) {
	if testing.Short() {
		t.Skip("commits thousands of transactions")
	}
	total := stateSyncTxs()
	var homes []string
	var n0 *Node
	var rpc string
	onFreePorts(t, 3, func(base int) error {
		out := t.TempDir()
		var err error
		homes, err = Testnet(TestnetOptions{Validators: 1, Out: out, P2PPort: base, APIPort: base + 1,
			Capacity: bbus.Resources{CPU: 1 << 30, MemMiB: 1 << 30, DiskIOPS: 1 << 20, NetMbps: 1 << 20}})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := LoadConfig(homes[0])
		c.RPCListen = "tcp://" + loopback(base+2)
		rpc = "http://" + loopback(base+2)
		c.SnapshotInterval = 20
		c.OpenPeers = true                                  // the joiner's node id is on no record
		c.CreateEmptyBlocksInterval = Duration(time.Second) // heights go on past a snapshot when idle
		if err := c.Save(homes[0]); err != nil {
			t.Fatal(err)
		}
		nodes, err := startAll(t, homes)
		if err != nil {
			return err
		}
		n0 = nodes[0]
		return nil
	})
	defer n0.Stop()
	sign := signer(t, homes[0], "cloud0", "bbus-testnet")
	start := time.Now()
	load(t, n0, sign, total)
	loaded, _, _ := n0.store.Last()
	t.Logf("%d transactions committed in %d blocks in %s", total, loaded, time.Since(start).Round(time.Millisecond))

	// A snapshot of a height past the load, and two blocks on it (the
	// light client verifies the headers after the snapshot's).
	var snapAt int64
	waitFor(t, 2*time.Minute, "a snapshot past the load", func() bool {
		hs, err := n0.app.WaitSnapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) > 0 && hs[len(hs)-1] >= loaded {
			snapAt = hs[len(hs)-1]
			return true
		}
		return false
	})
	st, _ := n0.Status(context.Background())
	target := st.Height + 3
	waitFor(t, time.Minute, "two blocks past the snapshot", func() bool { h, _, _ := n0.store.Last(); return h >= target })

	started := time.Now()
	synced := joiner(t, n0, rpc, st.Trust)
	syncTime := caughtUp(t, synced, target, started, 5*time.Minute)
	if got := synced.App().RestoredHeight(); got < snapAt {
		t.Fatalf("the joining node restored height %d, want the snapshot at %d or later", got, snapAt)
	}
	if base := synced.cmt.BlockStore().Base(); base <= snapAt || base == 1 {
		t.Fatalf("the joining node's first block is %d: it replayed from before the snapshot at %d", base, snapAt)
	}
	// The restored state records its rules, so that the node opens it again.
	if err := ledger.CheckRules(synced.store.Committed()); err != nil {
		t.Fatalf("the restored state: %v", err)
	}
	t.Logf("state sync: restored height %d, first block held %d, caught up to %d in %s",
		synced.App().RestoredHeight(), synced.cmt.BlockStore().Base(), target, syncTime.Round(time.Millisecond))

	started = time.Now()
	replayed := joiner(t, n0, "", "")
	replayTime := caughtUp(t, replayed, target, started, 10*time.Minute)
	t.Logf("full replay: caught up to %d in %s", target, replayTime.Round(time.Millisecond))
	t.Logf("BENCH state sync %s, full replay %s, %d transactions, %d blocks", syncTime.Round(time.Millisecond), replayTime.Round(time.Millisecond), total, target)

	// A transaction after the join: every node commits it to the same state.
	probe := sign(registerVM("vm-probe"))
	res, err := n0.Submit(context.Background(), probe, true)
	if err != nil || res.Code != "" {
		t.Fatalf("probe: %+v %v", res, err)
	}
	for _, n := range []*Node{synced, replayed} {
		waitFor(t, time.Minute, "the probe on a joined node", func() bool { h, _, _ := n.store.Last(); return h >= res.Height })
	}
	at := func(n *Node) []byte {
		var hash []byte
		waitFor(t, time.Minute, "the same height", func() bool {
			h, a, _ := n.store.Last()
			h0, a0, _ := n0.store.Last()
			hash = a
			return h == h0 && bytes.Equal(a, a0)
		})
		return hash
	}
	if a, b := at(synced), at(replayed); !bytes.Equal(a, b) {
		t.Fatalf("app hashes differ: state sync %X, replay %X", a, b)
	}
	for _, vm := range []string{"vm-000000", fmt.Sprintf("vm-%06d", total-1), "vm-probe"} {
		err := synced.View(func(r kv.Reader) error {
			v, err := ledger.VM(r, vm)
			if err == nil && v.Host != "cloud0" {
				t.Errorf("%s hosted by %s", vm, v.Host)
			}
			return err
		})
		if err != nil {
			t.Fatalf("%s through the state-synced node: %v", vm, err)
		}
	}
	// Evidence of a VM registered before the snapshot cannot be built on the
	// joined node (its blocks are not there), and the error says from where.
	if _, err := synced.Evidence(context.Background(), "vm-000000", 0); bbus.ErrorCode(err) != bbus.EUNAVAILABLE {
		t.Fatalf("evidence on the state-synced node: %v", err)
	} else {
		t.Logf("evidence on the state-synced node: %v", err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) tail(lines int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	all := bytes.Split(l.b.Bytes(), []byte("\n"))
	var out [][]byte
	for _, ln := range all {
		if bytes.Contains(ln, []byte("statesync")) || bytes.Contains(ln, []byte("light")) || bytes.Contains(ln, []byte("rror")) || bytes.Contains(ln, []byte("snapshot")) {
			out = append(out, ln)
		}
	}
	return string(bytes.Join(out[max(0, len(out)-lines):], []byte("\n")))
}

// TestPruningKeepsTheLatestSnapshot runs a node with retain_blocks: CometBFT
// prunes old blocks, never past the latest snapshot's height, and evidence
// that needs a pruned block is refused naming the first block kept.
func TestPruningKeepsTheLatestSnapshot(t *testing.T) {
	home := t.TempDir()
	var n *Node
	onFreePorts(t, 1, func(base int) error {
		c := DefaultConfig("local")
		c.P2PListen = "tcp://" + loopback(base)
		c.SnapshotInterval, c.RetainBlocks = 10, 3
		c.CreateEmptyBlocksInterval = Duration(100 * time.Millisecond)
		os.RemoveAll(home)
		if _, err := Init(InitOptions{Home: home, Cloud: "local", Config: &c, Out: io.Discard}); err != nil {
			t.Fatal(err)
		}
		var err error
		if n, err = Open(home, io.Discard); err != nil {
			return err
		}
		return n.Start("")
	})
	defer n.Stop()
	sign := signer(t, home, "local", "bbus-local")
	res, err := n.Submit(context.Background(), sign(registerVM("vm-early")), true)
	if err != nil || res.Code != "" {
		t.Fatalf("register: %+v %v", res, err)
	}
	// CometBFT's pruner runs every 10 s.
	waitFor(t, 2*time.Minute, "blocks pruned past the VM's", func() bool { return n.cmt.BlockStore().Base() > res.Height+1 })
	base := n.cmt.BlockStore().Base()
	hs, _ := n.app.WaitSnapshot(context.Background())
	if len(hs) == 0 || base > hs[len(hs)-1] {
		t.Fatalf("first block kept %d, snapshots %v: pruned past the latest snapshot", base, hs)
	}
	_, err = n.Evidence(context.Background(), "vm-early", 0)
	if bbus.ErrorCode(err) != bbus.EUNAVAILABLE || !strings.Contains(err.Error(), "its first block is") {
		t.Fatalf("evidence on a pruned node: %v", err)
	}
	t.Logf("first block kept %d, snapshots %v; %v", base, hs, err)
}
