// Package fedtest starts, for the agent's tests, a real in-process bbus node
// of a federation of two clouds: the founder, whose node it is, and a second
// cloud the founder invited, each with its signing key in a home of its own.
package fedtest

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/node"
)

// Fed is a running one-node federation of two clouds.
type Fed struct {
	Node    *node.Node
	URL     string // the node's REST API, http://127.0.0.1:PORT
	ChainID string
	Clouds  [2]string // founder, invited
	Homes   [2]string // each cloud's home: its key is there (keys.Load(home, cloud))
}

// Capacity is what each cloud of a Fed declares.
var Capacity = bbus.Resources{CPU: 8, MemMiB: 8192, DiskIOPS: 1000, NetMbps: 1000}

// Start runs a node for cloud founder, invites cloud second and admits it; the
// node stops when the test ends.
func Start(t testing.TB, founder, second string) *Fed {
	t.Helper()
	f := &Fed{Clouds: [2]string{founder, second}, Homes: [2]string{t.TempDir(), t.TempDir()}, ChainID: "bbus-" + founder}
	c := node.DefaultConfig(founder)
	c.P2PListen = "tcp://127.0.0.1:0" // a port of its own choosing: no other program can take it first
	if _, err := node.Init(node.InitOptions{Home: f.Homes[0], Cloud: founder, Capacity: Capacity, Config: &c}); err != nil {
		t.Fatal(err)
	}
	n, err := node.Open(f.Homes[0], io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	f.Node, f.URL = n, "http://"+n.APIAddr()
	k2, err := keys.Add(f.Homes[1], second)
	if err != nil {
		t.Fatal(err)
	}
	f.Send(t, founder, bbus.Action{CloudInvite: &bbus.CloudInvite{Cloud: second, PubKey: k2.PubKey}})
	f.Send(t, second, bbus.Action{CloudJoin: &bbus.CloudJoin{Name: second, PubKey: k2.PubKey, Resources: Capacity}})
	cl, err := client.New(f.URL).Cloud(context.Background(), second)
	if err != nil || cl.Status != bbus.CloudActive {
		t.Fatalf("cloud %s after its join: %+v %v", second, cl, err)
	}
	return f
}

// Home returns the home of cloud.
func (f *Fed) Home(cloud string) string {
	if cloud == f.Clouds[1] {
		return f.Homes[1]
	}
	return f.Homes[0]
}

// Signer returns a signer for cloud with its key.
func (f *Fed) Signer(t testing.TB, cloud string) client.Signer {
	t.Helper()
	k, err := keys.Load(f.Home(cloud), cloud)
	if err != nil {
		t.Fatal(err)
	}
	return client.Signer{ChainID: f.ChainID, ID: cloud, Key: k.PrivKey}
}

// Send signs a as cloud and waits for its commit; the test fails unless the
// ledger applied it.
func (f *Fed) Send(t testing.TB, cloud string, a bbus.Action) *bbus.TxResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := client.New(f.URL).Send(ctx, f.Signer(t, cloud), a)
	if err != nil {
		t.Fatalf("%s by %s: %v", a.Type(), cloud, err)
	}
	return res
}

// Migrations returns every migration of vm, in the order they were proposed.
func (f *Fed) Migrations(t testing.TB, vm string) []bbus.Migration {
	t.Helper()
	ms, _, err := f.Client().Migrations(context.Background(), bbus.MigrationFilter{VM: vm}, bbus.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// SignerOf returns the cloud that signed the transaction of stamp s.
func (f *Fed) SignerOf(t testing.TB, s *bbus.Stamp) string {
	t.Helper()
	if s == nil || s.Tx == "" {
		return ""
	}
	tx, err := f.Client().Tx(context.Background(), s.Tx)
	if err != nil {
		t.Fatal(err)
	}
	return tx.Signer
}

// CheckMigrated fails the test unless vm runs on to and the ledger holds
// exactly one migration of it, completed: proposed by from's key, accepted and
// completed by to's. It returns that migration.
func (f *Fed) CheckMigrated(t testing.TB, vm, from, to string) bbus.Migration {
	t.Helper()
	ms := f.Migrations(t, vm)
	if len(ms) != 1 {
		t.Fatalf("VM %s has %d migrations on the ledger, want 1: %+v", vm, len(ms), ms)
	}
	m := ms[0]
	if m.Status != bbus.MigrationCompleted || m.From != from || m.To != to {
		t.Fatalf("migration %s: %s from %s to %s, want completed from %s to %s", m.ID, m.Status, m.From, m.To, from, to)
	}
	if p, a, c := f.SignerOf(t, &m.Proposed), f.SignerOf(t, m.Accepted), f.SignerOf(t, m.Completed); p != from || a != to || c != to {
		t.Fatalf("migration %s signed: proposed by %q, accepted by %q, completed by %q", m.ID, p, a, c)
	}
	rec, err := f.Client().VM(context.Background(), vm)
	if err != nil || rec.Host != to || rec.Migration != "" {
		t.Fatalf("VM %s after its migration: %+v %v", vm, rec, err)
	}
	return m
}

// Client returns a client of the node.
func (f *Fed) Client() *client.Client { return client.New(f.URL) }

// Log returns a writer that sends each line written to it (an agent's log) to
// t's log, prefixed with name.
func Log(t testing.TB, name string) io.Writer { return &testLog{t: t, name: name} }

type testLog struct {
	t    testing.TB
	name string
}

func (l *testLog) Write(p []byte) (int, error) {
	l.t.Logf("%s: %s", l.name, bytes.TrimSpace(p))
	return len(p), nil
}
