package cli

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/evidence"
)

const evidenceSynopsis = `bbus evidence export --node URL --vm VM > bundle.json
bbus evidence verify bundle.json --genesis genesis.json [--output json]

export asks a node for the evidence bundle of a VM: every transaction that
touched it with its signed bytes, Merkle proofs of its inclusion and result,
the signed block headers and the validator sets. verify checks a bundle
offline against the chain's genesis document, contacting no node: the clouds'
signatures, the proofs, and commits by more than two thirds of the voting power
of validator sets followed from genesis. It exits 1, naming what broke, if
anything does not verify.`

func evidenceCmd(e *env) *cobra.Command {
	return group("evidence", newFlags("evidence", evidenceSynopsis).usage, func(words []string) string {
		if len(words) == 0 {
			return "missing subcommand: export or verify"
		}
		return fmt.Sprintf("unknown subcommand %q: want export or verify", words[0])
	}, evidenceExportCmd(e), evidenceVerifyCmd(e))
}

func evidenceExportCmd(e *env) *cobra.Command {
	f := newFlags("evidence export", "bbus evidence export --node URL [--token T] (--vm VM | --invoice ID) > bundle.json\n\nPrints the evidence bundle of a VM as JSON.")
	node := f.String("node", DefaultNode, "the URL of the node's API")
	token := f.tokenFlag()
	vm := f.String("vm", "", "the VM whose history to prove")
	invoice := f.String("invoice", "", "the invoice whose lines to prove (not available yet)")
	return f.command(0, func([]string) error {
		switch {
		case *invoice != "":
			return bbus.Errorf(bbus.EINVALID, "evidence of invoices is not exported yet; export the evidence of each VM the invoice bills with --vm")
		case *vm == "":
			return f.fail("flag --vm is required")
		}
		b, err := newClient(*node, *token, 2*time.Minute).Evidence(e.ctx, *vm)
		if err != nil {
			return err
		}
		return printJSON(e.stdout, b)
	})
}

func evidenceVerifyCmd(e *env) *cobra.Command {
	f := newFlags("evidence verify", "bbus evidence verify BUNDLE --genesis FILE [--output json]\n\nChecks a bundle against the chain's genesis document, offline. BUNDLE - reads standard input.")
	genesis := f.String("genesis", "", "the chain's genesis document (a node's HOME/config/genesis.json)")
	out := f.outputFlag()
	return f.command(1, func(pos []string) error {
		var err error
		if err := f.required("genesis"); err != nil {
			return err
		}
		var bundle []byte
		if pos[0] == "-" {
			bundle, err = io.ReadAll(e.stdin)
		} else {
			bundle, err = os.ReadFile(pos[0])
		}
		if err != nil {
			return bbus.Errorf(bbus.EINVALID, "read the bundle: %v", err)
		}
		gen, err := os.ReadFile(*genesis)
		if err != nil {
			return bbus.Errorf(bbus.EINVALID, "read the genesis document: %v", err)
		}
		rep, err := evidence.Verify(bundle, gen)
		if err != nil {
			return bbus.Errorf(bbus.EINVALID, "the bundle does not verify: %v", err)
		}
		if *out == "json" {
			return printJSON(e.stdout, rep)
		}
		return printReport(e.stdout, rep)
	})
}

func printReport(w io.Writer, r *evidence.Report) error {
	fmt.Fprint(w, r.String())
	fmt.Fprint(w, "\ntransactions:\n")
	tw := newTable(w)
	fmt.Fprintln(tw, "  HEIGHT\tTIME\tSIGNER\tWHAT\tTX")
	for _, t := range r.Txs {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", t.Height, fmtTime(t.Time), t.Signer, t.Summary, t.TxID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprint(w, "\nwhere it ran:\n")
	tw = newTable(w)
	fmt.Fprintln(tw, "  CLOUD\tFROM\tUNTIL\tVIA")
	for _, iv := range r.Intervals {
		until := "still there at the last transaction"
		if iv.End != nil {
			until = fmt.Sprintf("%s (height %d)", fmtTime(iv.End.Time), iv.End.Height)
		}
		fmt.Fprintf(tw, "  %s\t%s (height %d)\t%s\t%s\n", iv.Cloud, fmtTime(iv.Start.Time), iv.Start.Height, until, orDash(iv.Migration))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprint(w, "\nsigners:\n")
	tw = newTable(w)
	for _, s := range r.Signers {
		fmt.Fprintf(tw, "  %s\tkey from %s\n", s.Cloud, s.From)
	}
	return tw.Flush()
}
