package node

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cometbft/cometbft/p2p"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

// testnet lays out n validators with Testnet, lets edit change each home's
// configuration, and starts them (without the REST API).
func testnet(t *testing.T, n int, edit func(k int, c *Config, ids []string)) ([]*Node, []string) {
	t.Helper()
	return testnetStarting(t, n, edit, n)
}

// testnetStarting is testnet that starts only the first m nodes. Its ports
// are chosen again while another program takes one before a node binds it.
func testnetStarting(t *testing.T, n int, edit func(k int, c *Config, ids []string), m int) ([]*Node, []string) {
	t.Helper()
	var homes []string
	nodes := make([]*Node, n)
	onFreePorts(t, n, func(base int) error {
		var err error
		homes, err = Testnet(TestnetOptions{Validators: n, Out: t.TempDir(), P2PPort: base, APIPort: 1})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, n)
		for k, h := range homes {
			if ids[k], err = NodeID(h); err != nil {
				t.Fatal(err)
			}
		}
		if edit != nil {
			for k, h := range homes {
				c, err := LoadConfig(h)
				if err != nil {
					t.Fatal(err)
				}
				edit(k, c, ids)
				if err := c.Save(h); err != nil {
					t.Fatal(err)
				}
			}
		}
		started, err := startAll(t, homes[:m])
		copy(nodes, started)
		return err
	})
	for _, s := range nodes[:m] {
		t.Cleanup(s.Stop)
	}
	return nodes, homes
}

