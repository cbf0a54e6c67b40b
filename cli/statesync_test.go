package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbusdev/bbus/node"
)

// TestInitStateSync: bbus init --state-sync writes CometBFT's state sync
// settings from the trust line and RPC servers into bbus.json; a bad trust
// line or a missing flag is refused with what is wrong.
func TestInitStateSync(t *testing.T) {
	founder := filepath.Join(t.TempDir(), "f")
	ok(t, "init", "--home", founder, "--cloud", "alpha")
	genesis := filepath.Join(founder, "config", "genesis.json")
	hash := strings.Repeat("AB", 32)
	home := filepath.Join(t.TempDir(), "j")
	ok(t, "init", "--home", home, "--cloud", "beta", "--genesis", genesis, "--state-sync", "--trust", "120:"+hash,
		"--rpc-servers", "http://10.0.0.1:26657")
	c, err := node.LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	s := c.StateSync
	if !s.Enable || s.TrustHeight != 120 || s.TrustHash != hash || len(s.RPCServers) != 2 || s.RPCServers[1] != "http://10.0.0.1:26657" {
		t.Fatalf("state sync settings %+v", s)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--state-sync", "--trust", "120", "--rpc-servers", "http://h:1"}, "is not HEIGHT:HASH"},
		{[]string{"--state-sync", "--trust", "0:" + hash, "--rpc-servers", "http://h:1"}, "is not HEIGHT:HASH"},
		{[]string{"--state-sync", "--trust", "5:" + hash}, "--state-sync needs"},
		{[]string{"--trust", "5:" + hash}, "go with --state-sync"},
		{[]string{"--state-sync", "--trust", "5:" + hash, "--rpc-servers", "h:1"}, "is not http://HOST:PORT"},
	} {
		h := filepath.Join(t.TempDir(), "bad")
		r := run(t, append([]string{"init", "--home", h, "--cloud", "beta", "--genesis", genesis}, bad.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, bad.want) {
			t.Errorf("init %v: exit %d %s", bad.args, r.code, r.stderr)
		}
		if _, err := os.Stat(h); !os.IsNotExist(err) {
			t.Errorf("init %v left a home behind", bad.args)
		}
	}
}
