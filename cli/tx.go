package cli

import (
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
	"github.com/bbusdev/bbus/keys"
)

const txSynopsis = `bbus tx --home DIR --node URL --from ID [--chain-id ID] [--sign-only] [--output json] <action>`

// txAction is one action of bbus tx: its words, its positional arguments and
// its flags.
type txAction struct {
	words    string // "migration propose"
	args     string // "VM", for the synopsis
	flags    string // the action's flags, for the synopsis
	nargs    int
	about    string
	required []string
	// define adds the action's flags to f and returns how to build the action
	// from the positional arguments and the signer's key.
	define func(f *flags) func(pos []string, k *keys.Key) (bbus.Action, error)
}

var txActions = []txAction{
	{
		words: "cloud invite", args: "CLOUD", nargs: 1, flags: "--pub-key BASE64 [--validator-key BASE64] [--node-id HEX]", required: []string{"pub-key"},
		about: "invite an applicant: only the key --pub-key may then apply as CLOUD (this counts as cloud --from's vote to admit it)",
		define: func(f *flags) func([]string, *keys.Key) (bbus.Action, error) {
			pub := f.String("pub-key", "", "base64 ed25519 public key the applicant will sign with (bbus keys show) (required)")
			valKey := f.String("validator-key", "", "base64 ed25519 public key of the applicant's validator node, if it must name that one")
			nodeID := f.String("node-id", "", "the applicant's node id (40 hex digits, its bbus init prints it): that node may then connect and sync before the vote")
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				a := &bbus.CloudInvite{Cloud: pos[0], NodeID: *nodeID}
				err := firstErr(
					func() (err error) { a.PubKey, err = keyFlag(f, "pub-key", *pub); return },
					func() (err error) { a.ValidatorKey, err = keyFlag(f, "validator-key", *valKey); return })
				return bbus.Action{CloudInvite: a}, err
			}
		},
	},
	{
		words: "cloud join", flags: "--name NAME --cpu N --mem-mib N --disk-iops N --net-mbps N [--api URL] [--validator | --validator-key BASE64] [--node-id HEX] [--p2p-address HOST:PORT]",
		about: "apply to join the federation as cloud --from, with the key of that name in --home", required: []string{"name"},
		define: func(f *flags) func([]string, *keys.Key) (bbus.Action, error) {
			name := f.String("name", "", "the cloud's name (required)")
			api := f.String("api", "", "the URL of the cloud's bbus API")
			valKey := f.String("validator-key", "", "base64 ed25519 public key of the cloud's validator node, to make it a validator once admitted")
			validator := f.Bool("validator", false, "name the validator key of the node of --home (config/priv_validator_key.json), to make it a validator once admitted")
			nodeID := f.String("node-id", "", "the cloud's node id (default: the node of --home's, from config/node_key.json, if that node is cloud --from's)")
			p2pAddr := f.String("p2p-address", "", "HOST:PORT where the members' nodes reach the cloud's node (default: the external or listen address of the node of --home)")
			res := resourceFlags(f, "capacity")
			return func(_ []string, k *keys.Key) (bbus.Action, error) {
				join := &bbus.CloudJoin{Name: *name, PubKey: k.PubKey, API: *api, Resources: *res, NodeID: *nodeID, P2PAddress: *p2pAddr}
				if join.NodeID == "" {
					join.NodeID = homeNodeID(f) // none if the home's node is not cloud --from's
				}
				if join.P2PAddress == "" {
					join.P2PAddress = homeP2PAddress(f)
				}
				if *validator {
					if *valKey != "" {
						return bbus.Action{}, f.fail("give --validator or --validator-key, not both")
					}
					b, err := validatorKeyOf(f)
					if err != nil {
						return bbus.Action{}, err
					}
					join.ValidatorKey = b
				}
				if *valKey != "" {
					b, err := base64.StdEncoding.DecodeString(*valKey)
					if err != nil {
						return bbus.Action{}, f.fail("--validator-key is not base64: %v", err)
					}
					join.ValidatorKey = b
				}
				return bbus.Action{CloudJoin: join}, nil
			}
		},
	},
	{
		words: "cloud approve", args: "CLOUD", nargs: 1, flags: "[--pub-key BASE64]",
		about: "vote to admit an applicant cloud, with the key it applied with (read from --node unless --pub-key)",
		define: func(f *flags) func([]string, *keys.Key) (bbus.Action, error) {
			pub := f.String("pub-key", "", "base64 key the vote is for (default: the key the pending cloud applied with, read from --node)")
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				k, err := keyFlag(f, "pub-key", *pub)
				return bbus.Action{CloudApprove: &bbus.CloudApprove{Cloud: pos[0], PubKey: k}}, err
			}
		},
	},
	{
		words: "cloud remove", args: "CLOUD", nargs: 1, about: "vote to remove a member cloud",
		define: func(*flags) func([]string, *keys.Key) (bbus.Action, error) {
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				return bbus.Action{CloudRemove: &bbus.CloudRef{Cloud: pos[0]}}, nil
			}
		},
	},
	{
		words: "vm register", args: "VM", nargs: 1, flags: "--cpu N --mem-mib N --disk-iops N --net-mbps N [--image sha256:HEX]",
		about: "record a new VM that cloud --from owns and hosts", required: []string{"cpu", "mem-mib"},
		define: func(f *flags) func([]string, *keys.Key) (bbus.Action, error) {
			image := f.String("image", "", "the VM image's digest: sha256:<64 hex digits>")
			res := resourceFlags(f, "VM")
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				return bbus.Action{VMRegister: &bbus.VMRegister{VM: pos[0], Image: *image, Resources: *res}}, nil
			}
		},
	},
	{
		words: "vm terminate", args: "VM", nargs: 1, about: "record that a VM of cloud --from stopped for good",
		define: func(*flags) func([]string, *keys.Key) (bbus.Action, error) {
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				return bbus.Action{VMTerminate: &bbus.VMRef{VM: pos[0]}}, nil
			}
		},
	},
	{
		words: "migration propose", args: "VM", nargs: 1, flags: "--to CLOUD [--agreement ID]",
		about: "propose to send a VM that cloud --from hosts to another cloud; prints the migration id", required: []string{"to"},
		define: func(f *flags) func([]string, *keys.Key) (bbus.Action, error) {
			to := f.String("to", "", "the destination cloud (required)")
			agreement := f.String("agreement", "", "the agreement the VM will run under at the destination")
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				return bbus.Action{MigrationPropose: &bbus.Propose{VM: pos[0], To: *to, Agreement: *agreement}}, nil
			}
		},
	},
	migrationStep("accept", "accept a migration proposed to cloud --from, reserving its capacity",
		func(r *bbus.MigrationRef) bbus.Action { return bbus.Action{MigrationAccept: r} }),
	migrationStep("complete", "record that the VM of an accepted migration now runs at cloud --from",
		func(r *bbus.MigrationRef) bbus.Action { return bbus.Action{MigrationComplete: r} }),
	migrationStep("reject", "refuse a migration proposed to cloud --from",
		func(r *bbus.MigrationRef) bbus.Action { return bbus.Action{MigrationReject: r} }),
	migrationStep("cancel", "withdraw a migration cloud --from proposed",
		func(r *bbus.MigrationRef) bbus.Action { return bbus.Action{MigrationCancel: r} }),
}

