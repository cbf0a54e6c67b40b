// Package node runs a bbus node: one CometBFT validator (or full node) in-process
// with the bbus application, its stores on local disk, and the REST API. It also
// lays out and initialises homes.
package node

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bbusdev/bbus"
)

// Duration is a time.Duration written as "10ms" in JSON.
type Duration = bbus.Duration

// Config is a node's settings, kept in HOME/config/bbus.json. It also holds the
// CometBFT settings bbus changes; the rest keep CometBFT's defaults.
type Config struct {
	Cloud    string `json:"cloud"`     // the cloud this node signs for (a key of that name is in HOME/keys)
	API      string `json:"api"`       // REST API listen address
	LogLevel string `json:"log_level"` // error, info or debug
	// P2P
	P2PListen       string `json:"p2p_listen"`
	ExternalAddress string `json:"external_address,omitempty"`
	PersistentPeers string `json:"persistent_peers,omitempty"` // NODEID@HOST:PORT,...
	Loopback        bool   `json:"loopback,omitempty"`         // all peers on one machine (testnets)
	RPCListen       string `json:"rpc_listen,omitempty"`       // CometBFT's own RPC; empty turns it off
	// OpenPeers turns the peer filter off: any node that has the genesis may
	// connect and sync. By default only the nodes the ledger names may
	// (members, voted observers, invited applicants).
	OpenPeers bool `json:"open_peers,omitempty"`
	// Consensus timers; chosen by measurement (the table in docs/DESIGN.md);
	// docs/OPERATIONS.md says when to change them.
	TimeoutPropose            Duration `json:"timeout_propose"`
	TimeoutCommit             Duration `json:"timeout_commit"`
	CreateEmptyBlocksInterval Duration `json:"create_empty_blocks_interval"`
	PeerGossipSleep           Duration `json:"peer_gossip_sleep"`
	FlushThrottle             Duration `json:"flush_throttle"`
	MempoolSize               int      `json:"mempool_size"`
	// PeerTimeout is how long a peer connection may bring nothing before the
	// node drops it and dials again (node/heartbeat.go); 0 leaves it to
	// CometBFT's ping (45 s after a ping sent every 60 s).
	PeerTimeout Duration `json:"peer_timeout"`
	// The Go collector (node/gc.go): the heap may grow gc_percent beyond what
	// is live before the next collection, and collections come sooner as it
	// nears memory_limit_mib (0: no limit). GOGC and GOMEMLIMIT in the
	// environment win over both.
	GCPercent      int   `json:"gc_percent"`
	MemoryLimitMiB int64 `json:"memory_limit_mib"`
	// REST is how the REST API serves: access, limits, TLS (node/api.go).
	REST RESTConfig `json:"rest"`
	// Health is what /readyz and /healthz judge by (node/liveness.go).
	Health HealthConfig `json:"health"`
	// Snapshots for nodes that join by state sync, and block pruning
	// (node/statesync.go, docs/OPERATIONS.md): a snapshot every
	// snapshot_interval heights (0: none), the last snapshot_keep_recent
	// kept; retain_blocks above 0 prunes blocks older than that many.
	SnapshotInterval   int64           `json:"snapshot_interval"`
	SnapshotKeepRecent int             `json:"snapshot_keep_recent"`
	RetainBlocks       int64           `json:"retain_blocks"`
	StateSync          StateSyncConfig `json:"state_sync"`
}

// DefaultConfig returns the settings of a new home for cloud.
func DefaultConfig(cloud string) Config {
	return Config{
		Cloud:                     cloud,
		API:                       "127.0.0.1:8080",
		LogLevel:                  "error",
		P2PListen:                 "tcp://0.0.0.0:26656",
		TimeoutPropose:            Duration(500 * time.Millisecond),
		TimeoutCommit:             Duration(10 * time.Millisecond),
		CreateEmptyBlocksInterval: Duration(30 * time.Second),
		PeerGossipSleep:           Duration(10 * time.Millisecond),
		FlushThrottle:             Duration(10 * time.Millisecond),
		MempoolSize:               50000,
		PeerTimeout:               Duration(4 * time.Second),
		GCPercent:                 DefaultGCPercent,
		MemoryLimitMiB:            DefaultMemoryLimitMiB,
		REST:                      DefaultRESTConfig(),
		Health:                    DefaultHealthConfig(),
		SnapshotInterval:          DefaultSnapshotInterval,
		SnapshotKeepRecent:        DefaultSnapshotKeepRecent,
		StateSync:                 StateSyncConfig{TrustPeriod: DefaultTrustPeriod},
	}
}

// ForRoundTrip returns c with the consensus timers of a federation whose
// validators are up to rtt apart (the longest round trip between two of
// them), as docs/DESIGN.md ("Consensus settings", "Across regions") explains:
//   - timeout_commit a round trip: after a block that changed the state,
//     CometBFT proposes the next (the block that signs the new app hash) as
//     soon as timeout_commit has passed, whether or not there are
//     transactions; waiting a round trip lets the writes sent in answer to
//     the last commit reach the proposer and ride in that block instead of
//     the one after it.
//   - timeout_propose ten round trips, at least 1.5 s: a proposal and its
//     block's parts must be built, reach every validator and be checked
//     before it, under load too, or the height takes another round.
//
// For rtt under 10 ms it changes nothing.
func (c Config) ForRoundTrip(rtt time.Duration) Config {
	if rtt < 10*time.Millisecond {
		return c
	}
	c.TimeoutCommit = Duration(rtt)
	c.TimeoutPropose = Duration(max(1500*time.Millisecond, 10*rtt))
	return c
}

