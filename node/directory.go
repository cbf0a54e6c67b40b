package node

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/cometbft/cometbft/p2p"
	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

// DirectoryInterval is how often a node redials the members' nodes it is not
// connected to, besides after every committed block.
const DirectoryInterval = time.Second

// signedWindow bounds how many heights back a node reads commits to learn
// which validators signed: after a long sync only the most recent count.
const signedWindow = 100

// directory keeps the node connected to every active member's node, from what
// the ledger says (each cloud's node_id and p2p_address), and disconnects the
// peers the ledger does not let in (ledger.NodeAllowed): a removed member's
// node, a removed observer's. It also remembers, per validator address, the
// last height whose commit that validator signed. Its memory is bounded by the
// validator set.
type directory struct {
	n *Node
	loop
	// routes, set by tests before the node starts, replace the address the
	// ledger publishes for the given node ids (the WAN tests put their
	// delaying proxies there).
	routes map[string]string

	mu         sync.Mutex
	lastSigned map[string]int64 // validator address (upper hex) -> height
	scanned    int64            // the last height whose commit was read
}

func newDirectory(n *Node) *directory {
	return &directory{n: n, loop: newLoop(),
		lastSigned: map[string]int64{}}
}

func (d *directory) start() {
	d.run(func() {
		t := time.NewTicker(DirectoryInterval)
		defer t.Stop()
		for {
			d.pass()
			select {
			case <-d.stop:
				return
			case <-d.wake:
			case <-t.C:
			}
		}
	})
}

// pass dials the members' nodes that are not connected, drops the peers the
// ledger does not let in, and reads the commits since the last pass.
func (d *directory) pass() {
	n := d.n
	sw := n.cmt.Switch()
	if sw == nil || !sw.IsRunning() {
		return
	}
	self := string(n.cmt.NodeInfo().ID())
	var dial []string
	var drop []p2p.Peer
	height, _, _ := n.store.Last()
	n.store.View(func(r kv.Reader) error {
		for _, c := range members(r) {
			addr := c.P2PAddress
			if a, ok := d.routes[c.NodeID]; ok {
				addr = a
			}
			if c.NodeID == self || addr == "" || sw.Peers().Has(p2p.ID(c.NodeID)) {
				continue
			}
			dial = append(dial, c.NodeID+"@"+addr)
		}
		for _, p := range peerList(sw) {
			if ok, _ := ledger.NodeAllowed(r, string(p.ID()), height); !ok && !n.Config.OpenPeers {
				drop = append(drop, p)
			}
		}
		return nil
	})
	for _, p := range drop {
		n.log.Info("disconnecting a peer the ledger does not let in", "peer", p.ID())
		sw.StopPeerGracefully(p)
	}
	for _, addr := range dial {
		// One at a time: the switch skips an address it is already dialing.
		if err := sw.DialPeersAsync([]string{addr}); err != nil {
			n.log.Info("cannot dial a member's node", "addr", addr, "err", err)
		}
	}
	d.readCommits()
}

// readCommits records, for the heights committed since the last pass (at most
// signedWindow of them), which validators signed each block's commit.
func (d *directory) readCommits() {
	bs := d.n.cmt.BlockStore()
	top := bs.Height()
	d.mu.Lock()
	from := max(d.scanned+1, top-signedWindow+1, 1)
	d.mu.Unlock()
	for h := from; h <= top; h++ {
		c := bs.LoadSeenCommit(h)
		if c == nil {
			c = bs.LoadBlockCommit(h)
		}
		if c == nil {
			continue
		}
		d.mu.Lock()
		for _, s := range c.Signatures {
			if s.BlockIDFlag == cmttypes.BlockIDFlagCommit {
				d.lastSigned[s.ValidatorAddress.String()] = h
			}
		}
		d.mu.Unlock()
	}
	d.mu.Lock()
	if top > d.scanned {
		d.scanned = top
	}
	// Forget validators that left the set: memory stays bounded by it.
	if len(d.lastSigned) > 4*signedWindow {
		d.lastSigned = map[string]int64{}
	}
	d.mu.Unlock()
}

