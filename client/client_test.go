package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
	"github.com/bbusdev/bbus/httpapi"
	"github.com/bbusdev/bbus/internal/ledgertest"
)

// setup serves a chain of clouds c1 and c2 over a real HTTP server and returns
// a client of it and signers for both clouds.
func setup(t *testing.T) (*ledgertest.Chain, *client.Client, client.Signer, client.Signer) {
	t.Helper()
	chain := ledgertest.New(ledgertest.Founders("c1", "c2")...)
	srv := httptest.NewServer(httpapi.New(chain, httpapi.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	c := client.New(srv.URL)
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return chain, c,
		client.Signer{ChainID: st.ChainID, ID: "c1", Key: chain.Key("c1")},
		client.Signer{ChainID: st.ChainID, ID: "c2", Key: chain.Key("c2")}
}

func wantCode(t *testing.T, what string, err error, code string) *bbus.Error {
	t.Helper()
	var e *bbus.Error
	if !errors.As(err, &e) || e.Code != code || e.Message == "" {
		t.Fatalf("%s: error %v (%T), want a *bbus.Error with code %s", what, err, err, code)
	}
	return e
}

func TestMigrationLifecycle(t *testing.T) {
	ctx := context.Background()
	chain, c, c1, c2 := setup(t)

	st, err := c.Status(ctx)
	if err != nil || st.ChainID != ledgertest.ChainID || len(st.Validators) != 2 {
		t.Fatalf("status %+v, %v", st, err)
	}

	res, err := c.Send(ctx, c1, bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-1", Resources: bbus.Resources{CPU: 2, MemMiB: 2048}}})
	if err != nil || res.ID != "vm-1" || res.Height != 1 {
		t.Fatalf("register: %+v, %v", res, err)
	}
	res, err = c.Send(ctx, c1, bbus.Action{MigrationPropose: &bbus.Propose{VM: "vm-1", To: "c2"}})
	if err != nil || res.ID != "mig-1" {
		t.Fatalf("propose: %+v, %v", res, err)
	}
	if _, err = c.Send(ctx, c2, bbus.Action{MigrationAccept: &bbus.MigrationRef{Migration: "mig-1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err = c.Send(ctx, c2, bbus.Action{MigrationComplete: &bbus.MigrationRef{Migration: "mig-1"}}); err != nil {
		t.Fatal(err)
	}
	moved := chain.Last().Time

	clouds, next, err := c.Clouds(ctx, bbus.Page{Limit: 1})
	if err != nil || len(clouds) != 1 || clouds[0].ID != "c1" || next != "c1" {
		t.Fatalf("clouds page 1: %+v %q %v", clouds, next, err)
	}
	clouds, next, err = c.Clouds(ctx, bbus.Page{Limit: 1, After: next})
	if err != nil || len(clouds) != 1 || clouds[0].ID != "c2" || next != "" {
		t.Fatalf("clouds page 2: %+v %q %v", clouds, next, err)
	}
	cl, err := c.Cloud(ctx, "c2")
	if err != nil || cl.HostedVMs != 1 || cl.Allocated.CPU != 2 {
		t.Fatalf("cloud c2: %+v %v", cl, err)
	}
	vms, next, err := c.VMs(ctx, bbus.Page{})
	if err != nil || len(vms) != 1 || next != "" {
		t.Fatalf("vms: %+v %q %v", vms, next, err)
	}
	vm, err := c.VM(ctx, "vm-1")
	if err != nil || vm.Host != "c2" {
		t.Fatalf("vm: %+v %v", vm, err)
	}
	h, err := c.VMHistory(ctx, "vm-1")
	if err != nil || len(h.Intervals) != 2 || len(h.Migrations) != 1 || h.VM.ID != "vm-1" {
		t.Fatalf("history: %+v %v", h, err)
	}
	iv, err := c.HostAt(ctx, "vm-1", moved.Add(-time.Millisecond))
	if err != nil || iv.Cloud != "c1" || iv.End == nil {
		t.Fatalf("host before the move: %+v %v", iv, err)
	}
	iv, err = c.HostAt(ctx, "vm-1", moved.In(time.FixedZone("CET", 3600)))
	if err != nil || iv.Cloud != "c2" || iv.Migration != "mig-1" {
		t.Fatalf("host after the move: %+v %v", iv, err)
	}
	m, err := c.Migration(ctx, "mig-1")
	if err != nil || m.Status != bbus.MigrationCompleted {
		t.Fatalf("migration: %+v %v", m, err)
	}
	ms, next, err := c.Migrations(ctx, bbus.MigrationFilter{VM: "vm-1", Cloud: "c2", Status: bbus.MigrationCompleted,
		Since: moved.Add(-time.Hour), Until: moved}, bbus.Page{})
	if err != nil || len(ms) != 1 || next != "" {
		t.Fatalf("migrations: %+v %q %v", ms, next, err)
	}
	ms, _, err = c.Migrations(ctx, bbus.MigrationFilter{Since: moved}, bbus.Page{})
	if err != nil || len(ms) != 0 {
		t.Fatalf("migrations proposed since the move: %+v %v", ms, err)
	}
}

func TestPagingFollowsNext(t *testing.T) {
	ctx := context.Background()
	chain, c, c1, _ := setup(t)
	var txs [][]byte
	for i := range 25 {
		raw, _, err := c1.Sign(bbus.Action{VMRegister: &bbus.VMRegister{VM: fmt.Sprintf("vm-%02d", i), Resources: bbus.Resources{CPU: 1, MemMiB: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		txs = append(txs, raw)
	}
	chain.Block(txs...)
	var got []string
	p := bbus.Page{Limit: 4}
	for {
		vms, next, err := c.VMs(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, vm := range vms {
			got = append(got, vm.ID)
		}
		if next == "" {
			break
		}
		p.After = next
	}
	if len(got) != 25 || got[0] != "vm-00" || got[24] != "vm-24" {
		t.Errorf("paged VMs: %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Errorf("VM %s after %s", got[i], got[i-1])
		}
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	chain, c, c1, c2 := setup(t)

	_, err := c.Cloud(ctx, "nope")
	wantCode(t, "unknown cloud", err, bbus.ENOTFOUND)
	_, err = c.Migration(ctx, "mig-7")
	wantCode(t, "unknown migration", err, bbus.ENOTFOUND)
	_, _, err = c.VMs(ctx, bbus.Page{Limit: 5000})
	wantCode(t, "limit too large", err, bbus.EINVALID)
	_, err = c.Cloud(ctx, "a/b")
	wantCode(t, "id with a slash", err, bbus.ENOTFOUND)

	if _, err := c.Send(ctx, c1, bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}}); err != nil {
		t.Fatal(err)
	}
	// Rejected in its block: the result and the error.
	res, err := c.Send(ctx, c2, bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm-1"}})
	wantCode(t, "terminate by another cloud", err, bbus.EUNAUTHORIZED)
	if res == nil || res.Height != chain.Last().Height || res.Code != bbus.EUNAUTHORIZED {
		t.Errorf("rejected result: %+v", res)
	}
	// Refused before consensus: no result.
	_, wrong, _ := ed25519.GenerateKey(rand.Reader)
	res, err = c.Send(ctx, client.Signer{ChainID: c1.ChainID, ID: "c1", Key: wrong}, bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm-1"}})
	wantCode(t, "wrong key", err, bbus.EBADSIG)
	if res != nil {
		t.Errorf("result of a refused transaction: %+v", res)
	}
	res, err = c.Send(ctx, client.Signer{ChainID: "other", ID: "c1", Key: c1.Key}, bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm-1"}})
	wantCode(t, "wrong chain", err, bbus.EWRONGCHAIN)
	if res != nil {
		t.Errorf("result of a transaction for another chain: %+v", res)
	}
	_, _, err = client.Signer{ID: "c1"}.Sign(bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm-1"}})
	wantCode(t, "no key", err, bbus.EINVALID)
}

func TestSubmitNoWait(t *testing.T) {
	ctx := context.Background()
	_, c, c1, _ := setup(t)
	raw, id, err := c1.Sign(bbus.Action{VMRegister: &bbus.VMRegister{VM: "vm-1", Resources: bbus.Resources{CPU: 1, MemMiB: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Submit(ctx, raw, false)
	if err != nil || res.TxID != id {
		t.Fatalf("submit without wait: %+v %v", res, err)
	}
}

func TestSignerMakesValidTransactions(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	s := client.Signer{ChainID: "chain-x", ID: "c9", Key: key}
	seen := map[uint64]bool{}
	for range 50 {
		before := time.Now()
		raw, id, err := s.Sign(bbus.Action{CloudApprove: &bbus.CloudApprove{Cloud: "c8", PubKey: make([]byte, 32)}})
		if err != nil {
			t.Fatal(err)
		}
		tx, err := bbus.DecodeTx(raw)
		if err != nil {
			t.Fatalf("DecodeTx of a signed tx: %v", err)
		}
		if tx.ID != id || tx.ChainID != "chain-x" || tx.Signer != "c9" || !ed25519.Verify(key.Public().(ed25519.PublicKey), tx.BodyBytes, tx.Sig) {
			t.Fatalf("tx %+v", tx)
		}
		if tx.Nonce >= 1<<53 || seen[tx.Nonce] {
			t.Fatalf("nonce %d out of range or repeated", tx.Nonce)
		}
		seen[tx.Nonce] = true
		if exp := time.Unix(tx.Expires, 0); exp.Before(before.Add(client.TxTTL-time.Second)) || exp.After(time.Now().Add(client.TxTTL)) {
			t.Fatalf("expires %s, want about %s", exp, before.Add(client.TxTTL))
		}
	}
}

func TestUnreachableAndForeignErrors(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream is down", http.StatusBadGateway)
	}))
	_, err := client.New(srv.URL).Status(ctx)
	e := wantCode(t, "a proxy's 502", err, bbus.EUNAVAILABLE)
	if !strings.Contains(e.Message, "upstream is down") {
		t.Errorf("message %q does not carry the body", e.Message)
	}
	addr := srv.Listener.Addr().String()
	srv.Close()
	_, err = client.New(addr).Status(ctx) // no scheme: http
	e = wantCode(t, "a closed port", err, bbus.EUNAVAILABLE)
	if !strings.Contains(e.Message, addr) {
		t.Errorf("message %q does not name the node", e.Message)
	}
	if got := client.New("127.0.0.1:1/").BaseURL(); got != "http://127.0.0.1:1" {
		t.Errorf("BaseURL = %q", got)
	}
}
