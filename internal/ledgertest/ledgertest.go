// Package ledgertest runs the real bbus ledger in memory behind the node's
// interface to the REST API (httpapi.Backend), for the tests of httpapi, client
// and cli: each submitted transaction goes through the ledger's admission check
// and is then applied in a block of its own, with a block time that advances by
// a second per block from the wall clock at genesis.
package ledgertest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

// ChainID is the chain id of every Chain.
const ChainID = "bbus-test"

// Capacity is the capacity of every founding cloud.
var Capacity = bbus.Resources{CPU: 1000, MemMiB: 1 << 20, DiskIOPS: 1_000_000, NetMbps: 100_000}

// BlockStep is how far the block time advances from one block to the next.
const BlockStep = time.Second

// Founder is a founding member of a Chain's federation. A nil Key is generated.
type Founder struct {
	ID  string
	Key ed25519.PrivateKey
}

// Founders returns founders with the given ids and generated keys.
func Founders(ids ...string) []Founder {
	out := make([]Founder, len(ids))
	for i, id := range ids {
		out[i] = Founder{ID: id}
	}
	return out
}

// Chain is an in-memory chain of one validator that commits every transaction
// in its own block. It is safe for concurrent use.
type Chain struct {
	l *ledger.Ledger

	mu        sync.RWMutex
	st        *kv.Mem
	last      ledger.Header
	keys      map[string]ed25519.PrivateKey
	founders  []string
	submitted [][]byte
}

// New returns a chain whose genesis names the founders (at least one), each an
// active member with Capacity and validator power 10, at the wall clock's
// current second. It panics if the genesis is not valid.
func New(founders ...Founder) *Chain {
	if len(founders) == 0 {
		founders = Founders("cloud0")
	}
	c := &Chain{l: ledger.New(keys.Verify).WithKeyCheck(keys.CheckPublicKey), st: kv.NewMem(), keys: make(map[string]ed25519.PrivateKey)}
	g := &bbus.Genesis{Params: bbus.DefaultParams()}
	for _, f := range founders {
		if f.Key == nil {
			_, f.Key, _ = ed25519.GenerateKey(rand.Reader)
		}
		valKey, _, _ := ed25519.GenerateKey(rand.Reader)
		c.keys[f.ID] = f.Key
		c.founders = append(c.founders, f.ID)
		g.Clouds = append(g.Clouds, bbus.GenesisCloud{
			ID: f.ID, Name: "Cloud " + f.ID, PubKey: f.Key.Public().(ed25519.PublicKey),
			ValidatorKey: valKey, Power: 10, Capacity: Capacity,
		})
	}
	c.last = ledger.Header{Height: 0, Time: time.Now().UTC().Truncate(time.Second)}
	if err := c.l.InitGenesis(c.st, ChainID, g, c.last.Time); err != nil {
		panic(fmt.Sprintf("ledgertest: genesis: %v", err))
	}
	return c
}

// Key returns the signing key of a founder or of a cloud added with AddKey.
func (c *Chain) Key(id string) ed25519.PrivateKey {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.keys[id]
}

// AddKey makes a new key for id (a cloud that will apply to join), remembers it
// for Sign and returns it.
func (c *Chain) AddKey(id string) ed25519.PrivateKey {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys[id] = k
	return k
}

// Sign returns the signed bytes of action by signer, with the key Key(signer),
// a fresh nonce and an expiry ten minutes past the latest block time.
func (c *Chain) Sign(signer string, action bbus.Action) []byte {
	c.mu.RLock()
	key, now := c.keys[signer], c.last.Time
	c.mu.RUnlock()
	if key == nil {
		panic("ledgertest: no key for " + signer)
	}
	var nonce [8]byte
	rand.Read(nonce[:])
	raw, _, err := bbus.SignTx(&bbus.Body{
		ChainID: ChainID, Signer: signer,
		Nonce:   binary.BigEndian.Uint64(nonce[:]) & (1<<53 - 1),
		Expires: now.Add(10 * time.Minute).Unix(), Action: action,
	}, key)
	if err != nil {
		panic(fmt.Sprintf("ledgertest: sign: %v", err))
	}
	return raw
}

// Do signs action by signer and commits it in a block of its own.
func (c *Chain) Do(signer string, action bbus.Action) ledger.Result {
	return c.Block(c.Sign(signer, action))[0]
}

// Block commits one block holding txs, skipping the admission check, and
// returns each transaction's result.
func (c *Chain) Block(txs ...[]byte) []ledger.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.block(txs)
}

func (c *Chain) block(txs [][]byte) []ledger.Result {
	h := ledger.Header{Height: c.last.Height + 1, Time: c.last.Time.Add(BlockStep)}
	c.l.BeginBlock(c.st, h)
	out := make([]ledger.Result, len(txs))
	for i, raw := range txs {
		out[i] = c.l.Apply(c.st, h, raw)
	}
	c.l.EndBlock(c.st)
	c.last = h
	return out
}

// Advance moves the clock: the next block's time is d plus BlockStep past the
// latest block's.
func (c *Chain) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last.Time = c.last.Time.Add(d)
}

// Last returns the latest block's header (height 0 and the genesis time before
// the first block).
func (c *Chain) Last() ledger.Header {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.last
}

// Submitted returns the raw bytes of every transaction Submit received, in order.
func (c *Chain) Submitted() [][]byte {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([][]byte{}, c.submitted...)
}

// Status implements httpapi.Backend.
func (c *Chain) Status(ctx context.Context) (*bbus.Status, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	st := &bbus.Status{
		ChainID: ChainID, Cloud: c.founders[0], NodeID: "ledgertest", Height: c.last.Height,
		AppHash: c.appHash(), BlockTime: c.last.Time, Validators: []bbus.Validator{},
	}
	clouds, _ := ledger.Clouds(c.st, bbus.Page{Limit: ledger.MaxLimit})
	for _, cl := range clouds {
		if cl.Power > 0 {
			addr := sha256.Sum256(cl.ValidatorKey)
			st.Validators = append(st.Validators, bbus.Validator{
				Address: strings.ToUpper(hex.EncodeToString(addr[:20])), PubKey: cl.ValidatorKey, Power: cl.Power, Cloud: cl.ID,
			})
		}
	}
	return st, nil
}

// appHash digests the whole state: a stand-in for the store's real app hash.
func (c *Chain) appHash() string {
	h := sha256.New()
	c.st.Iterate(nil, nil, func(k, v []byte) bool {
		fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(v), v)
		return true
	})
	return hex.EncodeToString(h.Sum(nil))
}

// Submit implements httpapi.Backend: a transaction the ledger's admission check
// refuses comes back as a *bbus.Error; any other is committed in a block of its
// own (with or without wait).
func (c *Chain) Submit(ctx context.Context, raw []byte, wait bool) (*bbus.TxResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.submitted = append(c.submitted, append([]byte{}, raw...))
	if chk := c.l.Check(c.st, c.last, raw); !chk.OK() {
		return nil, chk.Err()
	}
	hash := sha256.Sum256(raw)
	res := c.block([][]byte{raw})[0]
	out := &bbus.TxResult{TxID: res.TxID, Hash: strings.ToUpper(hex.EncodeToString(hash[:]))}
	if !wait {
		return out, nil
	}
	out.Height, out.Type, out.Signer, out.ID, out.Code, out.Message = c.last.Height, res.Type, res.Signer, res.ID, res.Code, res.Message
	return out, nil
}

// View implements httpapi.Backend.
func (c *Chain) View(fn func(r kv.Reader) error) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return fn(c.st)
}
