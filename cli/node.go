package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/node"
)

func initCmd(e *env) *cobra.Command {
	f := newFlags("init", "bbus init --home DIR --cloud ID [--chain-id ID] [--cpu N --mem-mib N --disk-iops N --net-mbps N]\n          [--approval NUM/DEN] [--migration-lapse D] [--tx-ttl D] [--require-agreement] [other genesis parameters]\n          [--round-trip D]\nbbus init --home DIR --cloud ID --genesis FILE --peers NODEID@HOST:PORT,... [--round-trip D]   (a node that joins an existing chain)\n          [--state-sync --trust HEIGHT:HASH --rpc-servers URL,URL]   (joins from a member's snapshot)")
	home := f.homeFlag()
	cloud := f.String("cloud", "", "the id of the cloud this node signs for (a key of that name is created)")
	chainID := f.String("chain-id", "", "the id of the new chain (default bbus-CLOUD)")
	var capacity bbus.Resources
	f.Int64Var(&capacity.CPU, "cpu", 0, "vCPUs the cloud offers the federation (default 256)")
	f.Int64Var(&capacity.MemMiB, "mem-mib", 0, "memory in MiB the cloud offers (default 1048576)")
	f.Int64Var(&capacity.DiskIOPS, "disk-iops", 0, "disk I/O operations per second the cloud offers (default 1000000)")
	f.Int64Var(&capacity.NetMbps, "net-mbps", 0, "network Mbit/s the cloud offers (default 100000)")
	genesis := f.String("genesis", "", "the genesis document of an existing chain to join")
	peers := f.String("peers", "", "with --genesis: the nodes to reach the chain through, NODEID@HOST:PORT,...")
	api := f.String("api", "", "the REST API's listen address (default 127.0.0.1:8080)")
	p2p := f.String("p2p", "", "the consensus peer-to-peer listen address (default tcp://0.0.0.0:26656)")
	stateSync := f.Bool("state-sync", false, "with --genesis: join from a member's state snapshot instead of replaying every block (needs --trust and --rpc-servers)")
	trust := f.String("trust", "", "with --state-sync: a header you trust, HEIGHT:HASH, the trust line of bbus query status on a member")
	rpcServers := f.String("rpc-servers", "", "with --state-sync: members' CometBFT RPC addresses (their rpc_listen), http://HOST:PORT,... (one is listed twice)")
	rtt := f.Duration("round-trip", 0, "the longest round trip between two of the federation's validators (80ms, 200ms): sets this node's consensus timers for it,\ntimeout_commit one round trip and timeout_propose ten (at least 1.5s); under 10ms keeps one machine's (docs/FEDERATION.md, Across regions)")
	gen := defineGenesisFlags(f)
	out := f.outputFlag()
	return f.command(0, func([]string) error {
		if err := f.required("cloud"); err != nil {
			return err
		}
		if (*trust != "" || *rpcServers != "") && !*stateSync {
			return f.fail("--trust and --rpc-servers go with --state-sync")
		}
		if *stateSync && (*genesis == "" || *trust == "" || *rpcServers == "") {
			return f.fail("--state-sync needs --genesis, --trust HEIGHT:HASH and --rpc-servers URL,...")
		}
		if *rtt < 0 || *rtt > maxRoundTrip {
			return f.fail("--round-trip must be from 0 to %s, not %s", maxRoundTrip, *rtt)
		}
		if *peers != "" && *genesis == "" {
			return f.fail("--peers needs --genesis")
		}
		var params *bbus.Params
		if name := gen.given(); name != "" {
			if *genesis != "" {
				return f.fail("--%s sets a new chain's parameters; with --genesis the chain's are in its genesis", name)
			}
			var err error
			if params, err = gen.params(); err != nil {
				return err
			}
		}
		c := node.DefaultConfig(*cloud)
		if *api != "" {
			c.API = *api
		}
		if *p2p != "" {
			c.P2PListen = *p2p
		}
		if *stateSync {
			h, hash, err := node.ParseTrust(*trust)
			if err != nil {
				return err
			}
			servers := strings.Split(*rpcServers, ",")
			if len(servers) == 1 {
				servers = append(servers, servers[0])
			}
			c.StateSync = node.StateSyncConfig{Enable: true, RPCServers: servers, TrustHeight: h, TrustHash: hash, TrustPeriod: c.StateSync.TrustPeriod}
			if err := c.Validate(); err != nil {
				return err
			}
		}
		c = c.ForRoundTrip(*rtt)
		id, err := node.Init(node.InitOptions{Home: *home, Cloud: *cloud, ChainID: *chainID, Capacity: capacity,
			Genesis: *genesis, Peers: *peers, Config: &c, Params: params})
		if err != nil {
			return err
		}
		if *out == "json" {
			return printJSON(e.stdout, map[string]any{"home": *home, "cloud": *cloud, "pub_key": id.Cloud.PubKey,
				"validator_pub_key": id.ValidatorKey, "node_id": id.NodeID, "genesis": node.GenesisPath(*home)})
		}
		if err := fields(e.stdout, "home", *home, "cloud", *cloud, "node id", id.NodeID,
			"cloud key", base64.StdEncoding.EncodeToString(id.Cloud.PubKey), "validator key", base64.StdEncoding.EncodeToString(id.ValidatorKey),
			"genesis", node.GenesisPath(*home)); err != nil {
			return err
		}
		if *genesis != "" {
			fmt.Fprintf(e.stdout, "\nstart the node (bbus start --home %s), then apply to join with its validator key:\n"+
				"  bbus tx --home %s --node URL --from %s cloud join --name NAME --cpu N --mem-mib N --disk-iops N --net-mbps N --validator\n",
				*home, *home, *cloud)
		}
		return nil
	})
}