func migrationStep(verb, about string, action func(*bbus.MigrationRef) bbus.Action) txAction {
	return txAction{
		words: "migration " + verb, args: "MIGRATION", nargs: 1, about: about,
		define: func(*flags) func([]string, *keys.Key) (bbus.Action, error) {
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				return action(&bbus.MigrationRef{Migration: pos[0]}), nil
			}
		},
	}
}

// resourceFlags defines --cpu, --mem-mib, --disk-iops and --net-mbps.
func resourceFlags(f *flags, of string) *bbus.Resources {
	r := new(bbus.Resources)
	f.Int64Var(&r.CPU, "cpu", 0, "virtual CPUs of the "+of)
	f.Int64Var(&r.MemMiB, "mem-mib", 0, "memory of the "+of+" in MiB")
	f.Int64Var(&r.DiskIOPS, "disk-iops", 0, "disk I/O operations per second of the "+of)
	f.Int64Var(&r.NetMbps, "net-mbps", 0, "network bandwidth of the "+of+" in Mbit/s")
	return r
}

// line is the action's synopsis line.
func (a *txAction) line() string {
	return strings.Join(slices.DeleteFunc([]string{"bbus tx", a.words, a.args, a.flags}, func(s string) bool { return s == "" }), " ")
}

func (a *txAction) synopsis() string { return a.line() + "\n      " + a.about }

