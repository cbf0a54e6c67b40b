package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
)

// TestConfigValidate: a new home's settings are valid, and each wrong one is
// refused as invalid with its key in config/bbus.json named.
func TestConfigValidate(t *testing.T) {
	d := DefaultConfig("c1")
	if err := d.Validate(); err != nil {
		t.Fatalf("the default settings: %v", err)
	}
	peer := strings.Repeat("ab", 20) + "@10.0.0.2:26656"
	for _, c := range []struct {
		key    string
		change func(c *Config)
	}{
		{"cloud", func(c *Config) { c.Cloud = "bad/cloud" }},
		{"api", func(c *Config) { c.API = "nonsense" }},
		{"api", func(c *Config) { c.API = "127.0.0.1:70000" }},
		{"log_level", func(c *Config) { c.LogLevel = "warn" }},
		{"p2p_listen", func(c *Config) { c.P2PListen = "tcp://0.0.0.0" }},
		{"external_address", func(c *Config) { c.ExternalAddress = "host:0" }},
		{"persistent_peers", func(c *Config) { c.PersistentPeers = "10.0.0.2:26656" }},
		{"persistent_peers", func(c *Config) { c.PersistentPeers = peer + ",xyz@10.0.0.3:26656" }},
		{"rpc_listen", func(c *Config) { c.RPCListen = "tcp://localhost" }},
		{"timeout_propose", func(c *Config) { c.TimeoutPropose = 0 }},
		{"timeout_commit", func(c *Config) { c.TimeoutCommit = Duration(-time.Millisecond) }},
		{"create_empty_blocks_interval", func(c *Config) { c.CreateEmptyBlocksInterval = Duration(-time.Second) }},
		{"peer_gossip_sleep", func(c *Config) { c.PeerGossipSleep = 0 }},
		{"flush_throttle", func(c *Config) { c.FlushThrottle = Duration(-1) }},
		{"mempool_size", func(c *Config) { c.MempoolSize = 0 }},
		{"gc_percent", func(c *Config) { c.GCPercent = 0 }},
		{"gc_percent", func(c *Config) { c.GCPercent = maxGCPercent + 1 }},
		{"memory_limit_mib", func(c *Config) { c.MemoryLimitMiB = minMemoryLimitMiB - 1 }},
		{"memory_limit_mib", func(c *Config) { c.MemoryLimitMiB = -1 }},
		{"memory_limit_mib", func(c *Config) { c.MemoryLimitMiB = maxMemoryLimitMiB + 1 }},
		{"rest.reads", func(c *Config) { c.REST.Reads = "everyone" }},
		{"health.stall_after", func(c *Config) { c.Health.StallAfter = Duration(-time.Second) }},
	} {
		cfg := DefaultConfig("c1")
		c.change(&cfg)
		err := cfg.Validate()
		if bbus.ErrorCode(err) != bbus.EINVALID || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%s: Validate = %v, want invalid naming %s", c.key, err, c.key)
		}
	}
	// What a home may hold beside the defaults.
	ok := DefaultConfig("c1")
	ok.API, ok.RPCListen, ok.ExternalAddress = "127.0.0.1:0", "tcp://127.0.0.1:26657", "tcp://node.example:26656"
	ok.PersistentPeers = peer + "," + strings.Repeat("cd", 20) + "@[::1]:26656"
	ok.LogLevel, ok.TimeoutCommit, ok.CreateEmptyBlocksInterval = "debug", 0, 0
	ok.GCPercent, ok.MemoryLimitMiB = 100, 0
	if err := ok.Validate(); err != nil {
		t.Errorf("valid settings refused: %v", err)
	}
}

// TestConfigCheckedAtLoad: a home whose config/bbus.json holds a wrong setting
// does not load, and the error names the file and the setting.
func TestConfigCheckedAtLoad(t *testing.T) {
	home := t.TempDir()
	if _, err := Init(InitOptions{Home: home, Cloud: "c1"}); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	c.MempoolSize = -1
	if err := c.Save(home); err != nil {
		t.Fatal(err)
	}
	_, err = LoadConfig(home)
	if bbus.ErrorCode(err) != bbus.EINVALID || !strings.Contains(err.Error(), "bbus.json") || !strings.Contains(err.Error(), "mempool_size") {
		t.Fatalf("LoadConfig = %v, want invalid naming the file and mempool_size", err)
	}
	if _, err := Open(home, nil); bbus.ErrorCode(err) != bbus.EINVALID {
		t.Errorf("Open = %v, want invalid", err)
	}
	// A wrong setting given to Init makes no home at all.
	fresh := filepath.Join(t.TempDir(), "h")
	bad := DefaultConfig("c1")
	bad.API = "nonsense"
	if _, err := Init(InitOptions{Home: fresh, Cloud: "c1", Config: &bad}); bbus.ErrorCode(err) != bbus.EINVALID {
		t.Errorf("Init with a wrong api = %v, want invalid", err)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("Init with a wrong setting left %s behind (%v)", fresh, err)
	}
}

// TestConfigSetupErrors: a home or genesis path that cannot be used is the
// operator's error, with the code that names it, not internal.
func TestConfigSetupErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	if _, err := Init(InitOptions{Home: filepath.Join(file, "home"), Cloud: "c1"}); bbus.ErrorCode(err) != bbus.EINVALID || !strings.Contains(err.Error(), file) {
		t.Errorf("a home under a file: %v, want invalid naming it", err)
	}
	_, err := Init(InitOptions{Home: filepath.Join(dir, "joiner"), Cloud: "c1", Genesis: filepath.Join(dir, "none.json")})
	if bbus.ErrorCode(err) != bbus.ENOTFOUND || !strings.Contains(err.Error(), "none.json") {
		t.Errorf("a genesis that is not there: %v, want not_found naming it", err)
	}
	if _, err := Init(InitOptions{Home: filepath.Join(dir, "joiner2"), Cloud: "c1", Genesis: dir}); bbus.ErrorCode(err) != bbus.EINVALID {
		t.Errorf("a genesis that is a folder: %v, want invalid", err)
	}
}
