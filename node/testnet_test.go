package node

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

// freePort returns a loopback port nothing listens on, with n-1 free ports after it.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ok := base+n < 65535
		for k := 1; ok && k < n; k++ {
			l, err := net.Listen("tcp", loopback(base+k))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

// onFreePorts runs try with the first of n free ports, and again on other
// ports while try fails because another program took one of them between
// freePorts finding it and a node binding it.
func onFreePorts(t *testing.T, n int, try func(base int) error) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		err := try(freePorts(t, n))
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "in use") || attempt == 5 {
			t.Fatal(err)
		}
		t.Logf("again on other ports: %v", err)
	}
}

// startAll opens and starts the node of each home; if one fails, it stops
// those it started and returns the error.
func startAll(t *testing.T, homes []string) ([]*Node, error) {
	t.Helper()
	var nodes []*Node
	for _, h := range homes {
		n, err := Open(h, io.Discard)
		if err == nil {
			err = n.Start("")
		}
		if err != nil {
			for _, s := range nodes {
				s.Stop()
			}
			return nil, err
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// startOne starts a one-validator testnet on free ports and waits for its
// first block; the caller stops the node.
func startOne(t *testing.T) *Node {
	t.Helper()
	var n *Node
	onFreePorts(t, 2, func(base int) error {
		homes, err := Testnet(TestnetOptions{Validators: 1, Out: t.TempDir(), P2PPort: base, APIPort: base + 1})
		if err != nil {
			t.Fatal(err)
		}
		nodes, err := startAll(t, homes)
		if err != nil {
			return err
		}
		n = nodes[0]
		return nil
	})
	deadline := time.Now().Add(30 * time.Second)
	for h, _, _ := n.store.Last(); h < 1; h, _, _ = n.store.Last() {
		if time.Now().After(deadline) {
			n.Stop()
			t.Fatal("no block in 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

func loopback(p int) string { return (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p}).String() }

func TestFourValidatorsAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four validators")
	}
	var homes []string
	var nodes []*Node
	onFreePorts(t, 4, func(base int) (err error) {
		if homes, err = Testnet(TestnetOptions{Validators: 4, Out: t.TempDir(), P2PPort: base, APIPort: 1}); err != nil {
			t.Fatal(err)
		}
		nodes, err = startAll(t, homes)
		return err
	})
	for _, n := range nodes {
		defer n.Stop()
	}
	sign := signer(t, homes[0], "cloud0", "bbus-testnet")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := nodes[0].Submit(ctx, sign(bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 512}}}), true)
	if err != nil || res.Code != "" {
		t.Fatalf("register: %+v %v", res, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for k, n := range nodes {
		for {
			var host string
			n.View(func(r kv.Reader) error {
				if vm, err := ledger.VM(r, "vm-1"); err == nil {
					host = vm.Host
				}
				return nil
			})
			if host == "cloud0" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node%d never saw vm-1", k)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	h0, hash0, _ := nodes[0].store.Last()
	for k, n := range nodes[1:] {
		for {
			h, hash, _ := n.store.Last()
			if h == h0 {
				if string(hash) != string(hash0) {
					t.Fatalf("node%d app hash %X at %d, node0 %X", k+1, hash, h, hash0)
				}
				break
			}
			if h > h0 || time.Now().After(deadline) {
				break // moved past; heights are compared in the federation tests
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	st, err := nodes[2].Status(ctx)
	if err != nil || len(st.Validators) != 4 {
		t.Fatalf("status: %+v %v", st, err)
	}
}
