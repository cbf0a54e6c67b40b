package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/client"
	"github.com/bbusdev/bbus/tokens"
)

const tokenSynopsis = `bbus token create --home DIR --scope read|write [--name NAME] [--output json]   make a bearer token; prints it once
bbus token list --home DIR [--output json]                                     list the home's tokens (never their secrets)
bbus token revoke ID --home DIR                                                refuse the token from the node's next request on

Tokens are for the REST API of the node whose home DIR is: send one as
"Authorization: Bearer <token>", or give it to bbus query and bbus tx with
--token (or in the BBUS_TOKEN environment variable). A write token lets its
holder have the node sign writes as its cloud; a read token reads where the
node asks for a token (rest.reads in HOME/config/bbus.json). The home keeps
only each token's SHA-256.`

// tokenOutput is what bbus token prints of a token: never its hash.
type tokenOutput struct {
	ID      string    `json:"id"`
	Scope   string    `json:"scope"`
	Name    string    `json:"name,omitempty"`
	Created time.Time `json:"created"`
	Token   string    `json:"token,omitempty"` // the secret, by create only
}

func tokenCmd(e *env) *cobra.Command {
	return group("token", newFlags("token", tokenSynopsis).usage, func(words []string) string {
		if len(words) == 0 {
			return "missing subcommand: create, list or revoke"
		}
		return fmt.Sprintf("unknown subcommand %q: want create, list or revoke", words[0])
	}, tokenCreateCmd(e), tokenListCmd(e), tokenRevokeCmd(e))
}

func tokenCreateCmd(e *env) *cobra.Command {
	f := newFlags("token create", tokenSynopsis)
	home, out := f.homeFlag(), f.outputFlag()
	scope := f.String("scope", "", "what the token may do: read or write (required)")
	name := f.String("name", "", "a name to recognise the token by in bbus token list")
	return f.command(0, func([]string) error {
		if err := f.required("scope"); err != nil {
			return err
		}
		secret, t, err := tokens.Create(*home, *scope, *name)
		if err != nil {
			return err
		}
		o := tokenOutput{ID: t.ID, Scope: t.Scope, Name: t.Name, Created: t.Created, Token: secret}
		if *out == "json" {
			return printJSON(e.stdout, o)
		}
		fmt.Fprintf(e.stdout, "%s\n", secret)
		fmt.Fprintf(e.stderr, "made %s token %s in %s; it is shown only now (the home keeps its hash)\n", t.Scope, t.ID, tokens.Path(*home))
		return nil
	})
}

func tokenListCmd(e *env) *cobra.Command {
	f := newFlags("token list", tokenSynopsis)
	home, out := f.homeFlag(), f.outputFlag()
	return f.command(0, func([]string) error {
		ts, err := tokens.List(*home)
		if err != nil {
			return err
		}
		list := make([]tokenOutput, len(ts))
		for i, t := range ts {
			list[i] = tokenOutput{ID: t.ID, Scope: t.Scope, Name: t.Name, Created: t.Created}
		}
		if *out == "json" {
			return printJSON(e.stdout, list)
		}
		if len(list) == 0 {
			fmt.Fprintf(e.stdout, "no tokens in %s\n", tokens.Path(*home))
			return nil
		}
		return printTokens(e.stdout, list)
	})
}

func tokenRevokeCmd(e *env) *cobra.Command {
	f := newFlags("token revoke", tokenSynopsis)
	home := f.homeFlag()
	return f.command(1, func(pos []string) error {
		if err := tokens.Revoke(*home, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "revoked %s\n", pos[0])
		return nil
	})
}

func printTokens(w io.Writer, ts []tokenOutput) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSCOPE\tCREATED\tNAME")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Scope, fmtTime(t.Created), orDash(t.Name))
	}
	return tw.Flush()
}

// tokenFlag defines --token, whose default is the BBUS_TOKEN environment variable.
func (f *flags) tokenFlag() *string {
	return f.String("token", os.Getenv("BBUS_TOKEN"), "a bearer token for the node's API (default: $BBUS_TOKEN)")
}

// newClient returns a client of the node at url that sends token, if any, and
// gives up on a request after timeout (0: never, for streams).
func newClient(url, token string, timeout time.Duration) *client.Client {
	opts := []client.Option{client.WithHTTPClient(&http.Client{Timeout: timeout})}
	if token = strings.TrimSpace(token); token != "" {
		opts = append(opts, client.WithToken(token))
	}
	return client.New(url, opts...)
}

const eventsSynopsis = `bbus events --node URL [--type T[,T...]] [--vm VM] [--cloud CLOUD] [--after ID] [--output json]

Streams the ledger's events as they commit, one a line (JSON with --output json),
until interrupted. --type migration matches every migration.* event. --after
resumes after an event id a previous run printed; a notice on stderr says when
the node no longer holds every event since.`

func eventsCmd(e *env) *cobra.Command {
	f := newFlags("events", eventsSynopsis)
	node := f.String("node", DefaultNode, "the URL of the node's API")
	token := f.tokenFlag()
	typ := f.String("type", "", "only these event types, comma-separated")
	vm := f.String("vm", "", "only events of this VM")
	cloud := f.String("cloud", "", "only events that name this cloud")
	after := f.String("after", "", "resume after this event id")
	out := f.outputFlag()
	return f.command(0, func([]string) error {
		filter := bbus.EventFilter{VM: *vm, Cloud: *cloud}
		if *typ != "" {
			filter.Types = strings.Split(*typ, ",")
		}
		ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		e = &env{ctx: ctx, stdin: e.stdin, stdout: e.stdout, stderr: e.stderr}
		s, err := newClient(*node, *token, 0).Events(ctx, filter, *after)
		if err != nil {
			return err
		}
		defer s.Close()
		for {
			ev, err := s.Next()
			var gap *client.GapError
			switch {
			case asGap(err, &gap):
				fmt.Fprintf(e.stderr, "bbus: %s\n", gap.Gap.Message)
				continue
			case err != nil:
				if e.ctx.Err() != nil {
					return nil
				}
				return err
			}
			if *out == "json" {
				if err := printJSONLine(e.stdout, ev); err != nil {
					return err
				}
				continue
			}
			var attrs []string
			for _, k := range sortedKeys(ev.Attrs) {
				attrs = append(attrs, k+"="+ev.Attrs[k])
			}
			fmt.Fprintf(e.stdout, "%s\t%s\t%s\t%s\n", ev.ID, fmtTime(ev.Time), ev.Type, strings.Join(attrs, " "))
		}
	})
}

func asGap(err error, gap **client.GapError) bool { return errors.As(err, gap) }

// printJSONLine writes v as one line of JSON.
func printJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