// Paths of a home.
func configPath(home string) string  { return filepath.Join(home, "config", "bbus.json") }
func genesisPath(home string) string { return filepath.Join(home, "config", "genesis.json") }
func statePath(home string) string   { return filepath.Join(home, "data", "bbus-state") }

// GenesisPath returns where a home keeps its genesis document.
func GenesisPath(home string) string { return genesisPath(home) }

// Initialized reports whether home holds a node's configuration.
func Initialized(home string) bool {
	_, err := os.Stat(configPath(home))
	return err == nil
}

// LoadConfig reads a home's settings.
func LoadConfig(home string) (*Config, error) {
	b, err := os.ReadFile(configPath(home))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "%s is not a bbus home (no config/bbus.json): run bbus init --home %s --cloud ID", home, home)
	}
	if err != nil {
		return nil, fileError(err, "read config")
	}
	c := DefaultConfig("")
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, bbus.Errorf(bbus.EINVALID, "config %s: %v", configPath(home), err)
	}
	if err := c.Validate(); err != nil {
		return nil, bbus.Errorf(bbus.EINVALID, "config %s: %s", configPath(home), bbus.ErrorMessage(err))
	}
	return &c, nil
}

// Validate checks every setting, naming the first that is wrong by its key
// in config/bbus.json.
func (c *Config) Validate() error {
	listen := func(key, addr string, scheme bool) error {
		a := addr
		if scheme {
			a = strings.TrimPrefix(addr, "tcp://")
		}
		host, port, err := net.SplitHostPort(a)
		p, perr := strconv.Atoi(port)
		if err != nil || perr != nil || p < 0 || p > 65535 || strings.ContainsAny(host, " /") {
			form := "HOST:PORT"
			if scheme {
				form = "tcp://HOST:PORT"
			}
			return bbus.Errorf(bbus.EINVALID, "%s %q is not a listen address %s (a port from 0 to 65535)", key, addr, form)
		}
		return nil
	}
	if err := bbus.ValidateID("cloud", c.Cloud); err != nil {
		return err
	}
	if err := listen("api", c.API, false); err != nil {
		return err
	}
	switch c.LogLevel {
	case "error", "info", "debug":
	default:
		return bbus.Errorf(bbus.EINVALID, "log_level must be error, info or debug, not %q", c.LogLevel)
	}
	if err := listen("p2p_listen", c.P2PListen, true); err != nil {
		return err
	}
	if c.ExternalAddress != "" {
		if err := bbus.ValidateP2PAddress("external_address", strings.TrimPrefix(c.ExternalAddress, "tcp://"), true); err != nil {
			return err
		}
	}
	if c.PersistentPeers != "" {
		for _, peer := range strings.Split(c.PersistentPeers, ",") {
			id, addr, ok := strings.Cut(strings.TrimSpace(peer), "@")
			if !ok {
				return bbus.Errorf(bbus.EINVALID, "persistent_peers: %q is not NODEID@HOST:PORT", peer)
			}
			if err := bbus.ValidateNodeID("persistent_peers: node id", id, true); err != nil {
				return err
			}
			if err := bbus.ValidateP2PAddress("persistent_peers: address", addr, true); err != nil {
				return err
			}
		}
	}
	if c.RPCListen != "" {
		if err := listen("rpc_listen", c.RPCListen, true); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		key      string
		v        Duration
		positive bool
	}{
		{"timeout_propose", c.TimeoutPropose, true},
		{"timeout_commit", c.TimeoutCommit, false},
		{"create_empty_blocks_interval", c.CreateEmptyBlocksInterval, false},
		{"peer_gossip_sleep", c.PeerGossipSleep, true},
		{"flush_throttle", c.FlushThrottle, false},
	} {
		if d.v < 0 || d.positive && d.v == 0 {
			want := "must not be negative"
			if d.positive {
				want = "must be more than 0"
			}
			return bbus.Errorf(bbus.EINVALID, "%s %s, not %s", d.key, want, time.Duration(d.v))
		}
	}
	if c.MempoolSize < 1 {
		return bbus.Errorf(bbus.EINVALID, "mempool_size must be at least 1, not %d", c.MempoolSize)
	}
	if c.GCPercent < 1 || c.GCPercent > maxGCPercent {
		return bbus.Errorf(bbus.EINVALID, "gc_percent must be from 1 to %d, not %d", maxGCPercent, c.GCPercent)
	}
	if c.MemoryLimitMiB != 0 && (c.MemoryLimitMiB < minMemoryLimitMiB || c.MemoryLimitMiB > maxMemoryLimitMiB) {
		return bbus.Errorf(bbus.EINVALID, "memory_limit_mib must be 0 (no limit) or from %d to %d, not %d", minMemoryLimitMiB, maxMemoryLimitMiB, c.MemoryLimitMiB)
	}
	if err := c.REST.Validate(); err != nil {
		return err
	}
	if err := c.validateStateSync(); err != nil {
		return err
	}
	return c.Health.Validate()
}

// Save writes the settings into home.
func (c *Config) Save(home string) error {
	b, _ := json.MarshalIndent(c, "", "  ")
	return writeFileSync(configPath(home), append(b, '\n'), 0o600)
}

// writeFileSync writes a file and syncs it, so a crash right after leaves it whole.
func writeFileSync(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
