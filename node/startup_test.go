package node

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbusdev/bbus"
)

// TestDamagedHomeFailsClearly starts nodes on homes damaged in different ways:
// each must fail with an error that names the problem, not panic or exit.
func TestDamagedHomeFailsClearly(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(home string) error
		want   string
		fresh  bool // damage a home that never ran (once running, CometBFT keeps the genesis in its database)
	}{
		{"no home", func(home string) error { return os.RemoveAll(home) }, "not a bbus home", false},
		{"garbage config", func(home string) error { return os.WriteFile(configPath(home), []byte("{not json"), 0o600) }, "config", false},
		{"garbage genesis", func(home string) error { return os.WriteFile(genesisPath(home), []byte("][ "), 0o600) }, "genesis", true},
		{"missing cloud key", func(home string) error { return os.Remove(filepath.Join(home, "keys", "local.json")) }, "no key named local", false},
		{"damaged validator key", func(home string) error {
			return os.WriteFile(filepath.Join(home, "config", "priv_validator_key.json"), []byte(`{"priv_key":7}`), 0o600)
		}, "validator key", false},
		{"missing validator state", func(home string) error {
			return os.Remove(filepath.Join(home, "data", "priv_validator_state.json"))
		}, "validator sign state", false},
		{"data is not a folder", func(home string) error {
			if err := os.RemoveAll(filepath.Join(home, "data")); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(home, "data"), []byte("x"), 0o600)
		}, "not writable", false},
		{"corrupt state database", func(home string) error {
			dir := statePath(home)
			entries, err := os.ReadDir(dir)
			if err != nil {
				return err
			}
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), "MANIFEST") {
					if err := os.WriteFile(filepath.Join(dir, e.Name()), []byte("corrupted manifest"), 0o600); err != nil {
						return err
					}
				}
			}
			return nil
		}, "corrupt", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			home := t.TempDir()
			cfg := DefaultConfig("local")
			cfg.P2PListen = "tcp://127.0.0.1:0" // tests never bind CometBFT's default port
			if _, err := Init(InitOptions{Home: home, Cloud: "local", Config: &cfg}); err != nil {
				t.Fatal(err)
			}
			var n *Node
			if !c.fresh {
				// Run it once so the databases exist, then damage the home.
				var err error
				if n, err = Open(home, io.Discard); err != nil {
					t.Fatal(err)
				}
				if err := n.Start(""); err != nil {
					t.Fatal(err)
				}
				n.Stop()
			}
			if err := c.damage(home); err != nil {
				t.Fatal(err)
			}
			var openErr error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panicked: %v", r)
					}
				}()
				n, openErr = Open(home, io.Discard)
				if openErr == nil {
					openErr = n.Start("")
					if openErr == nil {
						n.Stop()
					}
				}
			}()
			t.Logf("%s: %v", c.name, openErr)
			if openErr == nil || !strings.Contains(openErr.Error(), c.want) {
				t.Fatalf("got %v, want an error about %q", openErr, c.want)
			}
		})
	}
}

// TestPortInUseSaysSo starts a node whose peer-to-peer port another program
// holds, then one whose API port is held: each fails with code unavailable
// and a message naming the address in use, not with internal.
func TestPortInUseSaysSo(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for _, port := range []string{"p2p", "api"} {
		home := t.TempDir()
		c := DefaultConfig("local")
		c.P2PListen = "tcp://127.0.0.1:0" // a port of its own choosing: no other program can take it first
		api := "127.0.0.1:0"
		if port == "p2p" {
			c.P2PListen = "tcp://" + held.Addr().String()
		} else {
			api = held.Addr().String()
		}
		if _, err := Init(InitOptions{Home: home, Cloud: "local", Config: &c}); err != nil {
			t.Fatal(err)
		}
		n, err := Open(home, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		err = n.Start(api)
		if err == nil {
			n.Stop()
			t.Fatalf("%s: started on an address in use", port)
		}
		if bbus.ErrorCode(err) != bbus.EUNAVAILABLE || !strings.Contains(err.Error(), held.Addr().String()+" is in use") {
			t.Fatalf("%s in use: %v (code %s)", port, err, bbus.ErrorCode(err))
		}
	}
}
