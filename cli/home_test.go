package cli_test

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStartOnAFile: bbus start --home naming a file refuses it as invalid and
// leaves the file as it was (a first start removes only what it made).
func TestStartOnAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(file, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	fails(t, 1, "error: invalid: "+file+" is not a folder", "start", "--home", file)
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep me" {
		t.Fatalf("the file after start: %q %v", b, err)
	}
	fails(t, 1, "error: invalid: cannot make the home", "init", "--home", filepath.Join(file, "home"), "--cloud", "c1")
	fails(t, 1, "error: not_found: read genesis", "init", "--home", t.TempDir(), "--cloud", "c1", "--genesis", file+".missing")
}
