package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/chain"
	"github.com/bbusdev/bbus/client"
	"github.com/bbusdev/bbus/keys"
	"github.com/bbusdev/bbus/ledger"
	"github.com/bbusdev/bbus/node"
)

// The federation's nodes: what a cloud publishes of its node (node id, peer
// address), observers, and the members' nodes' health.

func init() {
	txActions = append(txActions, nodeActions...)
	queryCmds = append(queryCmds, nodeQueries...)
}

var nodeActions = []txAction{
	{
		words: "cloud update", flags: "[--p2p-address HOST:PORT]",
		about: "publish the new peer address of cloud --from's node: every member's node dials it from then on (default: the address the node of --home is configured with)",
		define: func(f *flags) func([]string, *keys.Key) (bbus.Action, error) {
			addr := f.String("p2p-address", "", "HOST:PORT where other nodes reach this cloud's node (default: the external or listen address of the node of --home)")
			return func(_ []string, _ *keys.Key) (bbus.Action, error) {
				a := &bbus.CloudUpdate{P2PAddress: *addr}
				if a.P2PAddress == "" {
					a.P2PAddress = homeP2PAddress(f)
					if a.P2PAddress == "" {
						return bbus.Action{}, f.fail("--p2p-address is required: the node of --home listens on no address others can dial (set external_address in its config/bbus.json, or give --p2p-address)")
					}
				}
				return bbus.Action{CloudUpdate: a}, nil
			}
		},
	},
	{
		words: "observer invite", args: "ID", nargs: 1, flags: "--node-id HEX", required: []string{"node-id"},
		about: "propose a read-only node (an auditor's, say) that may sync every block once the members approve it (this counts as cloud --from's vote)",
		define: func(f *flags) func([]string, *keys.Key) (bbus.Action, error) {
			id := f.String("node-id", "", "the observer's node id: 40 hex digits, as its bbus status or node_key.json says (required)")
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				return bbus.Action{ObserverInvite: &bbus.ObserverInvite{Observer: pos[0], NodeID: *id}}, nil
			}
		},
	},
	{
		words: "observer approve", args: "ID", nargs: 1, flags: "[--node-id HEX]",
		about: "vote to admit a pending observer, for the node id it was invited with (read from --node unless --node-id)",
		define: func(f *flags) func([]string, *keys.Key) (bbus.Action, error) {
			id := f.String("node-id", "", "the node id the vote is for (default: the one the observer was invited with, read from --node)")
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				return bbus.Action{ObserverApprove: &bbus.ObserverApprove{Observer: pos[0], NodeID: *id}}, nil
			}
		},
	},
	{
		words: "observer remove", args: "ID", nargs: 1, about: "vote to remove an observer: once removed, the members' nodes disconnect it",
		define: func(*flags) func([]string, *keys.Key) (bbus.Action, error) {
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				return bbus.Action{ObserverRemove: &bbus.ObserverRef{Observer: pos[0]}}, nil
			}
		},
	},
}

// homeNode returns the config of the node of the command's --home if that
// node is cloud --from's (its config names that cloud), or nil: a home that
// holds other clouds' keys does not run their nodes.
func homeNode(f *flags) *node.Config {
	home, from := f.Lookup("home"), f.Lookup("from")
	if home == nil || from == nil {
		return nil
	}
	c, err := node.LoadConfig(home.Value.String())
	if err != nil || c.Cloud != from.Value.String() {
		return nil
	}
	return c
}

// homeP2PAddress returns the peer address the node of the command's --home
// publishes (node.PublicP2PAddress) if it is cloud --from's node, or "".
func homeP2PAddress(f *flags) string {
	if c := homeNode(f); c != nil {
		return node.PublicP2PAddress(c)
	}
	return ""
}

// homeNodeID returns the node id of the node of the command's --home if it
// is cloud --from's node, or "".
func homeNodeID(f *flags) string {
	if homeNode(f) == nil {
		return ""
	}
	id, _ := node.NodeID(f.Lookup("home").Value.String())
	return id
}

