package cli_test

import (
	"strings"
	"testing"
)

// TestCompletion: bbus completion prints each shell's script, which names bbus.
func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		if out := ok(t, "completion", shell); !strings.Contains(out, "bbus") || len(out) < 500 {
			t.Errorf("completion %s printed %d bytes: %.200s", shell, len(out), out)
		}
	}
	if out := ok(t, "help", "completion"); !strings.Contains(out, "bash") {
		t.Errorf("help completion printed %q", out)
	}
	// The completion a shell asks for lists the verbs and an action's flags.
	if out := ok(t, "__complete", "tx", "vm", ""); !strings.Contains(out, "register") || !strings.Contains(out, "terminate") {
		t.Errorf("completing tx vm printed %q", out)
	}
	if out := ok(t, "__complete", "tx", "vm", "register", "--"); !strings.Contains(out, "--mem-mib") || !strings.Contains(out, "--from") {
		t.Errorf("completing tx vm register's flags printed %q", out)
	}
}

// TestFlagsBeforeSubcommand: a subcommand's flags may come before its name,
// booleans too, and the single-dash form -name still works.
func TestFlagsBeforeSubcommand(t *testing.T) {
	home := t.TempDir()
	ok(t, "keys", "--home", home, "add", "acme")
	ok(t, "keys", "-home", home, "--pub-key", "show", "acme")
	out := ok(t, "tx", "--sign-only", "--chain-id", "c", "-home", home, "--from", "acme", "vm", "register", "vm-1", "--cpu", "1", "--mem-mib", "1")
	if !strings.Contains(out, `"vm_register"`) {
		t.Errorf("sign-only printed %q", out)
	}
	// A flag of another action is refused, before or after the action's name.
	fails(t, 2, "error: flag provided but not defined: -to", "tx", "--to", "c2", "--chain-id", "c", "--home", home, "--from", "acme", "vm", "terminate", "vm-1")
}
