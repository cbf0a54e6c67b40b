package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bbusdev/bbus"
)

// Key is a named ed25519 signing key of a cloud or oracle.
type Key struct {
	ID      string             `json:"id"`
	PubKey  []byte             `json:"pub_key"`
	PrivKey ed25519.PrivateKey `json:"priv_key,omitempty"`
}

// Dir returns the folder of a home that holds its signing keys.
func Dir(home string) string { return filepath.Join(home, "keys") }

func path(home, id string) string { return filepath.Join(Dir(home), id+".json") }

// Add makes a new key named id in home and returns it. It fails with EEXISTS if
// the home already holds a key of that name.
func Add(home, id string) (*Key, error) {
	if err := bbus.ValidateID("key", id); err != nil {
		return nil, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	k := &Key{ID: id, PubKey: pub, PrivKey: priv}
	if err := os.MkdirAll(Dir(home), 0o700); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	b, _ := json.MarshalIndent(k, "", "  ")
	f, err := os.OpenFile(path(home, id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, bbus.Errorf(bbus.EEXISTS, "home %s already has a key named %s", home, id)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return nil, fmt.Errorf("keys: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("keys: %w", err)
	}
	return k, f.Close()
}

// Load reads the key named id from home.
func Load(home, id string) (*Key, error) {
	if err := bbus.ValidateID("key", id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path(home, id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "home %s has no key named %s (see: bbus keys list --home %s)", home, id, home)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	var k Key
	if err := json.Unmarshal(b, &k); err != nil || len(k.PrivKey) != ed25519.PrivateKeySize || k.ID != id {
		return nil, bbus.Errorf(bbus.EINVALID, "key file %s is not a bbus key", path(home, id))
	}
	return &k, nil
}

// List returns the public part of every key in home, sorted by name.
func List(home string) ([]Key, error) {
	entries, err := os.ReadDir(Dir(home))
	if errors.Is(err, fs.ErrNotExist) {
		return []Key{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	out := []Key{}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		k, err := Load(home, id)
		if err != nil {
			return nil, err
		}
		out = append(out, Key{ID: k.ID, PubKey: k.PubKey})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