// members returns the active clouds, in id order.
func members(r kv.Reader) []bbus.Cloud {
	var out []bbus.Cloud
	p := bbus.Page{Limit: ledger.MaxLimit}
	for {
		cs, next := ledger.Clouds(r, p)
		for _, c := range cs {
			if c.Status == bbus.CloudActive {
				out = append(out, c)
			}
		}
		if next == "" {
			return out
		}
		p.After = next
	}
}

// Nodes reports, for every active member that published a node, what this
// node sees of it: connected, the last height its validator signed, the bbus
// version it announced. It implements httpapi.NodeLister.
func (n *Node) Nodes(context.Context) ([]bbus.NodeHealth, error) {
	out := []bbus.NodeHealth{}
	if n.cmt == nil || !n.cmt.IsRunning() {
		return out, bbus.Errorf(bbus.EUNAVAILABLE, "the node is not running")
	}
	sw := n.cmt.Switch()
	self := string(n.cmt.NodeInfo().ID())
	var clouds []bbus.Cloud
	n.store.View(func(r kv.Reader) error {
		clouds = members(r)
		return nil
	})
	n.dir.mu.Lock()
	defer n.dir.mu.Unlock()
	for _, c := range clouds {
		h := bbus.NodeHealth{Cloud: c.ID, NodeID: c.NodeID, P2PAddress: c.P2PAddress, Validator: c.Power > 0}
		if c.ValidatorKey != nil {
			h.LastSignedHeight = n.dir.lastSigned[cmted25519PubKey(c.ValidatorKey).Address().String()]
		}
		switch {
		case c.NodeID == self && self != "":
			h.Self, h.Connected, h.Version = true, true, bbus.Version
		case c.NodeID != "":
			if p := sw.Peers().Get(p2p.ID(c.NodeID)); p != nil {
				h.Connected = true
				h.Version = announcedVersion(p)
			}
		}
		out = append(out, h)
	}
	return out, nil
}

// monikerVersion is how a node announces its bbus version to its peers: its
// moniker is "<cloud> bbus/<version>".
const monikerVersion = " bbus/"

func moniker(cloud string) string { return cloud + monikerVersion + bbus.Version }

// announcedVersion returns the bbus version a peer announced in its moniker, or "".
func announcedVersion(p p2p.Peer) string {
	ni, ok := p.NodeInfo().(p2p.DefaultNodeInfo)
	if !ok {
		return ""
	}
	if _, v, ok := strings.Cut(ni.Moniker, monikerVersion); ok {
		return v
	}
	return ""
}

// memberCollector serves bbus_member_connected and
// bbus_member_last_signed_height per member cloud.
type memberCollector struct {
	n                       *Node
	connected, lastSignedAt *prometheus.Desc
}

func newMemberCollector(n *Node) *memberCollector {
	return &memberCollector{n: n,
		connected: prometheus.NewDesc("bbus_member_connected",
			"1 when this node is connected to the member cloud's node (or is it), 0 otherwise.", []string{"cloud"}, nil),
		lastSignedAt: prometheus.NewDesc("bbus_member_last_signed_height",
			"The last height whose commit the member cloud's validator signed, as this node has seen since it started.", []string{"cloud"}, nil),
	}
}

func (m *memberCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.connected
	ch <- m.lastSignedAt
}

func (m *memberCollector) Collect(ch chan<- prometheus.Metric) {
	nodes, err := m.n.Nodes(context.Background())
	if err != nil {
		return
	}
	for _, h := range nodes {
		v := 0.0
		if h.Connected {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(m.connected, prometheus.GaugeValue, v, h.Cloud)
		ch <- prometheus.MustNewConstMetric(m.lastSignedAt, prometheus.GaugeValue, float64(h.LastSignedHeight), h.Cloud)
	}
}
