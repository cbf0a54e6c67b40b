package cli

import (
	"encoding/base64"
	"fmt"
	"io"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/node"
)

func init() {
	queryCmds = append(queryCmds, queryCmd{
		name: "validators", about: "the chain's validators now: address, voting power, the cloud whose node it is",
		define: func(*flags) func(*query, []string) error {
			return func(q *query, _ []string) error {
				st, err := q.c.Status(q.e.ctx)
				if err != nil {
					return err
				}
				return q.print(st.Validators, nil, func() error { return printValidators(q.e.stdout, st.Validators) })
			}
		}})
}

func printValidators(w io.Writer, vals []bbus.Validator) error {
	tw := newTable(w)
	var total int64
	for _, v := range vals {
		total += v.Power
	}
	fmt.Fprintln(tw, "ADDRESS\tPOWER\tSHARE\tCLOUD\tPUBLIC KEY (BASE64)")
	for _, v := range vals {
		fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t%s\t%s\n", v.Address, v.Power, 100*float64(v.Power)/float64(max(total, 1)),
			orDash(v.Cloud), base64.StdEncoding.EncodeToString(v.PubKey))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d validators, total power %d: a block needs signatures of more than %d\n", len(vals), total, total*2/3)
	return nil
}

// validatorKeyOf returns the validator key of the node whose home the
// command's --home flag names.
func validatorKeyOf(f *flags) ([]byte, error) {
	home := f.Lookup("home")
	if home == nil {
		return nil, bbus.Errorf(bbus.EINTERNAL, "command has no --home")
	}
	return node.ValidatorKey(home.Value.String())
}
