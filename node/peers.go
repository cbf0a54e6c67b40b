package node

import (
	"net"
	"os"
	"strings"

	"github.com/cometbft/cometbft/p2p"

	"github.com/bbusdev/bbus"
)

// peerList returns the switch's connected peers. It is the one place that
// depends on how the engine's peer set lists its peers.
func peerList(sw *p2p.Switch) []p2p.Peer { return sw.Peers().Copy() }

// PublicP2PAddress returns the peer address a home's node publishes on the
// ledger: its external address if it has one, else its listen address unless
// that listens on every interface (0.0.0.0 or ::, which no peer can dial), as
// HOST:PORT. It returns "" when there is none to publish.
func PublicP2PAddress(c *Config) string {
	addr := c.ExternalAddress
	if addr == "" {
		addr = c.P2PListen
	}
	addr = strings.TrimPrefix(addr, "tcp://")
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return ""
	}
	if bbus.ValidateP2PAddress("p2p_address", addr, true) != nil {
		return ""
	}
	return addr
}

// NodeID returns the node id of a home's node (from HOME/config/node_key.json):
// what its cloud publishes on the ledger (cloud_join --node-id) and what an
// invitation of it, or of an observer, names.
func NodeID(home string) (string, error) {
	path := cometPaths(home).NodeKeyFile()
	if _, err := os.Stat(path); err != nil {
		return "", bbus.Errorf(bbus.ENOTFOUND, "%s has no node key (%s): run bbus init --home %s first", home, path, home)
	}
	k, err := p2p.LoadNodeKey(path)
	if err != nil {
		return "", bbus.Errorf(bbus.EINVALID, "node key %s: %v", path, err)
	}
	return string(k.ID()), nil
}
