package cli

import (
	"encoding/base64"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bbusdev/bbus/keys"
)

const keysSynopsis = `bbus keys add ID --home DIR [--output json]    make a new signing key named ID
bbus keys show ID --home DIR [--output json] [--pub-key]   print its public key (--pub-key: only its base64, for scripts)
bbus keys list --home DIR [--output json]      list the home's keys`

// publicKey is what the keys commands print of a key: never its private part.
type publicKey struct {
	ID     string `json:"id"`
	PubKey []byte `json:"pub_key"`
}

func keysCmd(e *env) *cobra.Command {
	usage := newFlags("keys", keysSynopsis).usage
	var subs []*cobra.Command
	for _, verb := range []string{"add", "show"} {
		f := newFlags("keys "+verb, keysSynopsis)
		home, out := f.homeFlag(), f.outputFlag()
		bare := f.Bool("pub-key", false, "print only the public key in base64 (what cloud invite --pub-key takes)")
		subs = append(subs, f.command(1, func(pos []string) error {
			var k *keys.Key
			var err error
			if verb == "add" {
				k, err = keys.Add(*home, pos[0])
			} else {
				k, err = keys.Load(*home, pos[0])
			}
			if err != nil {
				return err
			}
			pub := publicKey{ID: k.ID, PubKey: k.PubKey}
			if *bare {
				fmt.Fprintln(e.stdout, base64.StdEncoding.EncodeToString(k.PubKey))
				return nil
			}
			if *out == "json" {
				return printJSON(e.stdout, pub)
			}
			if verb == "add" {
				fmt.Fprintf(e.stdout, "added key %s to %s\n", k.ID, keys.Dir(*home))
			}
			return printKeys(e.stdout, []publicKey{pub})
		}))
	}
	f := newFlags("keys list", keysSynopsis)
	home, out := f.homeFlag(), f.outputFlag()
	subs = append(subs, f.command(0, func([]string) error {
		ks, err := keys.List(*home)
		if err != nil {
			return err
		}
		pubs := make([]publicKey, len(ks))
		for i, k := range ks {
			pubs[i] = publicKey{ID: k.ID, PubKey: k.PubKey}
		}
		if *out == "json" {
			return printJSON(e.stdout, pubs)
		}
		if len(pubs) == 0 {
			fmt.Fprintf(e.stdout, "no keys in %s\n", keys.Dir(*home))
			return nil
		}
		return printKeys(e.stdout, pubs)
	}))
	return group("keys", usage, func(words []string) string {
		if len(words) == 0 {
			return "missing subcommand: add, show or list"
		}
		return fmt.Sprintf("unknown subcommand %q: want add, show or list", words[0])
	}, subs...)
}

func printKeys(w io.Writer, ks []publicKey) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPUBLIC KEY (BASE64)")
	for _, k := range ks {
		fmt.Fprintf(tw, "%s\t%s\n", k.ID, base64.StdEncoding.EncodeToString(k.PubKey))
	}
	return tw.Flush()
}
