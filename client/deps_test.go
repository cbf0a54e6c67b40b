package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependsOnBbusOnly: a program that uses the Go client links package bbus,
// the client and the standard library only, never the server (httpapi, ledger,
// CometBFT, Prometheus ...): the API's shapes live in package bbus.
func TestDependsOnBbusOnly(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the dependencies with")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/bbusdev/bbus/client").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var deps []string
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/bbusdev/bbus" && p != "github.com/bbusdev/bbus/client" && !strings.HasPrefix(p, "github.com/bbusdev/bbus/client/") {
			deps = append(deps, p)
		}
	}
	if len(deps) > 0 {
		t.Errorf("package client depends on %d packages beyond bbus and the standard library:\n%s", len(deps), strings.Join(deps, "\n"))
	}
}
