package node

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
)

// DefaultCapacity is what a cloud declares when its operator names no capacity.
var DefaultCapacity = bbus.Resources{CPU: 256, MemMiB: 1 << 20, DiskIOPS: 1_000_000, NetMbps: 100_000}

// DefaultPower is a founding cloud's voting power.
const DefaultPower = 10

// InitOptions says what home to create.
type InitOptions struct {
	Home     string
	Cloud    string
	ChainID  string         // a new chain's id; default "bbus-" + cloud
	Capacity bbus.Resources // zero: DefaultCapacity
	Params   *bbus.Params   // a new chain's parameters; nil: bbus.DefaultParams()
	// Genesis, if set, is the genesis document of an existing chain to join as
	// a full node; Peers are the nodes to reach it through.
	Genesis string
	Peers   string
	Config  *Config // nil: DefaultConfig(Cloud)
	Out     io.Writer
}

// Identity is what a new home holds: its cloud's signing key, and its node's
// validator and p2p identities.
type Identity struct {
	Cloud        *keys.Key
	ValidatorKey []byte
	NodeID       string
}

// Init creates a home: configuration, keys and, unless it joins an existing
// chain, the genesis of a new single-cloud federation.
func Init(o InitOptions) (*Identity, error) {
	if err := bbus.ValidateID("cloud", o.Cloud); err != nil {
		return nil, err
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Params != nil {
		if err := o.Params.Validate(); err != nil {
			return nil, err
		}
	}
	id, err := prepareHome(o.Home, o.Cloud, o.Config)
	if err != nil {
		return nil, err
	}
	if o.Genesis != "" {
		b, err := os.ReadFile(o.Genesis)
		if err != nil {
			return nil, fileError(err, "read genesis")
		}
		doc, err := cmttypes.GenesisDocFromJSON(b)
		if err != nil {
			return nil, bbus.Errorf(bbus.EINVALID, "genesis %s: %v", o.Genesis, err)
		}
		if err := checkGenesisPBTS(doc); err != nil {
			return nil, bbus.Errorf(bbus.EINVALID, "genesis %s: %v", o.Genesis, err)
		}
		if err := writeFileSync(genesisPath(o.Home), b, 0o644); err != nil {
			return nil, err
		}
		if o.Peers != "" {
			c, _ := LoadConfig(o.Home)
			c.PersistentPeers = o.Peers
			// Peers all on this machine: a testnet on the loopback interface.
			c.Loopback = c.Loopback || loopbackPeers(o.Peers)
			if err := c.Save(o.Home); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(o.Out, "initialised %s: cloud %s joins the chain of %s as a full node (node id %s)\n", o.Home, o.Cloud, o.Genesis, id.NodeID)
		return id, nil
	}
	capacity := o.Capacity
	if capacity.IsZero() {
		capacity = DefaultCapacity
	}
	if err := capacity.Validate("capacity", false); err != nil {
		return nil, err
	}
	chainID := o.ChainID
	if chainID == "" {
		chainID = "bbus-" + o.Cloud
	}
	c, err := LoadConfig(o.Home)
	if err != nil {
		return nil, err
	}
	params := bbus.DefaultParams()
	if o.Params != nil {
		params = *o.Params
	}
	doc, err := NewGenesis(chainID, time.Now(), params, []bbus.GenesisCloud{{
		ID: o.Cloud, Name: o.Cloud, PubKey: id.Cloud.PubKey, ValidatorKey: id.ValidatorKey,
		Power: DefaultPower, Capacity: capacity, NodeID: id.NodeID, P2PAddress: PublicP2PAddress(c),
	}})
	if err != nil {
		return nil, err
	}
	if err := doc.SaveAs(genesisPath(o.Home)); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Out, "initialised %s: chain %s with founding cloud %s (node id %s)\n", o.Home, chainID, o.Cloud, id.NodeID)
	return id, nil
}

// prepareHome creates a home's folders, configuration and keys.
func prepareHome(home, cloud string, c *Config) (*Identity, error) {
	if home == "" {
		return nil, bbus.Errorf(bbus.EINVALID, "no home folder given")
	}
	if Initialized(home) {
		return nil, bbus.Errorf(bbus.EEXISTS, "%s is already a bbus home", home)
	}
	if c != nil {
		// Checked before anything is made: a wrong setting leaves no half-made home.
		cc := *c
		cc.Cloud = cloud
		if err := cc.Validate(); err != nil {
			return nil, err
		}
	}
	for _, d := range []string{"config", "data"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			return nil, homeError(home, err)
		}
	}
	cc := cometPaths(home)
	nodeKey, err := p2p.LoadOrGenNodeKey(cc.NodeKeyFile())
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	pv, err := privval.LoadOrGenFilePV(cc.PrivValidatorKeyFile(), cc.PrivValidatorStateFile(), nil)
	if err != nil {
		return nil, fmt.Errorf("validator key: %w", err)
	}
	ck, err := keys.Load(home, cloud)
	if err != nil {
		if ck, err = keys.Add(home, cloud); err != nil {
			return nil, err
		}
	}
	if c == nil {
		d := DefaultConfig(cloud)
		c = &d
	}
	c.Cloud = cloud
	if err := c.Save(home); err != nil {
		return nil, err
	}
	return &Identity{Cloud: ck, ValidatorKey: pv.Key.PubKey.Bytes(), NodeID: string(nodeKey.ID())}, nil
}

// cometPaths returns a CometBFT config rooted at home, for its file paths.
func cometPaths(home string) *cmtcfg.Config {
	c := cmtcfg.DefaultConfig()
	c.SetRoot(home)
	return c
}

// NewGenesis builds the genesis document of a federation founded by clouds.
func NewGenesis(chainID string, t time.Time, params bbus.Params, clouds []bbus.GenesisCloud) (*cmttypes.GenesisDoc, error) {
	app, err := json.Marshal(&bbus.Genesis{Params: params, Clouds: clouds})
	if err != nil {
		return nil, err
	}
	doc := &cmttypes.GenesisDoc{
		ChainID:         chainID,
		GenesisTime:     t.UTC().Round(0),
		InitialHeight:   1,
		ConsensusParams: ConsensusParams(1),
		AppState:        app,
	}
	for _, c := range clouds {
		if c.Power == 0 {
			continue
		}
		pk := cmted25519PubKey(c.ValidatorKey)
		doc.Validators = append(doc.Validators, cmttypes.GenesisValidator{
			Address: pk.Address(), PubKey: pk, Power: c.Power, Name: c.ID,
		})
	}
	if err := doc.ValidateAndComplete(); err != nil {
		return nil, bbus.Errorf(bbus.EINVALID, "genesis: %v", err)
	}
	return doc, nil
}

// loopbackPeers reports whether every peer of a NODEID@HOST:PORT list is on
// this machine's loopback interface.
func loopbackPeers(peers string) bool {
	for _, p := range strings.Split(peers, ",") {
		_, hostport, _ := strings.Cut(strings.TrimSpace(p), "@")
		host, _, err := net.SplitHostPort(hostport)
		if err != nil {
			return false
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return false
		}
	}
	return true
}
