package tokens

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bbusdev/bbus"
)

func home(t *testing.T) string {
	t.Helper()
	h := t.TempDir()
	if err := os.MkdirAll(filepath.Join(h, "config"), 0o700); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestCreateCheckRevoke(t *testing.T) {
	h := home(t)
	set := Open(h)
	if _, _, ok := set.Check("bbus_anything"); ok {
		t.Fatal("a home without tokens accepts one")
	}
	w, wt, err := Create(h, ScopeWrite, "orchestrator")
	if err != nil {
		t.Fatal(err)
	}
	r, rt, err := Create(h, ScopeRead, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(w, "bbus_") || len(w) < 40 || w == r || wt.ID == rt.ID {
		t.Fatalf("secrets %q %q, ids %s %s", w, r, wt.ID, rt.ID)
	}
	for _, tc := range []struct{ secret, id, scope string }{{w, wt.ID, ScopeWrite}, {r, rt.ID, ScopeRead}} {
		id, scope, ok := set.Check(tc.secret)
		if !ok || id != tc.id || scope != tc.scope {
			t.Errorf("Check(%s) = %s %s %v", tc.id, id, scope, ok)
		}
	}
	for _, bad := range []string{"", "bbus_", w[:len(w)-1], w + "x", strings.ToUpper(w), wt.Hash} {
		if _, _, ok := set.Check(bad); ok {
			t.Errorf("Check(%q) passes", bad)
		}
	}
	// The file holds hashes, never secrets, and only its owner reads it.
	b, err := os.ReadFile(Path(h))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), w) || strings.Contains(string(b), w[5:]) || !strings.Contains(string(b), wt.Hash) {
		t.Errorf("token file: %s", b)
	}
	if fi, _ := os.Stat(Path(h)); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", fi.Mode())
	}
	list, err := List(h)
	if err != nil || len(list) != 2 || list[0].Name != "orchestrator" || list[1].Scope != ScopeRead {
		t.Fatalf("List: %+v %v", list, err)
	}

	if err := Revoke(h, wt.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := set.Check(w); ok {
		t.Error("a revoked token passes")
	}
	if _, _, ok := set.Check(r); !ok {
		t.Error("revoking one token dropped another")
	}
	// Revoke and create at once, within one tick of the file system's clock:
	// the set still sees the change.
	if err := Revoke(h, rt.ID); err != nil {
		t.Fatal(err)
	}
	r2, _, err := Create(h, ScopeRead, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := set.Check(r); ok {
		t.Error("a token revoked just before another was made passes")
	}
	if _, _, ok := set.Check(r2); !ok {
		t.Error("a token made just after a revocation fails")
	}
	if err := Revoke(h, "tok-nope"); bbus.ErrorCode(err) != bbus.ENOTFOUND {
		t.Errorf("revoking an unknown token: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	h := home(t)
	if _, _, err := Create(h, "admin", ""); bbus.ErrorCode(err) != bbus.EINVALID {
		t.Errorf("scope admin: %v", err)
	}
	if _, _, err := Create(h, ScopeRead, "a\"b"); bbus.ErrorCode(err) != bbus.EINVALID {
		t.Errorf("a name with a quote: %v", err)
	}
	if _, _, err := Create(filepath.Join(h, "nothing"), ScopeRead, ""); bbus.ErrorCode(err) != bbus.ENOTFOUND {
		t.Errorf("not a home: %v", err)
	}
	// A corrupt file fails closed.
	secret, _, err := Create(h, ScopeRead, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(Path(h), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := Open(h).Check(secret); ok {
		t.Error("a corrupt token file accepts a token")
	}
	if _, err := List(h); bbus.ErrorCode(err) != bbus.EINVALID {
		t.Errorf("List of a corrupt file: %v", err)
	}
}
