package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/evidence"
)

const evidenceSynopsis = `bbus evidence export --node URL (--vm VM | --agreement ID | --invoice ID | --violation ID) [--trust HEIGHT[:HASH]] > bundle.json
bbus evidence verify bundle.json --genesis genesis.json [--trust HEIGHT:HASH] [--output json]

export asks a node for the evidence bundle of a VM (or of an agreement: its
proposal and the other party's signature): every transaction that changed it,
as its cloud signed it, with state proofs of its record (which chains each
transaction's id, height and time: none can be missing, added or moved), the
signed block header those proofs verify against, and the validator changes. An invoice's bundle proves its head,
every line, the agreements, and each penalty's violation and report by
state proofs at one height, and verify recomputes every amount; a
violation's proves it with its report and agreement. verify checks a bundle
offline against the chain's genesis document, contacting no node: the clouds'
signatures, the proofs, and commits by more than two thirds of the voting power
of the validator sets, followed from genesis through every change of
validators, or from a checkpoint the auditor trusts (--trust HEIGHT:HASH, the
"trust" line of any member's bbus query status; export the bundle with the
same --trust). It exits 1, naming what broke, if anything does not verify.`

func evidenceCmd(e *env) *cobra.Command {
	return group("evidence", newFlags("evidence", evidenceSynopsis).usage, func(words []string) string {
		if len(words) == 0 {
			return "missing subcommand: export or verify"
		}
		return fmt.Sprintf("unknown subcommand %q: want export or verify", words[0])
	}, evidenceExportCmd(e), evidenceVerifyCmd(e))
}

func evidenceExportCmd(e *env) *cobra.Command {
	f := newFlags("evidence export", "bbus evidence export --node URL [--token T] (--vm VM | --agreement ID | --invoice ID | --violation ID) [--trust HEIGHT[:HASH]] > bundle.json\n\nPrints the evidence bundle of a VM, an agreement, an invoice or a violation as JSON.")
	node := f.String("node", DefaultNode, "the URL of the node's API")
	token := f.tokenFlag()
	vm := f.String("vm", "", "the VM whose history to prove")
	invoice := f.String("invoice", "", "the invoice whose head, lines and penalties to prove")
	agreement := f.String("agreement", "", "the agreement whose proposal and signature to prove")
	violation := f.String("violation", "", "the violation to prove, with its report and agreement")
	trust := f.String("trust", "", "HEIGHT or HEIGHT:HASH: a checkpoint the auditor trusts, which the bundle then holds")
	return f.command(0, func([]string) error {
		var checkpoint int64
		var want *evidence.Checkpoint
		if *trust != "" {
			if h, err := strconv.ParseInt(*trust, 10, 64); err == nil && h > 0 {
				checkpoint = h
			} else if want, err = evidence.ParseCheckpoint(*trust); err != nil {
				return f.fail("--trust: %v", err)
			} else {
				checkpoint = want.Height
			}
		}
		var kind, id string
		for _, x := range []struct{ flag, id string }{{"vm", *vm}, {"agreement", *agreement}, {"invoice", *invoice}, {"violation", *violation}} {
			if x.id == "" {
				continue
			}
			if kind != "" {
				return f.fail("flags --%s and --%s exclude each other: one bundle proves one thing", kind, x.flag)
			}
			kind, id = x.flag, x.id
		}
		if kind == "" {
			return f.fail("flag --vm (or --agreement, --invoice, --violation) is required")
		}
		c := newClient(*node, *token, 2*time.Minute)
		var raw []byte
		var err error
		switch kind {
		case "agreement":
			raw, err = c.AgreementEvidence(e.ctx, id, checkpoint)
		case "invoice":
			raw, err = c.InvoiceEvidence(e.ctx, id, checkpoint)
		case "violation":
			raw, err = c.ViolationEvidence(e.ctx, id, checkpoint)
		default:
			raw, err = c.Evidence(e.ctx, id, checkpoint)
		}
		if err != nil {
			return err
		}
		if want != nil {
			b, err := evidence.Decode(raw)
			if err != nil {
				return err
			}
			for _, h := range b.Headers {
				if h.Header.Height == want.Height && !bytes.Equal(h.Header.Hash(), want.Hash) {
					return bbus.Errorf(bbus.EINVALID, "the node's block at height %d is %s, not the checkpoint %s: it follows another history", want.Height, h.Header.Hash(), want)
				}
			}
		}
		return printJSON(e.stdout, json.RawMessage(raw))
	})
}

func evidenceVerifyCmd(e *env) *cobra.Command {
	f := newFlags("evidence verify", "bbus evidence verify BUNDLE --genesis FILE [--trust HEIGHT:HASH] [--output json]\n\nChecks a bundle against the chain's genesis document, offline. BUNDLE - reads standard input.")
	genesis := f.String("genesis", "", "the chain's genesis document (a node's HOME/config/genesis.json)")
	trust := f.String("trust", "", "HEIGHT:HASH: a block header you trust (the trust line of a member's bbus query status)")
	out := f.outputFlag()
	return f.command(1, func(pos []string) error {
		var err error
		if err := f.required("genesis"); err != nil {
			return err
		}
		var checkpoint *evidence.Checkpoint
		if *trust != "" {
			if checkpoint, err = evidence.ParseCheckpoint(*trust); err != nil {
				return f.fail("--trust: %v", err)
			}
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
		rep, err := evidence.VerifyTrusting(bundle, gen, checkpoint)
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
	if inv := r.InvoiceRecord; inv != nil {
		fmt.Fprint(w, "\nlines (each amount recomputed from the proved records):\n")
		tw = newTable(w)
		fmt.Fprintln(tw, "  KIND\tVM\tAGREEMENT\tFROM\tUNTIL\tAMOUNT")
		for _, l := range inv.Lines {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", l.Kind, l.VM, l.Agreement, fmtTime(l.Start), fmtTime(l.End), bbus.FormatAmount(l.Amount))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "  hosting %s, penalties %s, total %s\n", bbus.FormatAmount(inv.Hosting), bbus.FormatAmount(inv.Penalties), bbus.FormatAmount(inv.Total))
	}
	for _, v := range r.Violations {
		if r.Violation != "" {
			fmt.Fprintf(w, "\n%s: VM %s at %s under %s, %s to %s: availability %d/1000 %% against %d; charge %s, penalty %s (report %s)\n",
				v.ID, v.VM, v.Cloud, v.Agreement, fmtTime(v.Start), fmtTime(v.End), v.Availability, v.Objective,
				bbus.FormatAmount(v.Charge), bbus.FormatAmount(v.Penalty), v.Report)
		}
	}
	if r.VM == "" {
		return printSigners(w, r)
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
	return printSigners(w, r)
}

func printSigners(w io.Writer, r *evidence.Report) error {
	fmt.Fprint(w, "\nsigners:\n")
	tw := newTable(w)
	for _, s := range r.Signers {
		fmt.Fprintf(tw, "  %s\tkey from %s\n", s.Cloud, s.From)
	}
	return tw.Flush()
}
