package node

import (
	"fmt"
	"time"

	tmp2p "github.com/cometbft/cometbft/api/cometbft/p2p/v1"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/p2p/conn"
)

// heartbeatChannel is the p2p channel on which bbus nodes send one another a
// heartbeat; no CometBFT reactor uses it.
const heartbeatChannel = byte(0x7B)

// heartbeat drops a peer connection from which nothing (no heartbeat, no
// consensus message, no byte at all) has come for its timeout, so that after
// a partition both ends dial again at once instead of keeping a half-open
// connection. CometBFT's own ping (every 60 s, 45 s for the pong) cannot be
// set from its configuration in v1 (p2p.MConnConfig copies neither), and a
// node whose peer still holds the old connection is refused as a duplicate
// until that peer notices. It sends every peer that has the channel a
// heartbeat each interval, so a live peer is never quiet; peers without the
// channel (not bbus) are never judged.
type heartbeat struct {
	p2p.BaseReactor
	interval, timeout time.Duration
	stop              chan struct{}
}

// newHeartbeat returns the reactor for a peer timeout: a heartbeat every
// quarter of it.
func newHeartbeat(timeout time.Duration) *heartbeat {
	h := &heartbeat{interval: max(timeout/4, 10*time.Millisecond), timeout: timeout, stop: make(chan struct{})}
	h.BaseReactor = *p2p.NewBaseReactor("bbus-heartbeat", h)
	return h
}

// GetChannels implements p2p.Reactor.
func (h *heartbeat) GetChannels() []*conn.ChannelDescriptor {
	return []*conn.ChannelDescriptor{{ID: heartbeatChannel, Priority: 10, SendQueueCapacity: 2, RecvMessageCapacity: 64,
		MessageType: &tmp2p.PacketPing{}}}
}

// OnStart implements service.Service.
func (h *heartbeat) OnStart() error {
	go h.run()
	return nil
}

// OnStop implements service.Service.
func (h *heartbeat) OnStop() { close(h.stop) }

// Receive implements p2p.Reactor: the bytes a heartbeat took are what counts.
func (*heartbeat) Receive(p2p.Envelope) {}

func (h *heartbeat) run() {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			for _, p := range peerList(h.Switch) {
				if quiet := h.check(p); quiet > h.timeout {
					h.Switch.StopPeerForError(p, fmt.Errorf("nothing received from the peer for %s (bbus peer timeout %s)", quiet.Round(time.Millisecond), h.timeout))
				}
			}
		}
	}
}

// check sends p a heartbeat and returns how long nothing has come from it
// (0 for a peer without the channel).
func (h *heartbeat) check(p p2p.Peer) time.Duration {
	ni, ok := p.NodeInfo().(p2p.DefaultNodeInfo)
	if !ok || !ni.HasChannel(heartbeatChannel) {
		return 0
	}
	p.TrySend(p2p.Envelope{ChannelID: heartbeatChannel, Message: &tmp2p.PacketPing{}})
	return p.Status().RecvMonitor.Idle
}

// reactors returns the node's own reactors, beside CometBFT's.
func (n *Node) reactors() map[string]p2p.Reactor {
	r := map[string]p2p.Reactor{}
	if t := time.Duration(n.Config.PeerTimeout); t > 0 {
		r["BBUS_HEARTBEAT"] = newHeartbeat(t)
	}
	return r
}
