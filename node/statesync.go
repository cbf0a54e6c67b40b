package node

import (
	"encoding/hex"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/chain"
)

// Defaults of a new home's snapshot and state sync settings.
const (
	DefaultSnapshotInterval   = 1000
	DefaultSnapshotKeepRecent = 2
	DefaultTrustPeriod        = Duration(7 * 24 * time.Hour)
)

// StateSyncConfig is the "state_sync" object of HOME/config/bbus.json: how
// a node with an empty state joins a chain from a members' snapshot instead
// of replaying every block (docs/FEDERATION.md, "Joining by state sync").
type StateSyncConfig struct {
	Enable bool `json:"enable"`
	// RPCServers are CometBFT RPC addresses of members' nodes
	// (http://HOST:PORT, their rpc_listen), at least two entries; the light
	// client takes its headers from the first and checks them against the
	// others. The same server may be listed twice when only one serves.
	RPCServers []string `json:"rpc_servers,omitempty"`
	// TrustHeight and TrustHash are a header the joining operator trusts:
	// the "trust" line of bbus query status on a member (HEIGHT:HASH).
	TrustHeight int64  `json:"trust_height,omitempty"`
	TrustHash   string `json:"trust_hash,omitempty"`
	// TrustPeriod is how long a trusted header stays usable (under the
	// validators' unbonding in a chain with stakes; here: how old a trust
	// line may be).
	TrustPeriod Duration `json:"trust_period"`
}

// ParseTrust reads a trust line HEIGHT:HASH (what bbus query status prints).
func ParseTrust(s string) (int64, string, error) {
	hs, hash, ok := strings.Cut(strings.TrimSpace(s), ":")
	h, err := strconv.ParseInt(hs, 10, 64)
	b, herr := hex.DecodeString(hash)
	if !ok || err != nil || h < 1 || herr != nil || len(b) != 32 {
		return 0, "", bbus.Errorf(bbus.EINVALID, "trust %q is not HEIGHT:HASH (a height from 1 and a block hash of 64 hex digits, as bbus query status prints it)", s)
	}
	return h, strings.ToUpper(hash), nil
}

// validateStateSync checks the snapshot, pruning and state sync settings.
func (c *Config) validateStateSync() error {
	switch {
	case c.SnapshotInterval < 0:
		return bbus.Errorf(bbus.EINVALID, "snapshot_interval must not be negative (0 turns snapshots off), not %d", c.SnapshotInterval)
	case c.SnapshotKeepRecent < 0 || c.SnapshotKeepRecent > 100:
		return bbus.Errorf(bbus.EINVALID, "snapshot_keep_recent must be between 0 and 100, not %d", c.SnapshotKeepRecent)
	case c.RetainBlocks < 0:
		return bbus.Errorf(bbus.EINVALID, "retain_blocks must not be negative (0 keeps every block), not %d", c.RetainBlocks)
	case c.RetainBlocks > 0 && c.RetainBlocks < 3:
		return bbus.Errorf(bbus.EINVALID, "retain_blocks must be 0 (keep all) or at least 3, not %d", c.RetainBlocks)
	}
	s := c.StateSync
	if s.TrustPeriod <= 0 {
		return bbus.Errorf(bbus.EINVALID, "state_sync: trust_period must be more than 0, not %s", time.Duration(s.TrustPeriod))
	}
	if !s.Enable {
		return nil
	}
	if len(s.RPCServers) < 2 {
		return bbus.Errorf(bbus.EINVALID, "state_sync: rpc_servers needs at least two entries (members' CometBFT RPC addresses; the same one twice if only one serves), got %d", len(s.RPCServers))
	}
	for _, u := range s.RPCServers {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "tcp://") {
			return bbus.Errorf(bbus.EINVALID, "state_sync: rpc server %q is not http://HOST:PORT", u)
		}
	}
	if _, _, err := ParseTrust(strconv.FormatInt(s.TrustHeight, 10) + ":" + s.TrustHash); err != nil {
		return bbus.Errorf(bbus.EINVALID, "state_sync: trust_height and trust_hash: %s", bbus.ErrorMessage(err))
	}
	return nil
}

// applyStateSync sets CometBFT's state sync from c.
func applyStateSync(cfg *cmtcfg.Config, c *Config) {
	s := c.StateSync
	cfg.StateSync.Enable = s.Enable
	cfg.StateSync.RPCServers = s.RPCServers
	cfg.StateSync.TrustHeight = s.TrustHeight
	cfg.StateSync.TrustHash = s.TrustHash
	cfg.StateSync.TrustPeriod = time.Duration(s.TrustPeriod)
	// A federation is small and named: its members answer the snapshot
	// request at once.
	cfg.StateSync.DiscoveryTime = 5 * time.Second
}

func snapshotsPath(home string) string { return filepath.Join(home, "data", "bbus-snapshots") }

// snapshotConfig is the application's snapshot settings from c.
func snapshotConfig(home string, c *Config) chain.SnapshotConfig {
	return chain.SnapshotConfig{Dir: snapshotsPath(home), Interval: c.SnapshotInterval,
		KeepRecent: c.SnapshotKeepRecent, RetainBlocks: c.RetainBlocks}
}

// pruned reports a height below the first block this node still holds (it
// prunes, retain_blocks, or joined by state sync) as EUNAVAILABLE naming
// that first height: an evidence bundle that needs the block cannot be built
// here.
func (s blockStore) pruned(what string, h int64) error {
	base := s.n.cmt.BlockStore().Base()
	if h >= base || h < 1 {
		return nil
	}
	return bbus.Errorf(bbus.EUNAVAILABLE, "this node no longer holds block %d (its %s): its first block is %d (it prunes old blocks, retain_blocks, or joined by state sync); bundles that need blocks below %d, such as any trusted from genesis or from a checkpoint below it, must be exported from a node that keeps every block", h, what, base, base)
}
