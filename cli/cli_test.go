package cli_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/cli"
	"github.com/bbusdev/bbus/httpapi"
	"github.com/bbusdev/bbus/internal/ledgertest"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(args, strings.NewReader(""), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// ok runs args and fails the test unless they exit 0.
func ok(t *testing.T, args ...string) string {
	t.Helper()
	r := run(t, args...)
	if r.code != 0 {
		t.Fatalf("bbus %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs args and wants exit code and a line starting with prefix on stderr.
func fails(t *testing.T, code int, prefix string, args ...string) result {
	t.Helper()
	r := run(t, args...)
	if r.code != code || !strings.HasPrefix(r.stderr, prefix) {
		t.Fatalf("bbus %s: exit %d, stderr %q; want exit %d and stderr starting %q", strings.Join(args, " "), r.code, r.stderr, code, prefix)
	}
	return r
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("output is not the JSON expected: %v\n%s", err, s)
	}
}

// fed is a federation of clouds c1 and c2 whose keys are in home, served over HTTP.
type fed struct {
	home, node string
	chain      *ledgertest.Chain
}

func setup(t *testing.T) *fed {
	t.Helper()
	home := t.TempDir()
	var founders []ledgertest.Founder
	for _, id := range []string{"c1", "c2"} {
		ok(t, "keys", "add", id, "--home", home)
		k, err := keys.Load(home, id)
		if err != nil {
			t.Fatal(err)
		}
		founders = append(founders, ledgertest.Founder{ID: id, Key: k.PrivKey})
	}
	chain := ledgertest.New(founders...)
	srv := httptest.NewServer(httpapi.New(chain, httpapi.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	return &fed{home: home, node: srv.URL, chain: chain}
}

// tx runs bbus tx as cloud from, flags first.
func (f *fed) tx(t *testing.T, from string, action ...string) string {
	t.Helper()
	return ok(t, append([]string{"tx", "--home", f.home, "--node", f.node, "--from", from}, action...)...)
}

func (f *fed) view(t *testing.T, fn func(r kv.Reader) error) {
	t.Helper()
	if err := f.chain.View(fn); err != nil {
		t.Fatal(err)
	}
}

func TestKeys(t *testing.T) {
	home := t.TempDir()
	out := ok(t, "keys", "add", "acme", "--home", home)
	if !strings.Contains(out, "added key acme") {
		t.Errorf("keys add printed %q", out)
	}
	k, err := keys.Load(home, "acme")
	if err != nil {
		t.Fatal(err)
	}
	pub := base64.StdEncoding.EncodeToString(k.PubKey)
	ok(t, "keys", "add", "--home", home, "--output", "json", "zeta") // flags before the id

	for _, args := range [][]string{
		{"keys", "show", "acme", "--home", home},
		{"keys", "list", "--home", home},
	} {
		out := ok(t, args...)
		if !strings.Contains(out, pub) || !strings.Contains(out, "acme") {
			t.Errorf("%v printed %q, want acme's public key", args, out)
		}
	}
	var shown struct {
		ID     string `json:"id"`
		PubKey []byte `json:"pub_key"`
	}
	decode(t, ok(t, "keys", "show", "acme", "--home", home, "--output", "json"), &shown)
	if shown.ID != "acme" || !bytes.Equal(shown.PubKey, k.PubKey) {
		t.Errorf("keys show json = %+v", shown)
	}
	var listed []map[string]any
	decode(t, ok(t, "keys", "list", "--home", home, "--output", "json"), &listed)
	if len(listed) != 2 || listed[0]["id"] != "acme" || listed[1]["id"] != "zeta" {
		t.Errorf("keys list json = %v", listed)
	}
	// The private key shows nowhere.
	priv := base64.StdEncoding.EncodeToString(k.PrivKey)
	for _, args := range [][]string{
		{"keys", "show", "acme", "--home", home}, {"keys", "show", "acme", "--home", home, "--output", "json"},
		{"keys", "list", "--home", home}, {"keys", "list", "--home", home, "--output", "json"},
	} {
		if out := ok(t, args...); strings.Contains(out, priv) || strings.Contains(out, priv[:20]) || strings.Contains(out, "priv") {
			t.Errorf("%v prints the private key: %s", args, out)
		}
	}

	fails(t, 1, "error: already_exists: ", "keys", "add", "acme", "--home", home)
	fails(t, 1, "error: not_found: ", "keys", "show", "nobody", "--home", home)
	fails(t, 1, "error: invalid: ", "keys", "add", "bad/name", "--home", home)
	fails(t, 2, "error: missing arguments", "keys", "show", "--home", home)
	fails(t, 2, "error: unknown subcommand", "keys", "rotate", "--home", home)
	if out := ok(t, "keys", "list", "--home", t.TempDir()); !strings.Contains(out, "no keys") {
		t.Errorf("keys list of an empty home printed %q", out)
	}
}

func TestTxEveryVerb(t *testing.T) {
	f := setup(t)

	out := f.tx(t, "c1", "vm", "register", "vm-1", "--cpu", "4", "--mem-mib", "8192", "--disk-iops", "500", "--net-mbps", "100",
		"--image", "sha256:"+strings.Repeat("0f", 32))
	if !strings.HasPrefix(out, "committed vm_register vm-1 at height 1 (tx ") {
		t.Errorf("register printed %q", out)
	}
	// Flags after the positional arguments, and the tx flags last.
	ok(t, "tx", "vm", "register", "vm-2", "--cpu", "1", "--mem-mib", "512", "--home", f.home, "--node", f.node, "--from", "c1")

	out = f.tx(t, "c1", "migration", "propose", "vm-1", "--to", "c2")
	if !strings.HasPrefix(out, "committed migration_propose mig-1 at height 3 (tx ") {
		t.Errorf("propose printed %q", out)
	}
	f.tx(t, "c2", "migration", "accept", "mig-1")
	var res bbus.TxResult
	decode(t, f.tx(t, "c2", "--output", "json", "migration", "complete", "mig-1"), &res)
	if res.Type != "migration_complete" || res.ID != "mig-1" || res.Height != 5 || res.Signer != "c2" || len(res.TxID) != 64 {
		t.Errorf("complete json = %+v", res)
	}
	f.tx(t, "c2", "migration", "propose", "vm-1", "--to", "c1")
	f.tx(t, "c1", "migration", "reject", "mig-2")
	f.tx(t, "c1", "migration", "propose", "vm-2", "--to", "c2")
	f.tx(t, "c1", "migration", "cancel", "mig-3")
	f.tx(t, "c1", "vm", "terminate", "vm-2")
	// c2 declines what c1 proposes, with a reason.
	f.tx(t, "c1", "agreement", "propose", "--provider", "c2", "--consumer", "c1", "--price-vcpu-hour", "0.5", "--availability", "99", "--penalty-pct", "5")
	if out := f.tx(t, "c2", "agreement", "decline", "agr-1", "--reason", "too cheap to run"); !strings.HasPrefix(out, "committed agreement_decline agr-1 at height") {
		t.Errorf("decline printed %q", out)
	}
	f.view(t, func(r kv.Reader) error {
		if a, err := ledger.Agreement(r, "agr-1"); err != nil || a.Status != bbus.AgreementDeclined || a.Reason != "too cheap to run" {
			t.Errorf("agr-1 = %+v, %v", a, err)
		}
		return nil
	})

	// A new cloud with its own new key may apply only once a member invited
	// that key; the invitation is c1's vote, and c2's approval admits it.
	ok(t, "keys", "add", "c3", "--home", f.home)
	valPub, _, _ := ed25519.GenerateKey(nil) // a real point: keys of small order are refused
	valKey := base64.StdEncoding.EncodeToString(valPub)
	join := []string{"tx", "cloud", "join", "--name", "Third Cloud", "--cpu", "64", "--mem-mib", "65536", "--disk-iops", "9000",
		"--net-mbps", "1000", "--api", "https://c3.example:8080", "--validator-key", valKey, "--home", f.home, "--node", f.node, "--from", "c3"}
	fails(t, 1, "error: not_invited: ", join...)
	k3key, _ := keys.Load(f.home, "c3")
	f.tx(t, "c1", "cloud", "invite", "c3", "--pub-key", base64.StdEncoding.EncodeToString(k3key.PubKey), "--validator-key", valKey)
	out = ok(t, "tx", "cloud", "join", "--name", "Third Cloud", "--cpu", "64", "--mem-mib", "65536", "--disk-iops", "9000",
		"--net-mbps", "1000", "--api", "https://c3.example:8080", "--validator-key", valKey,
		"--home", f.home, "--node", f.node, "--from", "c3")
	if !strings.HasPrefix(out, "committed cloud_join c3 at height") {
		t.Errorf("join printed %q", out)
	}
	f.tx(t, "c2", "cloud", "approve", "c3") // names the key c3 applied with, read from the node
	f.tx(t, "c3", "cloud", "remove", "c2")

	f.view(t, func(r kv.Reader) error {
		vm1, _ := ledger.VM(r, "vm-1")
		vm2, _ := ledger.VM(r, "vm-2")
		if vm1.Host != "c2" || vm1.Image == "" || vm1.Resources.NetMbps != 100 || vm2.State != bbus.VMTerminated {
			t.Errorf("vm-1 %+v, vm-2 %+v", vm1, vm2)
		}
		for id, want := range map[string]string{"mig-1": bbus.MigrationCompleted, "mig-2": bbus.MigrationRejected, "mig-3": bbus.MigrationCancelled} {
			if m, _ := ledger.Migration(r, id); m.Status != want {
				t.Errorf("%s is %s, want %s", id, m.Status, want)
			}
		}
		c3, err := ledger.Cloud(r, "c3")
		if err != nil {
			return err
		}
		k3, _ := keys.Load(f.home, "c3")
		if c3.Status != bbus.CloudActive || c3.Name != "Third Cloud" || c3.API != "https://c3.example:8080" || c3.Capacity.DiskIOPS != 9000 ||
			!bytes.Equal(c3.PubKey, k3.PubKey) || !bytes.Equal(c3.ValidatorKey, valPub) || c3.Power == 0 {
			t.Errorf("c3 = %+v", c3)
		}
		if c2, _ := ledger.Cloud(r, "c2"); len(c2.Removals) != 1 || c2.Removals[0] != "c3" {
			t.Errorf("c2's removal votes = %v", c2.Removals)
		}
		return nil
	})
}

func TestTxRejected(t *testing.T) {
	f := setup(t)
	f.tx(t, "c1", "vm", "register", "vm-1", "--cpu", "1", "--mem-mib", "512")

	// Rejected by the ledger in its block.
	r := fails(t, 1, "error: unauthorized: ", "tx", "--home", f.home, "--node", f.node, "--from", "c2", "vm", "terminate", "vm-1")
	if r.stdout != "" {
		t.Errorf("a rejected tx printed %q on stdout", r.stdout)
	}
	r = fails(t, 1, "error: insufficient_capacity: ", "tx", "--home", f.home, "--node", f.node, "--from", "c1", "--output", "json",
		"vm", "register", "vm-2", "--cpu", "100000", "--mem-mib", "1")
	var res bbus.TxResult
	decode(t, r.stdout, &res)
	if res.Code != bbus.ECAPACITY || res.Height != f.chain.Last().Height {
		t.Errorf("rejected result json = %+v", res)
	}
	fails(t, 1, "error: not_found: ", "tx", "--home", f.home, "--node", f.node, "--from", "c1", "migration", "accept", "mig-9")
	fails(t, 1, "error: already_exists: ", "tx", "--home", f.home, "--node", f.node, "--from", "c1", "vm", "register", "vm-1", "--cpu", "1", "--mem-mib", "1")
	fails(t, 1, "error: invalid: ", "tx", "--home", f.home, "--node", f.node, "--from", "c1", "vm", "register", "vm-3", "--cpu", "1", "--mem-mib", "1", "--image", "latest")
	// Refused before consensus: a key the federation does not know.
	ok(t, "keys", "add", "stranger", "--home", f.home)
	fails(t, 1, "error: unknown_signer: ", "tx", "--home", f.home, "--node", f.node, "--from", "stranger", "vm", "terminate", "vm-1")
	// Refused by the CLI: no key, no node.
	fails(t, 1, "error: not_found: ", "tx", "--home", f.home, "--node", f.node, "--from", "c9", "vm", "terminate", "vm-1")
	fails(t, 1, "error: unavailable: ", "tx", "--home", f.home, "--node", "http://127.0.0.1:1", "--from", "c1", "vm", "terminate", "vm-1")
}

func TestTxUsage(t *testing.T) {
	f := setup(t)
	tx := []string{"tx", "--home", f.home, "--node", f.node, "--from", "c1"}
	fails(t, 2, "error: flag --mem-mib is required", append(tx, "vm", "register", "vm-9", "--cpu", "1")...)
	fails(t, 2, "error: flag --from is required", "tx", "--home", f.home, "vm", "terminate", "vm-1")
	fails(t, 2, "error: flag --to is required", append(tx, "migration", "propose", "vm-1")...)
	fails(t, 2, "error: missing arguments", append(tx, "migration", "accept")...)
	fails(t, 2, "error: unexpected argument \"extra\"", append(tx, "vm", "terminate", "vm-1", "extra")...)
	fails(t, 2, "error: unknown action \"vm reboot\"", append(tx, "vm", "reboot", "vm-1")...)
	fails(t, 2, "error: missing action", tx...)
	fails(t, 2, "error: flag provided but not defined: -to", append(tx, "vm", "terminate", "vm-1", "--to", "c2")...)
	fails(t, 2, "error: invalid value \"many\" for flag -cpu", append(tx, "vm", "register", "vm-9", "--cpu", "many", "--mem-mib", "1")...)
	fails(t, 2, "error: invalid value \"yaml\" for flag -output", append(tx, "--output", "yaml", "vm", "terminate", "vm-1")...)
	if n := f.chain.Last().Height; n != 0 {
		t.Errorf("usage errors made %d blocks", n)
	}

	out := ok(t, "tx", "-h")
	for _, verb := range []string{"cloud join", "cloud approve", "cloud remove", "vm register", "vm terminate",
		"migration propose", "migration accept", "migration complete", "migration reject", "migration cancel"} {
		if !strings.Contains(out, "bbus tx "+verb) {
			t.Errorf("bbus tx -h does not list %q:\n%s", verb, out)
		}
	}
	if out := ok(t, "tx", "vm", "register", "-h"); !strings.Contains(out, "-mem-mib") || !strings.Contains(out, "-sign-only") {
		t.Errorf("bbus tx vm register -h:\n%s", out)
	}
}

func TestSignOnly(t *testing.T) {
	f := setup(t)
	raw := ok(t, "tx", "--home", f.home, "--node", f.node, "--from", "c1", "--sign-only", "vm", "register", "vm-1", "--cpu", "2", "--mem-mib", "1024")
	if f.chain.Last().Height != 0 {
		t.Fatal("--sign-only submitted the transaction")
	}
	tx, err := bbus.DecodeTx([]byte(raw))
	if err != nil {
		t.Fatalf("--sign-only printed %q: %v", raw, err)
	}
	if tx.ChainID != ledgertest.ChainID || tx.Signer != "c1" || tx.Action.VMRegister.VM != "vm-1" {
		t.Errorf("signed tx = %+v", tx)
	}
	// Offline: --chain-id instead of asking a node.
	offline := ok(t, "tx", "--sign-only", "--chain-id", ledgertest.ChainID, "--node", "http://127.0.0.1:1", "--home", f.home, "--from", "c1",
		"vm", "register", "vm-2", "--cpu", "1", "--mem-mib", "1")

	for _, raw := range []string{raw, offline} {
		resp, err := http.Post(f.node+"/v1/txs", "application/json", strings.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST /v1/txs of the --sign-only output: %d %s", resp.StatusCode, body)
		}
	}
	if f.chain.Last().Height != 2 {
		t.Errorf("height %d after submitting two signed txs", f.chain.Last().Height)
	}
}

func TestQuery(t *testing.T) {
	f := setup(t)
	f.tx(t, "c1", "vm", "register", "vm-1", "--cpu", "4", "--mem-mib", "8192")
	f.tx(t, "c1", "migration", "propose", "vm-1", "--to", "c2")
	f.tx(t, "c2", "migration", "accept", "mig-1")
	f.tx(t, "c2", "migration", "complete", "mig-1")
	moved := f.chain.Last().Time
	f.tx(t, "c2", "migration", "propose", "vm-1", "--to", "c1")
	for i := range 12 {
		f.tx(t, "c2", "vm", "register", fmt.Sprintf("vm-x%02d", i), "--cpu", "1", "--mem-mib", "1")
	}
	q := func(args ...string) string {
		t.Helper()
		return ok(t, append([]string{"query", "--node", f.node}, args...)...)
	}
	qjson := func(v any, args ...string) {
		t.Helper()
		decode(t, q(append(args, "--output", "json")...), v)
	}

	// status
	if out := q("status"); !strings.Contains(out, ledgertest.ChainID) || !strings.Contains(out, "latest height") {
		t.Errorf("status:\n%s", out)
	}
	var st bbus.Status
	qjson(&st, "status")
	if st.Height != f.chain.Last().Height || st.ChainID != ledgertest.ChainID {
		t.Errorf("status json = %+v", st)
	}

	// clouds, cloud
	out := q("clouds")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "ID ") || !strings.HasPrefix(lines[2], "c2 ") {
		t.Errorf("clouds:\n%s", out)
	}
	var clouds bbus.List[bbus.Cloud]
	qjson(&clouds, "clouds")
	if len(clouds.Items) != 2 || clouds.Next != "" {
		t.Errorf("clouds json = %+v", clouds)
	}
	if out := q("cloud", "c2"); !strings.Contains(out, "hosted vms") || !strings.Contains(out, "13") {
		t.Errorf("cloud c2:\n%s", out)
	}
	var c2 bbus.Cloud
	qjson(&c2, "cloud", "c2")
	if c2.HostedVMs != 13 {
		t.Errorf("cloud json = %+v", c2)
	}

	// vm, vms
	if out := q("vm", "vm-1"); !strings.Contains(out, "open migration") || !strings.Contains(out, "mig-2") {
		t.Errorf("vm:\n%s", out)
	}
	var vm bbus.VM
	qjson(&vm, "vm", "vm-1")
	if vm.Host != "c2" || vm.Migration != "mig-2" {
		t.Errorf("vm json = %+v", vm)
	}
	var vms bbus.List[bbus.VM]
	qjson(&vms, "vms", "--limit", "5")
	if len(vms.Items) != 5 || vms.Next != "vm-x03" {
		t.Errorf("vms page json = %+v", vms)
	}
	qjson(&vms, "vms", "--limit", "5", "--after", "vm-x03")
	if len(vms.Items) != 5 || vms.Items[0].ID != "vm-x04" {
		t.Errorf("vms second page json = %+v", vms)
	}
	vms = bbus.List[bbus.VM]{}
	qjson(&vms, "vms", "--limit", "5", "--all")
	if len(vms.Items) != 13 || vms.Next != "" {
		t.Errorf("vms --all json has %d items, next %q", len(vms.Items), vms.Next)
	}
	r := run(t, "query", "vms", "--limit", "5", "--node", f.node)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != 0 || len(lines) != 6 || !strings.Contains(r.stderr, "--after vm-x03") {
		t.Errorf("vms --limit 5: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, "query", "vms", "--limit", "5", "--all", "--node", f.node)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != 0 || len(lines) != 14 || r.stderr != "" {
		t.Errorf("vms --all: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// vm-history, host
	out = q("vm-history", "vm-1")
	if !strings.Contains(out, "hosting intervals") || !strings.Contains(out, "running") || !strings.Contains(out, "mig-1") || !strings.Contains(out, "completed") {
		t.Errorf("vm-history:\n%s", out)
	}
	var h bbus.History
	qjson(&h, "vm-history", "vm-1")
	if len(h.Intervals) != 2 || len(h.Migrations) != 2 {
		t.Errorf("vm-history json = %+v", h)
	}
	before := moved.Add(-time.Millisecond).Format(time.RFC3339Nano)
	if out := q("host", "vm-1", "--at", before); !strings.Contains(out, "c1") || !strings.Contains(out, "registration") {
		t.Errorf("host before the move:\n%s", out)
	}
	var iv bbus.Interval
	qjson(&iv, "host", "--at", moved.Format(time.RFC3339), "vm-1")
	if iv.Cloud != "c2" || iv.Migration != "mig-1" {
		t.Errorf("host json = %+v", iv)
	}
	fails(t, 2, "error: flag --at is required", "query", "--node", f.node, "host", "vm-1")
	fails(t, 2, "error: invalid value \"noon\" for flag -at", "query", "--node", f.node, "host", "vm-1", "--at", "noon")
	fails(t, 1, "error: not_found: ", "query", "--node", f.node, "host", "vm-1", "--at", "2000-01-01T00:00:00Z")

	// migration, migrations
	if out := q("migration", "mig-1"); !strings.Contains(out, "completed") || !strings.Contains(out, "accepted") {
		t.Errorf("migration:\n%s", out)
	}
	var m bbus.Migration
	qjson(&m, "migration", "mig-2")
	if m.Status != bbus.MigrationProposed || m.From != "c2" {
		t.Errorf("migration json = %+v", m)
	}
	var ms bbus.List[bbus.Migration]
	qjson(&ms, "migrations")
	if len(ms.Items) != 2 {
		t.Errorf("migrations json = %+v", ms)
	}
	ms = bbus.List[bbus.Migration]{}
	qjson(&ms, "migrations", "--vm", "vm-1", "--cloud", "c1", "--status", "proposed", "--since", moved.Format(time.RFC3339Nano))
	if len(ms.Items) != 1 || ms.Items[0].ID != "mig-2" {
		t.Errorf("filtered migrations json = %+v", ms)
	}
	qjson(&ms, "migrations", "--until", moved.Format(time.RFC3339Nano), "--limit", "1", "--all")
	if len(ms.Items) != 1 || ms.Items[0].ID != "mig-1" {
		t.Errorf("migrations until the move = %+v", ms)
	}
	out = q("migrations", "--status", "completed")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "mig-1 ") {
		t.Errorf("completed migrations:\n%s", out)
	}

	// Errors.
	fails(t, 1, "error: not_found: ", "query", "--node", f.node, "vm", "nope")
	fails(t, 1, "error: invalid: ", "query", "--node", f.node, "migrations", "--status", "done")
	fails(t, 1, "error: invalid: ", "query", "--node", f.node, "clouds", "--limit", "5000")
	fails(t, 1, "error: unavailable: ", "query", "--node", "127.0.0.1:1", "status")
	fails(t, 2, "error: unknown query \"payments\"", "query", "--node", f.node, "payments")
	fails(t, 2, "error: missing arguments", "query", "--node", f.node, "vm")
}

func TestHelpAndUnknownCommands(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		if out := ok(t, args...); !strings.Contains(out, "Usage: bbus <command>") || !strings.Contains(out, "query") {
			t.Errorf("%v printed:\n%s", args, out)
		}
	}
	for _, args := range [][]string{{"help", "tx"}, {"tx", "--help"}, {"query", "-h"}, {"keys", "-h"}, {"query", "migrations", "-h"}, {"keys", "add", "-h"}} {
		if out := ok(t, args...); !strings.Contains(out, "Usage:") {
			t.Errorf("%v printed:\n%s", args, out)
		}
	}
	if out := ok(t, "query", "migrations", "-h"); !strings.Contains(out, "-since") || !strings.Contains(out, "-all") {
		t.Errorf("query migrations -h:\n%s", out)
	}
	r := fails(t, 2, "error: unknown command \"frobnicate\"", "frobnicate")
	if !strings.Contains(r.stderr, "Usage: bbus") || r.stdout != "" {
		t.Errorf("unknown command: stdout %q stderr %q", r.stdout, r.stderr)
	}
	if r := run(t); r.code != 2 || !strings.Contains(r.stderr, "Usage: bbus") {
		t.Errorf("no command: exit %d, stderr %q", r.code, r.stderr)
	}
	fails(t, 2, "error: unknown command \"nope\"", "help", "nope")
}
