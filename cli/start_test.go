package cli_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFirstStartOnAPortInUse starts an empty home whose peer-to-peer port is
// held by another program: the start fails saying so (not internal) and
// leaves no home behind; a retry with another --p2p gets past the ports
// (here to fail on the API address, also held, and clean up again).
func TestFirstStartOnAPortInUse(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	home := filepath.Join(t.TempDir(), "home")
	r := run(t, "start", "--home", home, "--p2p", "tcp://"+held.Addr().String(), "--api", "127.0.0.1:0")
	if r.code != 1 || !strings.Contains(r.stderr, "error: unavailable: the peer-to-peer address tcp://"+held.Addr().String()+" is in use") {
		t.Fatalf("start on a held p2p port: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Fatalf("the failed first start left %s behind (%v)", home, err)
	}
	// A free port found by closing it may be taken again before the node
	// binds it: then the start names that one, and another is tried.
	for try := 0; try < 5; try++ {
		free, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p2p := free.Addr().String()
		free.Close()
		r = run(t, "start", "--home", home, "--p2p", "tcp://"+p2p, "--api", held.Addr().String())
		if !strings.Contains(r.stderr, "peer-to-peer address tcp://"+p2p+" is in use") {
			break
		}
	}
	if r.code != 1 || !strings.Contains(r.stderr, "error: unavailable: the REST API address "+held.Addr().String()+" is in use") {
		t.Fatalf("retry with another --p2p, API port held: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(home); !os.IsNotExist(err) {
		t.Fatalf("the failed retry left %s behind (%v)", home, err)
	}
}
