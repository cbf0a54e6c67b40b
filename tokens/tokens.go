// Package tokens keeps the bearer tokens of a node's REST API in its home
// (HOME/config/tokens.json): each token's id, scope and the SHA-256 of its
// secret, never the secret itself. The bbus token commands change the file;
// a running node sees the change at its next request.
package tokens

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bbusdev/bbus"
)

// Scopes. A write token may also read.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// secretPrefix starts every secret, so that one is easy to recognise (and to
// find in a leaked file).
const secretPrefix = "bbus_"

// Token is what the home keeps of a token.
type Token struct {
	ID      string    `json:"id"`
	Scope   string    `json:"scope"`
	Name    string    `json:"name,omitempty"`
	Created time.Time `json:"created"`
	Hash    string    `json:"sha256"` // hex SHA-256 of the secret
}

type file struct {
	Tokens []Token `json:"tokens"`
}

// Path returns the file of home that holds its tokens.
func Path(home string) string { return filepath.Join(home, "config", "tokens.json") }

// ValidateScope checks that scope is read or write.
func ValidateScope(scope string) error {
	if scope != ScopeRead && scope != ScopeWrite {
		return bbus.Errorf(bbus.EINVALID, "scope must be %s or %s, not %q", ScopeRead, ScopeWrite, scope)
	}
	return nil
}

// Create makes a token with the given scope and an optional name, records its
// hash in home, and returns the secret: the only time it is known.
func Create(home, scope, name string) (secret string, t Token, err error) {
	if err := ValidateScope(scope); err != nil {
		return "", Token{}, err
	}
	if err := bbus.ValidateText("token name", name, false); err != nil {
		return "", Token{}, err
	}
	f, err := load(home)
	if err != nil {
		return "", Token{}, err
	}
	var raw [32]byte
	var id [6]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", Token{}, err
	}
	if _, err := rand.Read(id[:]); err != nil {
		return "", Token{}, err
	}
	secret = secretPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	t = Token{ID: "tok-" + hex.EncodeToString(id[:]), Scope: scope, Name: name, Created: time.Now().UTC().Truncate(time.Second), Hash: hash(secret)}
	f.Tokens = append(f.Tokens, t)
	return secret, t, save(home, f)
}

// List returns the tokens of home, oldest first.
func List(home string) ([]Token, error) {
	f, err := load(home)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(f.Tokens, func(i, j int) bool { return f.Tokens[i].Created.Before(f.Tokens[j].Created) })
	return f.Tokens, nil
}

// Revoke removes the token with the given id from home. A node refuses it from
// its next request on.
func Revoke(home, id string) error {
	f, err := load(home)
	if err != nil {
		return err
	}
	for i, t := range f.Tokens {
		if t.ID == id {
			f.Tokens = append(f.Tokens[:i], f.Tokens[i+1:]...)
			return save(home, f)
		}
	}
	return bbus.Errorf(bbus.ENOTFOUND, "home %s has no token %q (see: bbus token list --home %s)", home, id, home)
}

func hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func load(home string) (*file, error) {
	b, err := os.ReadFile(Path(home))
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(home, "config")); err != nil {
			return nil, bbus.Errorf(bbus.ENOTFOUND, "%s is not a bbus home (no config folder)", home)
		}
		return &file{Tokens: []Token{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	f := &file{}
	if err := json.Unmarshal(b, f); err != nil {
		return nil, bbus.Errorf(bbus.EINVALID, "token file %s: %v", Path(home), err)
	}
	return f, nil
}

// save replaces the file atomically, so a node never reads half of it.
func save(home string, f *file) error {
	if f.Tokens == nil {
		f.Tokens = []Token{}
	}
	b, _ := json.MarshalIndent(f, "", "  ")
	path := Path(home)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tokens-*.json")
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("tokens: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("tokens: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("tokens: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	// Every save moves the modification time forward, even within the file
	// system's clock tick, so a Set never mistakes a new file for the old one.
	mod := time.Now()
	if old, err := os.Stat(path); err == nil && !mod.After(old.ModTime()) {
		mod = old.ModTime().Add(time.Millisecond)
	}
	if err := os.Chtimes(tmp.Name(), mod, mod); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	return os.Rename(tmp.Name(), path)
}

// Set answers whether a secret is one of a home's tokens. It rereads the file
// when the file changes, so tokens made or revoked while a node runs count
// from the next request. It is safe for concurrent use.
type Set struct {
	home string

	mu     sync.Mutex
	seen   fileStamp
	byHash map[string]Token
}

type fileStamp struct {
	mod  time.Time
	size int64
	ok   bool
}

// Open returns the token set of home.
func Open(home string) *Set { return &Set{home: home, byHash: map[string]Token{}} }

// Check returns the id and scope of the token whose secret is secret.
func (s *Set) Check(secret string) (id, scope string, ok bool) {
	if !strings.HasPrefix(secret, secretPrefix) {
		return "", "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh()
	t, ok := s.byHash[hash(secret)]
	return t.ID, t.Scope, ok
}

// refresh rereads the file if it changed since the last read. A file that
// cannot be read or parsed leaves no token valid: failing closed.
func (s *Set) refresh() {
	var now fileStamp
	if fi, err := os.Stat(Path(s.home)); err == nil {
		now = fileStamp{mod: fi.ModTime(), size: fi.Size(), ok: true}
	}
	if now == s.seen && s.byHash != nil {
		return
	}
	s.seen = now
	s.byHash = map[string]Token{}
	if !now.ok {
		return
	}
	f, err := load(s.home)
	if err != nil {
		s.seen = fileStamp{} // try again next time
		return
	}
	for _, t := range f.Tokens {
		if ValidateScope(t.Scope) == nil {
			s.byHash[t.Hash] = t
		}
	}
}
