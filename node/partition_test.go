package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cometbft/cometbft/p2p"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

// link forwards TCP connections to a node's p2p port, and can cut them: a
// fault-injecting link between two validators.
type link struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func newLink(t *testing.T, target string) *link {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &link{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	go p.serve()
	return p
}

func (p *link) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *link) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.mu.Unlock()
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.cut {
			c.Close()
			up.Close()
		} else {
			p.conns = append(p.conns, c, up)
		}
		p.mu.Unlock()
		go func() { io.Copy(up, c); up.Close(); c.Close() }()
		go func() { io.Copy(c, up); up.Close(); c.Close() }()
	}
}

// setCut drops every connection through the link and refuses new ones
// (true), or lets them through again (false).
func (p *link) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// linkedTestnet starts n validators whose every peer connection goes through
// a link: links[k][j] carries what node k dials to reach node j.
func linkedTestnet(t *testing.T, n int) (nodes []*Node, links [][]*link) {
	t.Helper()
	onFreePorts(t, n, func(base int) (err error) {
		nodes, links, err = tryLinkedTestnet(t, n, base)
		return err
	})
	return nodes, links
}

// tryLinkedTestnet lays the testnet out with its peer-to-peer ports from base.
func tryLinkedTestnet(t *testing.T, n, base int) ([]*Node, [][]*link, error) {
	t.Helper()
	homes, err := Testnet(TestnetOptions{Validators: n, Out: t.TempDir(), P2PPort: base, APIPort: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The links are the only way between the nodes: no published address
	// lets a node's directory dial around them.
	unpublishAddresses(t, homes)
	ids := make([]p2p.ID, n)
	for k, h := range homes {
		key, err := p2p.LoadNodeKey(cometPaths(h).NodeKeyFile())
		if err != nil {
			t.Fatal(err)
		}
		ids[k] = key.ID()
	}
	links := make([][]*link, n)
	for k, h := range homes {
		links[k] = make([]*link, n)
		var peers []string
		for j := range homes {
			if j != k {
				links[k][j] = newLink(t, loopback(base+j))
				peers = append(peers, fmt.Sprintf("%s@127.0.0.1:%d", ids[j], links[k][j].port()))
			}
		}
		c, err := LoadConfig(h)
		if err != nil {
			t.Fatal(err)
		}
		c.PersistentPeers = strings.Join(peers, ",")
		if err := c.Save(h); err != nil {
			t.Fatal(err)
		}
	}
	nodes, err := startAll(t, homes)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range nodes {
		t.Cleanup(n.Stop)
	}
	return nodes, links, nil
}

// isolate cuts (or heals) every link to and from node i.
func isolate(links [][]*link, i int, cut bool) {
	for k := range links {
		for j, p := range links[k] {
			if p != nil && (k == i || j == i) {
				p.setCut(cut)
			}
		}
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hasVM(n *Node, vm string) bool {
	return n.View(func(r kv.Reader) error {
		_, err := ledger.VM(r, vm)
		return err
	}) == nil
}

func registerVM(vm string) bbus.Action {
	return bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}
}

// TestPartitionOfOneValidator cuts one of four validators off from the
// others with fault-injecting proxies on every peer link: the three go on
// committing, a write sent to the isolated one is not reported committed,
// and once the links heal the isolated one catches up to the same state.
func TestPartitionOfOneValidator(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four validators through proxies")
	}
	nodes, links := linkedTestnet(t, 4)
	homes := make([]string, len(nodes))
	for k, n := range nodes {
		homes[k] = n.Home
	}
	sign := signer(t, homes[0], "cloud0", "bbus-testnet")
	sign3 := signer(t, homes[3], "cloud3", "bbus-testnet")
	ctx := context.Background()
	submit := func(n *Node, raw []byte, timeout time.Duration) (*bbus.TxResult, error) {
		c, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return n.Submit(c, raw, true)
	}
	if r, err := submit(nodes[0], sign(registerVM("before")), 20*time.Second); err != nil || r.Code != "" {
		t.Fatalf("before: %+v %v", r, err)
	}
	waitFor(t, 20*time.Second, "all four to hold vm before", func() bool {
		for _, n := range nodes {
			if !hasVM(n, "before") {
				return false
			}
		}
		return true
	})

	isolate(links, 3, true)
	// The majority goes on. Each write is sent after the cut, so no block that
	// holds one can reach the isolated validator: the first one's height
	// bounds what it can have committed, whatever was in flight at the cut.
	var firstDuring int64
	for i := 0; i < 5; i++ {
		vm := fmt.Sprint("during-", i)
		r, err := submit(nodes[i%3], sign(registerVM(vm)), 20*time.Second)
		if err != nil || r.Code != "" {
			t.Fatalf("%s during the partition: %+v %v", vm, r, err)
		}
		if i == 0 {
			firstDuring = r.Height
		}
	}
	// The isolated one cannot commit a write on its own.
	lonely := sign3(registerVM("lonely"))
	if r, err := submit(nodes[3], lonely, 2*time.Second); err == nil {
		t.Fatalf("the isolated validator reported a write committed: %+v", r)
	} else if bbus.ErrorCode(err) != bbus.EUNAVAILABLE {
		t.Fatalf("the isolated validator: %v", err)
	}
	majority, _, _ := nodes[0].store.Last()
	cutAt, _, _ := nodes[3].store.Last()
	if cutAt >= firstDuring || hasVM(nodes[3], "during-0") {
		t.Fatalf("the isolated validator committed height %d; the majority committed the first write after the cut at %d", cutAt, firstDuring)
	}
	t.Logf("partition: majority went on to %d, the isolated one stayed at %d", majority, cutAt)

	healed := time.Now()
	isolate(links, 3, false)
	// The write the isolated one held reaches the others and commits.
	waitFor(t, 60*time.Second, "the isolated validator to catch up", func() bool {
		return hasVM(nodes[3], "during-4") && hasVM(nodes[3], "lonely") && hasVM(nodes[0], "lonely")
	})
	t.Logf("caught up %s after healing", time.Since(healed).Round(time.Millisecond))
	if r, err := submit(nodes[3], sign3(registerVM("after")), 20*time.Second); err != nil || r.Code != "" {
		t.Fatalf("after healing: %+v %v", r, err)
	}
	waitFor(t, 20*time.Second, "the same state everywhere", func() bool {
		h0, hash0, _ := nodes[0].store.Last()
		for _, n := range nodes[1:] {
			if h, hash, _ := n.store.Last(); h != h0 || string(hash) != string(hash0) {
				return false
			}
		}
		return hasVM(nodes[0], "after")
	})
}

// unpublishAddresses removes the founding clouds' p2p addresses from the
// genesis of homes (the node ids stay, so the peer filter still applies).
func unpublishAddresses(t *testing.T, homes []string) {
	t.Helper()
	for _, h := range homes {
		doc, err := cmttypes.GenesisDocFromFile(GenesisPath(h))
		if err != nil {
			t.Fatal(err)
		}
		var g bbus.Genesis
		if err := json.Unmarshal(doc.AppState, &g); err != nil {
			t.Fatal(err)
		}
		for i := range g.Clouds {
			g.Clouds[i].P2PAddress = ""
		}
		if doc.AppState, err = json.Marshal(&g); err != nil {
			t.Fatal(err)
		}
		if err := doc.SaveAs(GenesisPath(h)); err != nil {
			t.Fatal(err)
		}
	}
}
