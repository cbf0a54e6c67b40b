package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAgentCommandLine(t *testing.T) {
	home := t.TempDir()
	ok(t, "keys", "add", "east", "--home", home)
	fails(t, 2, "error: give one of --libvirt, --cloudevents, --vcenter, --nova", "agent", "--home", home, "--from", "east")
	fails(t, 2, "error: give one of --libvirt, --cloudevents, --vcenter, --nova, not --libvirt and --cloudevents",
		"agent", "--home", home, "--from", "east", "--libvirt", "qemu:///system", "--cloudevents", ":0")
	fails(t, 2, "error: flag --from is required", "agent", "--home", home, "--cloudevents", ":0")
	fails(t, 2, `error: --peer "qemu+tcp://h/system": want URI=CLOUD`, "agent", "--home", home, "--from", "east", "--libvirt", "qemu:///system", "--peer", "qemu+tcp://h/system")
	fails(t, 1, "error: invalid: nova: no compute host mapped to a cloud", "agent", "--home", home, "--from", "east", "--nova", "amqp://h")
	fails(t, 1, "error: invalid: vcenter: URL has no credentials", "agent", "--home", home, "--from", "east", "--vcenter", "https://vc/sdk", "--peer", "esx1=east")
	fails(t, 1, "error: not_found: home "+home+" has no key named west", "agent", "--home", home, "--from", "west", "--cloudevents", ":0")
	cfg := filepath.Join(home, "agent.json")
	if err := os.WriteFile(cfg, []byte(`{"peers": {"qemu+tcp://h/system": "west"}, "destinaton": "west"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := fails(t, 1, "error: invalid: agent configuration", "agent", "--home", home, "--from", "east", "--libvirt", "qemu:///system", "--config", cfg)
	if !strings.Contains(r.stderr, "destinaton") {
		t.Fatalf("a misspelt field is not named: %s", r.stderr)
	}
	if err := os.WriteFile(cfg, []byte(`{"nova": {"hosts": {"compute-1": "east"}, "queue": "q", "exchang": "nova"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r = fails(t, 1, "error: invalid: agent configuration, nova:", "agent", "--home", home, "--from", "east", "--nova", "amqp://h", "--config", cfg)
	if !strings.Contains(r.stderr, "exchang") {
		t.Fatalf("a misspelt field is not named: %s", r.stderr)
	}
	fails(t, 1, "error: not_found: no agent has run with home", "agent", "status", "--home", home)
	fails(t, 1, "error: not_found: no agent has run with home", "agent", "log", "--home", home)
	if out := ok(t, "agent", "-h"); !strings.Contains(out, "bbus agent status --home DIR") {
		t.Fatalf("usage: %s", out)
	}
}
