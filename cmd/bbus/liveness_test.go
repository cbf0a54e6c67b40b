package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
	"github.com/bbusdev/bbus/keys"
)

// TestStartExitsOnConsensusFailure: when consensus fails (here the validator's
// sign state cannot be saved, as on a full disk), "bbus start" exits non-zero
// and says why on stderr, so that a supervisor restarts it.
func TestStartExitsOnConsensusFailure(t *testing.T) {
	home := t.TempDir() + "/home"
	p := startNode(t, home, "")
	c := client.New(p.api)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := keys.Load(home, "local")
	if err != nil {
		t.Fatal(err)
	}
	sign := func(vm string) []byte {
		raw, _, err := bbus.SignTx(&bbus.Body{ChainID: "bbus-local", Signer: "local", Nonce: uint64(len(vm)),
			Expires: time.Now().Add(5 * time.Minute).Unix(),
			Action:  bbus.Action{VMRegister: &bbus.VMRegister{VM: vm, Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}}, k.PrivKey)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	if res, err := c.Submit(ctx, sign("vm-1"), true); err != nil || res.Height == 0 {
		t.Fatalf("register: %+v %v", res, err)
	}
	state := filepath.Join(home, "data", "priv_validator_state.json")
	if err := os.Remove(state); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	// The next block needs a signature, which cannot be saved.
	if _, err := c.Submit(ctx, sign("vm-22"), false); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("bbus start still runs after the consensus failure; its output:\n%s", p.logs)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("bbus start ended with %v, want exit status 1; its output:\n%s", err, p.logs)
	}
	var last string
	for _, l := range strings.Split(strings.TrimSpace(p.logs.String()), "\n") {
		if strings.HasPrefix(l, "error: ") {
			last = l
		}
	}
	if !strings.Contains(last, "consensus failed") || !strings.Contains(last, "priv_validator_state.json") {
		t.Fatalf("stderr does not say why the node stopped; its output:\n%s", p.logs)
	}
	t.Logf("exit status %d: %s", exit.ExitCode(), last)
}
