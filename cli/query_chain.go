package cli

import (
	"fmt"
	"io"
	"strconv"

	"github.com/bbusdev/bbus"
)

func init() { queryCmds = append(queryCmds, chainQueries...) }

var chainQueries = []queryCmd{
	{name: "tx", args: "TXID", nargs: 1, about: "a committed transaction by its id: where it is, what the ledger made of it, what was signed",
		define: func(*flags) func(*query, []string) error {
			return func(q *query, pos []string) error {
				tx, err := q.c.Tx(q.e.ctx, pos[0])
				return q.print(tx, err, func() error { return printTx(q.e.stdout, tx) })
			}
		}},
	{name: "block", args: "HEIGHT", nargs: 1, about: "a committed block and the outcome of each of its transactions",
		define: func(f *flags) func(*query, []string) error {
			return func(q *query, pos []string) error {
				h, err := strconv.ParseInt(pos[0], 10, 64)
				if err != nil || h < 1 {
					return f.fail("HEIGHT must be a whole number from 1, not %q", pos[0])
				}
				b, err := q.c.Block(q.e.ctx, h)
				return q.print(b, err, func() error { return printBlock(q.e.stdout, b) })
			}
		}},
}

// outcome renders what the ledger made of a transaction.
func outcome(r *bbus.TxResult) string {
	switch {
	case r.Code != "":
		return "rejected: " + r.Code + ": " + r.Message
	case r.Message != "":
		return "unknown: " + r.Message
	case r.ID != "":
		return "applied (" + r.ID + ")"
	}
	return "applied"
}

func printTx(w io.Writer, tx *bbus.CommittedTx) error {
	action := "-"
	if tx.Body != nil {
		action = tx.Body.Action.Type()
	}
	return fields(w,
		"tx", tx.TxID,
		"hash", tx.Hash,
		"block", fmt.Sprintf("%d, index %d, at %s", tx.Height, tx.Index, fmtTime(tx.Time)),
		"signer", orDash(tx.Signer),
		"action", action,
		"outcome", outcome(&tx.TxResult),
	)
}

func printBlock(w io.Writer, b *bbus.Block) error {
	if err := fields(w,
		"height", strconv.FormatInt(b.Height, 10),
		"time", fmtTime(b.Time),
		"hash", b.Hash,
		"app hash", orDash(b.AppHash),
		"proposer", b.Proposer,
		"transactions", strconv.Itoa(len(b.Txs)),
	); err != nil {
		return err
	}
	if len(b.Txs) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "INDEX\tTX\tTYPE\tSIGNER\tOUTCOME")
	for i := range b.Txs {
		r := &b.Txs[i]
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Index, orDash(r.TxID), orDash(r.Type), orDash(r.Signer), outcome(r))
	}
	return tw.Flush()
}
