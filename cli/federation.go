package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
	"github.com/bbusdev/bbus/node"
)

// keyFlag decodes the base64 ed25519 public key of flag name; "" is no key.
func keyFlag(f *flags, name, value string) ([]byte, error) {
	if value == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return nil, f.fail("--%s is not base64: %v", name, err)
	}
	if len(b) != 32 {
		return nil, f.fail("--%s is %d bytes, an ed25519 public key is 32", name, len(b))
	}
	return b, nil
}

// applicantKey fills in the key a vote to approve is for, when not given: the
// key the pending cloud or oracle applied with, read from the node. A vote
// counts only for the key it names.
func applicantKey(ctx context.Context, c *client.Client, a *bbus.Action) error {
	switch {
	case a.CloudApprove != nil && a.CloudApprove.PubKey == nil:
		cl, err := c.Cloud(ctx, a.CloudApprove.Cloud)
		if err != nil {
			return bbus.Errorf(bbus.ErrorCode(err), "reading the applicant's key (or give --pub-key): %s", bbus.ErrorMessage(err))
		}
		a.CloudApprove.PubKey = cl.PubKey
	case a.OracleApprove != nil && a.OracleApprove.PubKey == nil:
		o, err := c.Oracle(ctx, a.OracleApprove.Oracle)
		if err != nil {
			return bbus.Errorf(bbus.ErrorCode(err), "reading the applicant's key (or give --pub-key): %s", bbus.ErrorMessage(err))
		}
		a.OracleApprove.PubKey = o.PubKey
	}
	return nil
}

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