// txUsage lists every action.
func txUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString(txSynopsis + "\n\nSigns the action with the key --from in --home, submits it to --node, waits for its\ncommit and prints the result. --sign-only prints the signed transaction (what\nPOST /v1/txs takes) and submits nothing.\n\nActions:\n")
	for i := range txActions {
		b.WriteString("  " + txActions[i].synopsis() + "\n")
	}
	b.WriteString("\nRun bbus tx <action> -h for an action's flags.")
	newFlags("tx", b.String()).usage(w)
}

func txCmd(e *env) *cobra.Command {
	groups := map[string][]*cobra.Command{}
	var order []string
	var leaves []*cobra.Command
	for i := range txActions {
		c := txActionCmd(e, &txActions[i])
		if first, _, two := strings.Cut(txActions[i].words, " "); two {
			if groups[first] == nil {
				order = append(order, first)
			}
			groups[first] = append(groups[first], c)
		} else {
			leaves = append(leaves, c)
		}
	}
	for _, first := range order {
		leaves = append(leaves, group(first, txUsage, func(words []string) string {
			return fmt.Sprintf("unknown action %q", strings.Join(append([]string{first}, words[:min(1, len(words))]...), " "))
		}, groups[first]...))
	}
	return group("tx", txUsage, func(words []string) string {
		if len(words) == 0 {
			return "missing action"
		}
		return fmt.Sprintf("unknown action %q", strings.Join(words[:min(2, len(words))], " "))
	}, leaves...)
}

// txActionCmd returns the command of one action.
func txActionCmd(e *env, a *txAction) *cobra.Command {
	f := newFlags("tx "+a.words, a.line()+"\n\n"+strings.ToUpper(a.about[:1])+a.about[1:]+".\n\nEvery action also takes:\n  "+txSynopsis)
	home := f.homeFlag()
	node := f.String("node", DefaultNode, "the URL of the node's API")
	token := f.tokenFlag()
	from := f.String("from", "", "the signer: the name of a key in --home (required)")
	chainID := f.String("chain-id", "", "the chain to sign for (default: the chain of --node)")
	signOnly := f.Bool("sign-only", false, "print the signed transaction and submit nothing")
	out := f.outputFlag()
	build := a.define(f)
	return f.command(a.nargs, func(pos []string) error {
		if err := f.required(append([]string{"from"}, a.required...)...); err != nil {
			return err
		}
		key, err := keys.Load(*home, *from)
		if err != nil {
			return err
		}
		action, err := build(pos, key)
		if err != nil {
			return err
		}
		c := newClient(*node, *token, 2*time.Minute)
		if err := applicantKey(e.ctx, c, &action); err != nil {
			return err
		}
		if err := observerNode(e.ctx, c, &action); err != nil {
			return err
		}
		if *chainID == "" {
			st, err := c.Status(e.ctx)
			if err != nil {
				return bbus.Errorf(bbus.ErrorCode(err), "getting the chain id (or give --chain-id): %s", bbus.ErrorMessage(err))
			}
			*chainID = st.ChainID
		}
		raw, _, err := client.Signer{ChainID: *chainID, ID: *from, Key: key.PrivKey}.Sign(action)
		if err != nil {
			return err
		}
		if *signOnly {
			// Exactly the bytes: a trailing newline would make them non-canonical.
			if _, err := e.stdout.Write(raw); err != nil {
				return err
			}
			if isTerminal(e.stdout) {
				fmt.Fprintln(e.stdout)
			}
			return nil
		}
		res, err := c.Submit(e.ctx, raw, true)
		if res != nil && *out == "json" {
			if perr := printJSON(e.stdout, res); perr != nil && err == nil {
				err = perr
			}
		} else if err == nil {
			printTxResult(e.stdout, res)
			voteTally(e, c, &action)
		}
		return err
	})
}

func printTxResult(w io.Writer, res *bbus.TxResult) {
	what := res.Type
	if res.ID != "" {
		what += " " + res.ID
	}
	fmt.Fprintf(w, "committed %s at height %d (tx %s)\n", what, res.Height, res.TxID)
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
