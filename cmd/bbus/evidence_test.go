package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/evidence"
	"github.com/bbusdev/bbus/internal/evidencetest"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/node"
)

// TestEvidenceAcrossValidatorChange runs a one-cloud federation that a second
// cloud joins as validator, exports a VM whose transactions span the change
// with bbus evidence export, and checks that bbus evidence verify accepts it
// from genesis and from the checkpoint bbus query status prints, and refuses,
// naming why, the bundle with the change skipped (whole or half), with a
// block the founding validator signed alone after the change, or against a
// checkpoint of another history; an agreement exports and verifies alone;
// bundles cut short (a transaction, an interval, a whole migration with its
// headers dropped) are refused naming what the proved record counts and
// they lack; an invoice exports and verifies with its amounts recomputed,
// and with an amount changed is refused.
func TestEvidenceAcrossValidatorChange(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two nodes as processes")
	}
	founder := startFederation(t, 1)[0]
	genesis := node.GenesisPath(founder.home)
	tx := func(m *member, args ...string) string {
		return run(t, 0, append([]string{"tx", "--home", m.home, "--node", m.api, "--from", m.cloud, "--output", "json"}, args...)...)
	}
	tx(founder, "vm", "register", "vm-1", "--cpu", "2", "--mem-mib", "2048")

	// cloud1 joins: cloud0's invitation is the only vote needed.
	cfg0, err := node.LoadConfig(founder.home)
	if err != nil {
		t.Fatal(err)
	}
	peer0 := founder.status(t).NodeID + "@" + strings.TrimPrefix(cfg0.P2PListen, "tcp://")
	home := filepath.Join(t.TempDir(), "node1")
	run(t, 0, "init", "--home", home, "--cloud", "cloud1", "--genesis", genesis, "--peers", peer0, "--p2p", "tcp://"+freeAddr(t))
	joiner := newMember(t, home, "cloud1")
	k1, err := keys.Load(home, "cloud1")
	if err != nil {
		t.Fatal(err)
	}
	v1, err := node.ValidatorKey(home)
	if err != nil {
		t.Fatal(err)
	}
	n1, err := node.NodeID(home)
	if err != nil {
		t.Fatal(err)
	}
	tx(founder, "cloud", "invite", "cloud1", "--pub-key", base64.StdEncoding.EncodeToString(k1.PubKey),
		"--validator-key", base64.StdEncoding.EncodeToString(v1), "--node-id", n1)
	joiner.start(t)
	eventually(t, 60*time.Second, "cloud1's node to sync", func() bool {
		st := joiner.status(t)
		return !st.CatchingUp && st.Height >= founder.status(t).Height
	})
	tx(joiner, "cloud", "join", "--name", "Cloud One", "--cpu", "64", "--mem-mib", "65536", "--disk-iops", "1000", "--net-mbps", "1000", "--validator")
	eventually(t, 30*time.Second, "two validators", func() bool { return len(joiner.status(t).Validators) == 2 })

	// vm-1 moves to cloud1 under the two validators.
	var mig struct{ ID string }
	json.Unmarshal([]byte(tx(founder, "migration", "propose", "vm-1", "--to", "cloud1")), &mig)
	tx(joiner, "migration", "accept", mig.ID)
	tx(joiner, "migration", "complete", mig.ID)
	eventually(t, 30*time.Second, "the founder's node to apply the completion", func() bool {
		var vm struct{ Host string }
		return getJSON(t, founder.api+"/v1/vms/vm-1", &vm) == 200 && vm.Host == "cloud1"
	})

	// The auditor's checkpoint, as a member's node prints it: the text and
	// the JSON forms agree (asked again if a block committed in between).
	var out, trust string
	var st bbus.Status
	var cp *evidence.Checkpoint
	eventually(t, 30*time.Second, "the text and JSON status to name the same checkpoint", func() bool {
		out = run(t, 0, "query", "--node", joiner.api, "status")
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "trust" {
				trust = f[1]
			}
		}
		json.Unmarshal([]byte(run(t, 0, "query", "--node", joiner.api, "--output", "json", "status")), &st)
		var err error
		if cp, err = evidence.ParseCheckpoint(trust); err != nil {
			t.Fatalf("status prints trust %q: %v\n%s", trust, err, out)
		}
		return st.Trust == trust
	})

	tx(founder, "vm", "register", "vm-2", "--cpu", "1", "--mem-mib", "1") // after the checkpoint

	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plain := []byte(run(t, 0, "evidence", "export", "--node", founder.api, "--vm", "vm-1"))
	withTrust := []byte(run(t, 0, "evidence", "export", "--node", founder.api, "--vm", "vm-1", "--trust", trust))
	out = run(t, 0, "evidence", "verify", write("plain.json", plain), "--genesis", genesis)
	if !strings.Contains(out, "validators followed from genesis through 1 change of the set") {
		t.Fatalf("verify:\n%s", out)
	}
	out = run(t, 0, "evidence", "verify", write("trust.json", withTrust), "--genesis", genesis, "--trust", trust)
	if !strings.Contains(out, "from the checkpoint "+trust) {
		t.Fatalf("verify --trust:\n%s", out)
	}

	refused := func(what string, bundle []byte, want string, extra ...string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		args := append([]string{"evidence", "verify", write("tampered.json", bundle), "--genesis", genesis}, extra...)
		if code := runCLI(args, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), want) {
			t.Errorf("%s: exit %d, stderr %s\nwant %q", what, code, stderr.String(), want)
			return
		}
		t.Logf("%s: %s", what, strings.TrimSpace(stderr.String()))
	}
	decode := func(raw []byte) *evidence.Bundle {
		b, err := evidence.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	encode := func(b *evidence.Bundle) []byte {
		out, err := json.MarshalIndent(b, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	changes := evidencetest.Changes(decode(plain))
	if len(changes) != 1 {
		t.Fatalf("changes at %v, want one", changes)
	}
	c := changes[0]
	b := decode(plain)
	evidencetest.Drop(b, c, c+1)
	refused("the change skipped", encode(b), "(from the genesis document): the bundle lacks a change of validators")
	b = decode(plain)
	evidencetest.Drop(b, c+1)
	refused("the header after the change dropped", encode(b), fmt.Sprintf("lacks the header at height %d, signed by them", c+1))
	refused("a checkpoint of another history", withTrust, "but the checkpoint you trust is", "--trust", fmt.Sprintf("%d:%s", cp.Height, strings.Repeat("AB", 32)))
	later := []byte(run(t, 0, "evidence", "export", "--node", founder.api, "--vm", "vm-2"))
	refused("a bundle without the checkpoint", later, fmt.Sprintf("export the bundle with --trust %d", cp.Height), "--trust", trust)

	// The founder's validator key alone signs a header after the change,
	// whose state has vm-1 terminated by cloud0 before it left (its last real
	// transactions dropped).
	k0, err := keys.Load(founder.home, "cloud0")
	if err != nil {
		t.Fatal(err)
	}
	fake, _, err := bbus.SignTx(&bbus.Body{ChainID: st.ChainID, Signer: "cloud0", Nonce: 999,
		Expires: time.Now().Add(time.Hour).Unix(), Action: bbus.Action{VMTerminate: &bbus.VMRef{VM: "vm-1"}}}, k0.PrivKey)
	if err != nil {
		t.Fatal(err)
	}
	b = decode(plain)
	b.Txs = b.Txs[:1]
	state := b.State.Height // the forged header takes the place of the true one
	evidencetest.Tx(b, state-1, fake)
	priv := evidencetest.ValidatorKey(founder.home)
	evidencetest.Drop(b, state)
	if err := evidencetest.Header(b, state, priv, nil); err != nil {
		t.Fatal(err)
	}
	if err := evidencetest.VMState(b, "vm-1", state, priv); err != nil {
		t.Fatal(err)
	}
	refused("a header the founder signed alone after the change", encode(b), fmt.Sprintf("the block at height %d is signed by validators", state))
	// An agreement exported alone, signed after the change.
	var agr struct{ ID string }
	json.Unmarshal([]byte(tx(founder, "agreement", "propose", "--provider", "cloud1", "--consumer", "cloud0",
		"--price-vcpu-hour", "0.5", "--availability", "99", "--penalty-pct", "10")), &agr)
	tx(joiner, "agreement", "sign", agr.ID)
	bundle := write("agreement.json", []byte(run(t, 0, "evidence", "export", "--node", joiner.api, "--agreement", agr.ID)))
	if out := run(t, 0, "evidence", "verify", bundle, "--genesis", genesis); !strings.Contains(out, "verified: agreement "+agr.ID) ||
		!strings.Contains(out, "cloud1 signs "+agr.ID) {
		t.Fatalf("verify the agreement:\n%s", out)
	}

	// Cut short, a bundle says what it lacks: vm-1's proved record counts its
	// migrations, intervals and transactions (registration, proposal,
	// acceptance, completion).
	b = decode(plain)
	evidencetest.DropTxs(b, mig.ID, "migration_accept")
	refused("a transaction dropped", encode(b), "counts 4 transactions that changed it, the bundle holds 3: 1 of them missing")
	b = decode(plain)
	evidencetest.DropTxs(b, mig.ID, "migration_complete")
	refused("an interval dropped", encode(b), "counts 2 hosting intervals, the bundle's transactions open 1: an interval is missing")
	b = decode(plain)
	evidencetest.DropTxs(b, mig.ID, "migration_propose", "migration_accept", "migration_complete")
	refused("a whole migration dropped", encode(b), fmt.Sprintf("counts 1 migrations, the last %s; the bundle's transactions propose 0 (none): migration %s, the last, is missing", mig.ID, mig.ID))

	// An invoice: vm-3 hosted by cloud1 under the agreement, billed.
	tx(founder, "vm", "register", "vm-3", "--cpu", "4", "--mem-mib", "4096")
	var mig3 struct{ ID string }
	json.Unmarshal([]byte(tx(founder, "migration", "propose", "vm-3", "--to", "cloud1", "--agreement", agr.ID)), &mig3)
	tx(joiner, "migration", "accept", mig3.ID)
	tx(joiner, "migration", "complete", mig3.ID)
	hosted := time.Now()
	eventually(t, 10*time.Second, "three seconds of hosting", func() bool { return time.Since(hosted) > 3*time.Second })
	var inv struct{ ID string }
	json.Unmarshal([]byte(tx(joiner, "invoice", "close", "--provider", "cloud1", "--consumer", "cloud0",
		"--until", time.Now().Add(-time.Second).UTC().Format(time.RFC3339))), &inv)
	invoice := []byte(run(t, 0, "evidence", "export", "--node", joiner.api, "--invoice", inv.ID))
	out = run(t, 0, "evidence", "verify", write("invoice.json", invoice), "--genesis", genesis)
	if !strings.Contains(out, "verified: invoice "+inv.ID) || !strings.Contains(out, "hosting  vm-3") {
		t.Fatalf("verify the invoice:\n%s", out)
	}
	var ir struct {
		InvoiceRecord bbus.Invoice `json:"invoice_record"`
	}
	json.Unmarshal([]byte(run(t, 0, "evidence", "verify", write("invoice.json", invoice), "--genesis", genesis, "--output", "json")), &ir)
	if ir.InvoiceRecord.Total <= 0 || len(ir.InvoiceRecord.Lines) != 1 || ir.InvoiceRecord.Lines[0].Amount != ir.InvoiceRecord.Total {
		t.Fatalf("the invoice proved: %+v", ir.InvoiceRecord)
	}
	// An amount changed: the line's record no longer matches the app hash.
	b = decode(invoice)
	changed := false
	for i, p := range b.State.Proofs {
		var l map[string]any
		if json.Unmarshal(p.Value, &l) == nil && l["kind"] == "hosting" {
			l["amount_micro"] = l["amount_micro"].(float64) + 1
			b.State.Proofs[i].Value, _ = json.Marshal(l)
			changed = true
		}
	}
	if !changed {
		t.Fatal("the invoice's bundle proves no hosting line")
	}
	refused("an amount changed", encode(b), "does not verify against the app hash")
	// A transaction slipped into the invoice's bundle, which proves nothing
	// by transactions.
	b = decode(invoice)
	b.Txs = decode(plain).Txs[:1]
	refused("a transaction added to an invoice's bundle", encode(b), "proves its records by state proofs alone")

	var stdout, stderr bytes.Buffer
	if code := runCLI([]string{"evidence", "verify", write("x.json", plain), "--genesis", genesis, "--trust", "12"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "HEIGHT:HASH") {
		t.Errorf("--trust 12: exit %d, %s", code, stderr.String())
	}
}
