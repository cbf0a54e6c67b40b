package cli_test

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/httpapi"
	"github.com/bbusdev/bbus/internal/ledgertest"
	"github.com/bbusdev/bbus/node"
	"github.com/bbusdev/bbus/tokens"
)

// TestTokenCommands makes, uses, lists and revokes tokens of a home whose node
// wants a token for every read, through bbus token and bbus query --token.
func TestTokenCommands(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "config"), 0o700); err != nil {
		t.Fatal(err)
	}
	chain := ledgertest.New()
	srv := httptest.NewServer(httpapi.New(chain, httpapi.Options{Tokens: tokens.Open(home), Reads: httpapi.ReadsToken,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)

	fails(t, 1, "error: unauthenticated: ", "query", "clouds", "--node", srv.URL)

	var made struct {
		ID, Scope, Name, Token string
	}
	decode(t, ok(t, "token", "create", "--home", home, "--scope", "read", "--name", "auditor", "--output", "json"), &made)
	if made.Scope != "read" || made.Name != "auditor" || !strings.HasPrefix(made.Token, "bbus_") || !strings.HasPrefix(made.ID, "tok-") {
		t.Fatalf("token create: %+v", made)
	}
	secret := strings.TrimSpace(ok(t, "token", "create", "--home", home, "--scope", "write"))
	if !strings.HasPrefix(secret, "bbus_") || strings.Contains(secret, "\n") {
		t.Fatalf("token create printed %q", secret)
	}

	if out := ok(t, "query", "clouds", "--node", srv.URL, "--token", made.Token); !strings.Contains(out, "cloud0") {
		t.Errorf("query with a token printed %q", out)
	}
	t.Setenv("BBUS_TOKEN", secret)
	ok(t, "query", "clouds", "--node", srv.URL)
	t.Setenv("BBUS_TOKEN", "")

	out := ok(t, "token", "list", "--home", home)
	if !strings.Contains(out, made.ID) || !strings.Contains(out, "auditor") || strings.Contains(out, made.Token) || strings.Contains(out, secret) {
		t.Errorf("token list printed %q", out)
	}
	var listed []map[string]any
	decode(t, ok(t, "token", "list", "--home", home, "--output", "json"), &listed)
	if len(listed) != 2 || listed[0]["id"] != made.ID || listed[0]["token"] != nil || listed[0]["sha256"] != nil {
		t.Errorf("token list json: %v", listed)
	}

	ok(t, "token", "revoke", made.ID, "--home", home)
	fails(t, 1, "error: unauthenticated: ", "query", "clouds", "--node", srv.URL, "--token", made.Token)
	fails(t, 1, "error: not_found: ", "token", "revoke", made.ID, "--home", home)
	fails(t, 1, "error: invalid: ", "token", "create", "--home", home, "--scope", "admin")
	fails(t, 2, "error: flag --scope is required", "token", "create", "--home", home)
	fails(t, 2, "error: unknown subcommand", "token", "rotate", "--home", home)
	fails(t, 2, "error: missing arguments", "token", "revoke", "--home", home)
}

// TestQueryTxAndBlock reads a committed transaction and its block from a real node.
func TestQueryTxAndBlock(t *testing.T) {
	home := t.TempDir()
	c := node.DefaultConfig("local")
	c.P2PListen = "tcp://127.0.0.1:0"
	if _, err := node.Init(node.InitOptions{Home: home, Cloud: "local", ChainID: "bbus-local", Config: &c}); err != nil {
		t.Fatal(err)
	}
	n, err := node.Open(home, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	url := "http://" + n.APIAddr()

	var res bbus.TxResult
	decode(t, ok(t, "tx", "--home", home, "--node", url, "--from", "local", "--output", "json", "vm", "register", "vm-1", "--cpu", "1", "--mem-mib", "1"), &res)
	out := ok(t, "query", "tx", res.TxID, "--node", url)
	for _, want := range []string{res.TxID, "vm_register", "applied (vm-1)", "local"} {
		if !strings.Contains(out, want) {
			t.Errorf("query tx lacks %q:\n%s", want, out)
		}
	}
	var tx bbus.CommittedTx
	decode(t, ok(t, "query", "tx", res.TxID, "--node", url, "--output", "json"), &tx)
	if tx.Height != res.Height || tx.Body == nil || tx.Body.Action.VMRegister == nil {
		t.Errorf("query tx json: %+v", tx)
	}
	out = ok(t, "query", "block", strconv.FormatInt(res.Height, 10), "--node", url)
	if !strings.Contains(out, res.TxID) || !strings.Contains(out, "transactions  1") {
		t.Errorf("query block printed:\n%s", out)
	}
	fails(t, 1, "error: not_found: ", "query", "tx", strings.Repeat("0", 64), "--node", url)
	fails(t, 2, "error: HEIGHT must be", "query", "block", "x", "--node", url)
}
