package node

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus/internal/wan"
)

// wanTestnet starts n validators whose every peer connection goes through a
// delaying proxy (delay each way), with the consensus timers for that round
// trip: mesh[k][j] carries what node k dials to reach node j, both through
// persistent_peers and through the directory (which, in place of the
// addresses the ledger publishes, dials the proxies).
func wanTestnet(t *testing.T, n int, delay time.Duration) ([]*Node, wan.Mesh) {
	t.Helper()
	// Its ports are chosen again while another program takes one before a
	// node binds it.
	var nodes []*Node
	var mesh wan.Mesh
	onFreePorts(t, n, func(base int) error {
		homes, err := Testnet(TestnetOptions{Validators: n, Out: t.TempDir(), P2PPort: base, APIPort: 1})
		if err != nil {
			t.Fatal(err)
		}
		targets := make([]string, n)
		ids := make([]string, n)
		for k, h := range homes {
			targets[k] = loopback(base + k)
			if ids[k], err = NodeID(h); err != nil {
				t.Fatal(err)
			}
		}
		mesh, err = wan.NewMesh(targets, delay)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(mesh.Close)
		nodes = make([]*Node, n)
		for k, h := range homes {
			var peers []string
			for j := range homes {
				if j != k {
					peers = append(peers, ids[j]+"@"+mesh[k][j].Addr())
				}
			}
			c, err := LoadConfig(h)
			if err != nil {
				t.Fatal(err)
			}
			c.PersistentPeers = strings.Join(peers, ",")
			*c = c.ForRoundTrip(2 * delay)
			if err := c.Save(h); err != nil {
				t.Fatal(err)
			}
		}
		for k, h := range homes {
			if nodes[k], err = Open(h, io.Discard); err != nil {
				t.Fatal(err)
			}
			nodes[k].dir.routes = map[string]string{}
			for j := range homes {
				if j != k {
					nodes[k].dir.routes[ids[j]] = mesh[k][j].Addr()
				}
			}
			if err := nodes[k].Start(""); err != nil {
				for _, s := range nodes[:k] {
					s.Stop()
				}
				return err
			}
		}
		return nil
	})
	for _, s := range nodes {
		t.Cleanup(s.Stop)
	}
	return nodes, mesh
}

func lastHeight(n *Node) int64 {
	h, _, _ := n.store.Last()
	return h
}

// TestWANPartitionHeals runs four validators with 80 ms round trips between
// them (delaying proxies on every link), commits writes one at a time and
// logs their latency, then cuts one validator off for longer than the peer
// timeout (its connections stall, as across a real partition: no end learns
// of it) while the others commit, heals the links, and checks that it
// catches up with the others. It logs how long that took; timing decides
// nothing here, only that it catches up within a generous bound.
func TestWANPartitionHeals(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four validators through delaying proxies")
	}
	const delay = 40 * time.Millisecond
	nodes, mesh := wanTestnet(t, 4, delay)
	sign := signer(t, nodes[0].Home, "cloud0", "bbus-testnet")
	ctx := context.Background()
	submit := func(n *Node, raw []byte, timeout time.Duration) (time.Duration, error) {
		c, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		t0 := time.Now()
		r, err := n.Submit(c, raw, true)
		if err == nil && r.Code != "" {
			err = fmt.Errorf("rejected: %s %s", r.Code, r.Message)
		}
		return time.Since(t0), err
	}
	// The first commit waits for the peers to connect: it is not measured.
	if _, err := submit(nodes[0], sign(registerVM("first")), 60*time.Second); err != nil {
		t.Fatalf("first write: %v", err)
	}
	var lat []time.Duration
	for i := 0; i < 20; i++ {
		d, err := submit(nodes[0], sign(registerVM(fmt.Sprint("w-", i))), 30*time.Second)
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		lat = append(lat, d)
	}
	slices.Sort(lat)
	t.Logf("%d writes one at a time at %s round trip: p50 %s, max %s", len(lat), 2*delay,
		lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))

	// Cut node3 off. The others go on committing, and every end drops its
	// connections across the cut (CometBFT alone would keep them for up to
	// its ping interval and pong timeout, 105 s).
	mesh.Isolate(3, true)
	cutAt := time.Now()
	id3 := nodes[3].cmt.NodeInfo().ID()
	dropped := func() bool {
		for _, n := range nodes[:3] {
			if n.cmt.Switch().Peers().Has(id3) {
				return false
			}
		}
		return nodes[3].cmt.Switch().Peers().Size() == 0
	}
	for i := 0; !dropped(); i++ {
		if time.Since(cutAt) > 30*time.Second {
			t.Fatalf("30 s into the partition some nodes still hold connections across it")
		}
		if _, err := submit(nodes[i%3], sign(registerVM(fmt.Sprint("during-", i))), 30*time.Second); err != nil {
			t.Fatalf("write %d during the partition: %v", i, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("every connection across the partition dropped %s after the cut", time.Since(cutAt).Round(time.Millisecond))
	if _, err := submit(nodes[1], sign(registerVM("during-last")), 30*time.Second); err != nil {
		t.Fatalf("the last write during the partition: %v", err)
	}
	cut := time.Since(cutAt)
	majority := lastHeight(nodes[0])
	if h := lastHeight(nodes[3]); h >= majority {
		t.Fatalf("the cut-off validator is at height %d, the others at %d", h, majority)
	}
	healed := time.Now()
	mesh.Isolate(3, false)
	waitFor(t, 60*time.Second, "the cut-off validator to reach the others' height", func() bool {
		return lastHeight(nodes[3]) >= majority
	})
	resumed := time.Since(healed)
	t.Logf("cut off for %s (the others went on to height %d); resumed %s after healing",
		cut.Round(time.Second), majority, resumed.Round(time.Millisecond))
	// And it takes part again: a write sent to it commits.
	sign3 := signer(t, nodes[3].Home, "cloud3", "bbus-testnet")
	if _, err := submit(nodes[3], sign3(registerVM("after")), 30*time.Second); err != nil {
		t.Fatalf("a write to the healed validator: %v", err)
	}
}

func TestForRoundTrip(t *testing.T) {
	c := DefaultConfig("cloud0")
	if got := c.ForRoundTrip(time.Millisecond); got.TimeoutCommit != c.TimeoutCommit || got.TimeoutPropose != c.TimeoutPropose {
		t.Fatalf("a 1 ms round trip changed the timers: %+v", got)
	}
	for _, tc := range []struct{ rtt, commit, propose time.Duration }{
		{20 * time.Millisecond, 20 * time.Millisecond, 1500 * time.Millisecond},
		{80 * time.Millisecond, 80 * time.Millisecond, 1500 * time.Millisecond},
		{200 * time.Millisecond, 200 * time.Millisecond, 2 * time.Second},
	} {
		got := c.ForRoundTrip(tc.rtt)
		if time.Duration(got.TimeoutCommit) != tc.commit || time.Duration(got.TimeoutPropose) != tc.propose {
			t.Errorf("round trip %s: timeout_commit %s, timeout_propose %s; want %s, %s", tc.rtt,
				time.Duration(got.TimeoutCommit), time.Duration(got.TimeoutPropose), tc.commit, tc.propose)
		}
		if got.PeerTimeout != c.PeerTimeout || got.FlushThrottle != c.FlushThrottle {
			t.Errorf("round trip %s changed more than the consensus timers", tc.rtt)
		}
	}
}