// TestFifthNodeFindsMembersOnTheLedger starts five validators where node4
// knows only node0 and no other node knows node4 (as a node initialised with
// --peers of one member): node4 finds the other members' nodes from their
// records on the ledger, so with node0 stopped the other four (four fifths of
// the power) keep committing. Without the ledger's directory, node4 would be
// cut off and the three left (three fifths) would halt.
func TestFifthNodeFindsMembersOnTheLedger(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five validators")
	}
	nodes, homes := testnet(t, 5, func(k int, c *Config, ids []string) {
		var keep []string
		for _, p := range strings.Split(c.PersistentPeers, ",") {
			id, _, _ := strings.Cut(p, "@")
			if k == 4 && id == ids[0] || k != 4 && id != ids[4] {
				keep = append(keep, p)
			}
		}
		c.PersistentPeers = strings.Join(keep, ",")
	})
	waitFor(t, 30*time.Second, "node4 connected to all four other members", func() bool {
		return nodes[4].cmt.Switch().Peers().Size() == 4
	})
	nodes[0].Stop()
	sign := signer(t, homes[1], "cloud1", "bbus-testnet")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := nodes[1].Submit(ctx, sign(bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-after", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}), true)
	if err != nil || res.Code != "" {
		t.Fatalf("with node0 stopped: %+v %v", res, err)
	}
	waitFor(t, 20*time.Second, "node4 to hold vm-after", func() bool { return hasVM(nodes[4], "vm-after") })
	// The directory reads the commits' signatures on its own round (about
	// once a second), so what node4 reports catches up a little after it
	// holds the block.
	var health []bbus.NodeHealth
	waitFor(t, 20*time.Second, "node4 to report cloud1's signature of the write's block", func() bool {
		var err error
		if health, err = nodes[4].Nodes(ctx); err != nil {
			return false
		}
		for _, h := range health {
			if h.Cloud == "cloud1" {
				return h.LastSignedHeight >= res.Height-1
			}
		}
		return false
	})
	for _, h := range health {
		// (Whether it still counts node0, stopped in this process rather than
		// killed, depends on when its sockets close: the process tests check that.)
		if h.Cloud != "cloud0" && !h.Connected {
			t.Errorf("node4 reports %s not connected", h.Cloud)
		}
		if h.Cloud == "cloud1" && (h.LastSignedHeight < res.Height-1 || h.Version != bbus.Version) {
			t.Errorf("node4 reports %+v after cloud1 signed around %d", h, res.Height)
		}
	}
}

// TestStrangerGetsNoBlock starts a node that has the genesis and a member's
// address but whose node id the ledger does not name: the member refuses the
// connection, so the stranger holds no block. Then the members vote it in as
// an observer: it connects, syncs, and signs nothing (it has no power). Voted
// out again, the members disconnect it and it gets no further block.
func TestStrangerGetsNoBlock(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes")
	}
	nodes, homes := testnet(t, 2, nil)
	sign0 := signer(t, homes[0], "cloud0", "bbus-testnet")
	sign1 := signer(t, homes[1], "cloud1", "bbus-testnet")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	submit := func(n *Node, raw []byte) *bbus.TxResult {
		t.Helper()
		res, err := n.Submit(ctx, raw, true)
		if err != nil || res.Code != "" {
			t.Fatalf("submit: %+v %v", res, err)
		}
		return res
	}
	submit(nodes[0], sign0(bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-secret", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}))

	home := t.TempDir()
	c := DefaultConfig("stranger")
	c.P2PListen = "tcp://127.0.0.1:0" // a port of its own choosing: no other program can take it first
	member := nodes[0].cmt.NodeInfo().(p2p.DefaultNodeInfo)
	if _, err := Init(InitOptions{Home: home, Cloud: "stranger", Config: &c, Genesis: GenesisPath(homes[0]),
		Peers: fmt.Sprintf("%s@%s", member.ID(), strings.TrimPrefix(nodes[0].Config.P2PListen, "tcp://"))}); err != nil {
		t.Fatal(err)
	}
	stranger, err := Open(home, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := stranger.Start(""); err != nil {
		t.Fatal(err)
	}
	defer stranger.Stop()
	// Give it the time a member's node needs to connect and sync (well under a second here).
	time.Sleep(3 * time.Second)
	strangerID, err := NodeID(home)
	if err != nil {
		t.Fatal(err)
	}
	// No member keeps it as a peer: the member's filter refuses it during
	// the handshake. (The stranger's own count may show the member for the
	// moment between its side of the handshake and the member's refusal,
	// as it keeps redialling.)
	for i, m := range nodes {
		if m.cmt.Switch().Peers().Has(p2p.ID(strangerID)) {
			t.Fatalf("member node%d has the stranger's node as a peer", i)
		}
	}
	if h, _, _ := stranger.store.Last(); h != 0 {
		t.Fatalf("a stranger's node reached height %d", h)
	}

	// Voted in as an observer, the same node syncs.
	submit(nodes[0], sign0(bbus.Action{ObserverInvite: &bbus.ObserverInvite{Observer: "auditor", NodeID: strangerID}}))
	res := submit(nodes[1], sign1(bbus.Action{ObserverApprove: &bbus.ObserverApprove{Observer: "auditor", NodeID: strangerID}}))
	waitFor(t, 30*time.Second, "the observer to sync", func() bool { return hasVM(stranger, "vm-secret") })
	waitFor(t, 30*time.Second, "the observer to reach the approval", func() bool {
		h, _, _ := stranger.store.Last()
		return h >= res.Height
	})
	// It signs nothing: no commit carries its validator key's signature.
	addr := stranger.cmt.PrivValidator()
	pub, err := addr.GetPubKey()
	if err != nil {
		t.Fatal(err)
	}
	stranger.dir.mu.Lock()
	signed := stranger.dir.lastSigned[pub.Address().String()]
	stranger.dir.mu.Unlock()
	if signed != 0 {
		t.Fatalf("the observer's key signed block %d", signed)
	}

	// Voted out, it is disconnected and gets no further block.
	submit(nodes[0], sign0(bbus.Action{ObserverRemove: &bbus.ObserverRef{Observer: "auditor"}}))
	gone := submit(nodes[1], sign1(bbus.Action{ObserverRemove: &bbus.ObserverRef{Observer: "auditor"}}))
	waitFor(t, 10*time.Second, "the members to disconnect the removed observer", func() bool {
		return !nodes[0].cmt.Switch().Peers().Has(p2p.ID(strangerID)) && !nodes[1].cmt.Switch().Peers().Has(p2p.ID(strangerID))
	})
	after := submit(nodes[0], sign0(bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-after-removal", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}))
	time.Sleep(2 * time.Second) // what a connected node needs to get the block, many times over
	if h, _, _ := stranger.store.Last(); h >= after.Height || hasVM(stranger, "vm-after-removal") {
		t.Fatalf("the removed observer reached height %d (removed at %d, the next write at %d)", h, gone.Height, after.Height)
	}
}

// TestAddressChangeReachesMembers has a member whose node is down publish a new peer
// address (cloud_update, committed by the other three): the others' nodes
// dial the new address from the block that commits it, with no file edited
// and no restart, and once the member's node listens there it is connected
// and catches up.
func TestAddressChangeReachesMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four validators")
	}
	// node3 is not started until it has moved.
	nodes, homes := testnetStarting(t, 4, nil, 3)
	// The new address is held from the start (not found free and closed,
	// which another program could take before the test listened there).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	moved := ln.Addr().String()
	dialed := make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
			dialed <- struct{}{}
		}
	}()
	sign3 := signer(t, homes[3], "cloud3", "bbus-testnet")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := nodes[0].Submit(ctx, sign3(bbus.Action{CloudUpdate: &bbus.CloudUpdate{P2PAddress: moved}}), true)
	if err != nil || res.Code != "" {
		t.Fatalf("cloud_update: %+v %v", res, err)
	}
	select {
	case <-dialed:
	case <-ctx.Done():
		t.Fatal("no member's node dialed the new address")
	}
	ln.Close()

	// The member's node listens there; it was told nothing but its new
	// listen address (its persistent peers are gone).
	c, err := LoadConfig(homes[3])
	if err != nil {
		t.Fatal(err)
	}
	c.P2PListen, c.PersistentPeers = "tcp://"+moved, ""
	if err := c.Save(homes[3]); err != nil {
		t.Fatal(err)
	}
	again, err := Open(homes[3], io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Start(""); err != nil {
		t.Fatal(err)
	}
	defer again.Stop()
	waitFor(t, 30*time.Second, "the moved node to catch up", func() bool {
		h, _, _ := again.store.Last()
		return h >= res.Height && again.cmt.Switch().Peers().Size() == 3
	})
	var published string
	again.View(func(r kv.Reader) error {
		cl, _ := ledger.Cloud(r, "cloud3")
		published = cl.P2PAddress
		return nil
	})
	if published != moved {
		t.Fatalf("cloud3 publishes %q, want %q", published, moved)
	}
}

// TestRemovingAHalfOfThePowerKeepsTheChain removes one of two validators of
// equal power: the removed cloud's validator still signs the two blocks before
// its removal takes effect in consensus, so its node must stay connected until
// then. Cut off at once, the remaining half of the power could not commit, and
// the chain would stop for good.
func TestRemovingAHalfOfThePowerKeepsTheChain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two validators")
	}
	nodes, homes := testnet(t, 2, nil)
	waitFor(t, 30*time.Second, "the two nodes connected", func() bool { return nodes[0].cmt.Switch().Peers().Size() == 1 })
	sign := signer(t, homes[0], "cloud0", "bbus-testnet")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := nodes[0].Submit(ctx, sign(bbus.Action{CloudRemove: &bbus.CloudRef{Cloud: "cloud1"}}), true)
	if err != nil || res.Code != "" {
		t.Fatalf("remove cloud1: %+v %v", res, err)
	}
	for i := 0; i < 3; i++ {
		res, err := nodes[0].Submit(ctx, sign(bbus.Action{VMRegister: &bbus.VMRegister{VM: fmt.Sprintf("vm-after-%d", i), Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}), true)
		if err != nil || res.Code != "" {
			t.Fatalf("write %d after the removal: %+v %v", i, res, err)
		}
	}
	waitFor(t, 20*time.Second, "cloud1's node disconnected once its validator left the set", func() bool {
		return nodes[0].cmt.Switch().Peers().Size() == 0
	})
}