// maxRoundTrip is the longest round trip bbus init takes: ten of them make
// timeout_propose, how long the chain waits for a proposer that is down.
const maxRoundTrip = 5 * time.Second

func startCmd(e *env) *cobra.Command {
	f := newFlags("start", "bbus start --home DIR [--api 127.0.0.1:8080] [--p2p tcp://0.0.0.0:26656]\n(an empty or missing home is first initialised as a single-cloud federation of cloud \"local\")")
	home := f.homeFlag()
	api := f.String("api", "", "the REST API's listen address (default: the home's, 127.0.0.1:8080)")
	p2p := f.String("p2p", "", "with an empty home: the consensus peer-to-peer listen address it is initialised with (default tcp://0.0.0.0:26656)")
	out := f.outputFlag()
	return f.command(0, func([]string) error {
		// The node's logs come from many goroutines; with this command's own
		// lines they go through one lock, whatever stderr is.
		stderr := &lockedWriter{w: e.stderr}
		fresh, existed := false, false
		if !node.Initialized(*home) {
			entries, err := os.ReadDir(*home)
			existed = !errors.Is(err, fs.ErrNotExist)
			switch {
			case err != nil && existed:
				// A file, or a folder it may not read: never one to make a home in, or remove.
				return bbus.Errorf(bbus.EINVALID, "%s is not a folder bbus can make a home in: %v", *home, err)
			case len(entries) > 0:
				return bbus.Errorf(bbus.EINVALID, "%s is neither empty nor a bbus home; give an empty folder or run bbus init", *home)
			}
			c := node.DefaultConfig("local")
			if *p2p != "" {
				c.P2PListen = *p2p
			}
			fresh = true
			if _, err := node.Init(node.InitOptions{Home: *home, Cloud: "local", ChainID: "bbus-local", Config: &c, Out: stderr}); err != nil {
				forgetHome(*home, existed)
				return err
			}
		} else if *p2p != "" {
			return f.fail("--p2p only applies to an empty home; %s is initialised (its p2p_listen is in config/bbus.json)", *home)
		}
		ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		served := false
		err := node.Run(ctx, *home, *api, stderr, func(n *node.Node) {
			served = true
			st, err := n.Status(context.Background())
			chain, nodeID := "", ""
			if err == nil {
				chain, nodeID = st.ChainID, st.NodeID
			}
			if *out == "json" {
				// One line on stdout once the node serves, for a script to wait on.
				printJSONLine(e.stdout, map[string]string{"cloud": n.Config.Cloud, "chain_id": chain, "node_id": nodeID,
					"api": "http://" + n.APIAddr(), "version": bbus.Version})
				return
			}
			fmt.Fprintf(stderr, "bbus: cloud %s on chain %s; REST API on http://%s (Ctrl-C stops)\n", n.Config.Cloud, chain, n.APIAddr())
		})
		if err != nil && fresh && !served {
			// The home this run made never served: leave none half-made, so
			// that a retry (with another --p2p or --api) starts afresh.
			forgetHome(*home, existed)
			fmt.Fprintf(stderr, "bbus: removed the home %s this start had made\n", *home)
		}
		return err
	})
}

// forgetHome removes what a first start made in home: the folder itself if it
// did not exist before, or else everything in it (it was empty).
func forgetHome(home string, existed bool) {
	if !existed {
		os.RemoveAll(home)
		return
	}
	entries, _ := os.ReadDir(home)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(home, e.Name()))
	}
}

func testnetCmd(e *env) *cobra.Command {
	f := newFlags("testnet", "bbus testnet --validators N --out DIR [--chain-id ID] [--p2p-port 26656] [--api-port 8080]")
	n := f.Int("validators", 4, "how many validators (clouds cloud0, cloud1, ...)")
	out := f.String("out", "", "the folder to write the homes node0, node1, ... into")
	chainID := f.String("chain-id", "bbus-testnet", "the chain's id")
	p2p := f.Int("p2p-port", 26656, "node K listens for peers on this port + K")
	api := f.Int("api-port", 8080, "node K serves the REST API on this port + K")
	output := f.outputFlag()
	return f.command(0, func([]string) error {
		if err := f.required("out"); err != nil {
			return err
		}
		var progress io.Writer = e.stdout
		if *output == "json" {
			progress = io.Discard
		}
		homes, err := node.Testnet(node.TestnetOptions{Validators: *n, Out: *out, ChainID: *chainID, P2PPort: *p2p, APIPort: *api, Progress: progress})
		if err != nil || *output != "json" {
			return err
		}
		type home struct {
			Home   string `json:"home"`
			Cloud  string `json:"cloud"`
			NodeID string `json:"node_id"`
			P2P    string `json:"p2p_listen"`
			API    string `json:"api"`
		}
		list := []home{}
		for _, h := range homes {
			c, err := node.LoadConfig(h)
			if err != nil {
				return err
			}
			id, err := node.NodeID(h)
			if err != nil {
				return err
			}
			list = append(list, home{Home: h, Cloud: c.Cloud, NodeID: id, P2P: c.P2PListen, API: c.API})
		}
		return printJSON(e.stdout, map[string]any{"chain_id": *chainID, "homes": list})
	})
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