// observerNode fills in the node id a vote to approve an observer is for.
func observerNode(ctx context.Context, c *client.Client, a *bbus.Action) error {
	if a.ObserverApprove == nil || a.ObserverApprove.NodeID != "" {
		return nil
	}
	o, err := c.Observer(ctx, a.ObserverApprove.Observer)
	if err != nil {
		return bbus.Errorf(bbus.ErrorCode(err), "reading the observer's node id (or give --node-id): %s", bbus.ErrorMessage(err))
	}
	a.ObserverApprove.NodeID = o.NodeID
	return nil
}

var nodeQueries = []queryCmd{
	{name: "nodes", about: "every member's node as this node sees it: node id, connected, last block its validator signed, version",
		define: func(*flags) func(*query, []string) error {
			return func(q *query, _ []string) error {
				ns, err := q.c.Nodes(q.e.ctx)
				return q.print(ns, err, func() error { return printNodes(q.e.stdout, ns) })
			}
		}},
	{name: "observers", about: "the observers: read-only nodes the members voted on",
		define: func(*flags) func(*query, []string) error {
			return func(q *query, _ []string) error {
				os, _, err := q.c.Observers(q.e.ctx, bbus.Page{Limit: ledger.MaxLimit})
				return q.print(os, err, func() error {
					tw := newTable(q.e.stdout)
					fmt.Fprintln(tw, "OBSERVER\tSTATUS\tNODE ID\tAPPROVALS\tREMOVALS")
					for _, o := range os {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", o.ID, o.Status, o.NodeID, len(o.Approvals), len(o.Removals))
					}
					return tw.Flush()
				})
			}
		}},
}

func printNodes(w io.Writer, ns []bbus.NodeHealth) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "CLOUD\tNODE ID\tP2P ADDRESS\tCONNECTED\tLAST SIGNED\tVERSION")
	up := 0
	for _, n := range ns {
		conn := "no"
		switch {
		case n.Self:
			conn = "self"
		case n.Connected:
			conn = "yes"
		}
		if n.Connected {
			up++
		}
		signed := "-"
		if n.Validator {
			signed = fmt.Sprint(n.LastSignedHeight)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Cloud, orDash(n.NodeID), orDash(n.P2PAddress), conn, signed, orDash(n.Version))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d of %d members' nodes connected\n", up, len(ns))
	return nil
}

// versionInfo is what bbus version prints.
type versionInfo struct {
	Version    string `json:"version"`
	AppVersion uint64 `json:"app_version"` // the ledger rules' version (chain.AppVersion)
}

func versionCmd(e *env) *cobra.Command {
	f := newFlags("version", "bbus version [--output json]\n\nPrints the version of bbus and of the ledger's rules it applies.")
	out := f.outputFlag()
	return f.command(0, func([]string) error {
		v := versionInfo{Version: bbus.Version, AppVersion: chain.AppVersion}
		if *out == "json" {
			return printJSON(e.stdout, v)
		}
		_, err := fmt.Fprintf(e.stdout, "bbus %s (ledger rules version %d)\n", v.Version, v.AppVersion)
		return err
	})
}

// voteTally prints, after a vote to admit a cloud, how many votes the
// applicant has and how many it needs. It prints nothing if it cannot tell.
func voteTally(e *env, c *client.Client, a *bbus.Action) {
	if a.CloudApprove == nil {
		return
	}
	st, err := c.Status(e.ctx)
	if err != nil || st.Params == nil {
		return
	}
	cl, err := c.Cloud(e.ctx, a.CloudApprove.Cloud)
	if err != nil {
		return
	}
	if cl.Status == bbus.CloudActive {
		fmt.Fprintf(e.stdout, "%s is admitted, with %d votes\n", cl.ID, len(cl.Approvals))
		return
	}
	var active int64
	for p := (bbus.Page{Limit: ledger.MaxLimit}); ; {
		cs, next, err := c.Clouds(e.ctx, p)
		if err != nil {
			return
		}
		for _, m := range cs {
			if m.Status == bbus.CloudActive {
				active++
			}
		}
		if next == "" {
			break
		}
		p.After = next
	}
	pr := st.Params
	needed := pr.ApprovalNum*active/pr.ApprovalDen + 1 // the fewest votes v with v*den > num*active
	fmt.Fprintf(e.stdout, "%s has %d of the %d votes it needs (more than %d/%d of %d active members)\n",
		cl.ID, len(cl.Approvals), needed, pr.ApprovalNum, pr.ApprovalDen, active)
}
