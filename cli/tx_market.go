package cli

import (
	"sort"
	"strings"
	"time"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/keys"
)

func init() { txActions = append(txActions, marketActions...) }

// builder turns positional arguments and the signer's key into an action.
type builder = func(pos []string, k *keys.Key) (bbus.Action, error)

var marketActions = []txAction{
	{
		words: "offer publish", flags: "--cpu N --mem-mib N --disk-iops N --net-mbps N --price-vcpu-hour AMOUNT [--price-gib-hour AMOUNT] [--tag K=V]...",
		about: "publish what cloud --from offers the federation, at which prices", required: []string{"price-vcpu-hour"},
		define: func(f *flags) builder {
			res := resourceFlags(f, "offer")
			pv := f.String("price-vcpu-hour", "", "price per vCPU-hour, a decimal with at most 6 places (required)")
			pg := f.String("price-gib-hour", "0", "price per GiB-hour of memory")
			var tags tagList
			f.Var(&tags, "tag", "a K=V tag such as region=eu-west; repeat for more")
			return func([]string, *keys.Key) (bbus.Action, error) {
				o := &bbus.OfferPublish{Resources: *res, Tags: tags.sorted()}
				var err error
				if o.PriceVCPUHour, err = bbus.ParseAmount(*pv); err != nil {
					return bbus.Action{}, err
				}
				if o.PriceGiBHour, err = bbus.ParseAmount(*pg); err != nil {
					return bbus.Action{}, err
				}
				return bbus.Action{OfferPublish: o}, nil
			}
		},
	},
	{
		words: "agreement propose", flags: "--provider CLOUD --consumer CLOUD --price-vcpu-hour AMOUNT [--price-gib-hour AMOUNT] --availability PCT [--max-latency-ms N] --penalty-pct PCT [--until RFC3339]",
		about:    "propose an SLA between a provider and a consumer (cloud --from is one of them); prints the agreement id",
		required: []string{"provider", "consumer", "price-vcpu-hour", "availability", "penalty-pct"},
		define: func(f *flags) builder {
			provider := f.String("provider", "", "the cloud that hosts the VMs (required)")
			consumer := f.String("consumer", "", "the cloud that owns the VMs and pays (required)")
			pv := f.String("price-vcpu-hour", "", "price per vCPU-hour (required)")
			pg := f.String("price-gib-hour", "0", "price per GiB-hour of memory")
			avail := f.String("availability", "", "availability objective in percent, like 99.9 (required)")
			latency := f.Int64("max-latency-ms", 0, "latency objective in milliseconds (0: none)")
			penalty := f.String("penalty-pct", "", "share of a violated period's charge refunded, in percent (required)")
			until := f.String("until", "", "end of validity, RFC3339 (default: open-ended)")
			return func([]string, *keys.Key) (bbus.Action, error) {
				a := &bbus.AgreementPropose{Provider: *provider, Consumer: *consumer, MaxLatencyMS: *latency}
				err := firstErr(
					func() (err error) { a.PriceVCPUHour, err = bbus.ParseAmount(*pv); return },
					func() (err error) { a.PriceGiBHour, err = bbus.ParseAmount(*pg); return },
					func() (err error) { a.Availability, err = bbus.ParsePct(*avail); return },
					func() (err error) { a.PenaltyPct, err = bbus.ParsePct(*penalty); return },
					func() (err error) {
						if *until != "" {
							a.Until, err = unixFlag("until", *until)
						}
						return
					})
				return bbus.Action{AgreementPropose: a}, err
			}
		},
	},
	{
		words: "agreement sign", args: "AGREEMENT", nargs: 1, about: "sign an agreement the other party proposed, making it active",
		define: func(*flags) builder {
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				return bbus.Action{AgreementSign: &bbus.AgreementRef{Agreement: pos[0]}}, nil
			}
		},
	},
	{
		words: "oracle invite", args: "ORACLE", nargs: 1, flags: "--pub-key BASE64", required: []string{"pub-key"},
		about: "invite an oracle: only the key --pub-key may then apply as ORACLE (this counts as cloud --from's vote to admit it)",
		define: func(f *flags) builder {
			pub := f.String("pub-key", "", "base64 ed25519 public key the oracle will sign with (bbus keys show) (required)")
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				k, err := keyFlag(f, "pub-key", *pub)
				return bbus.Action{OracleInvite: &bbus.OracleInvite{Oracle: pos[0], PubKey: k}}, err
			}
		},
	},
	{
		words: "agreement decline", args: "AGREEMENT", nargs: 1, flags: "[--reason TEXT]",
		about: "decline an agreement the other party proposed, ending the proposal",
		define: func(f *flags) builder {
			reason := f.String("reason", "", "why the proposal is declined")
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				return bbus.Action{AgreementDecline: &bbus.AgreementDecline{Agreement: pos[0], Reason: *reason}}, nil
			}
		},
	},
	{
		words: "oracle join", flags: "--name NAME", required: []string{"name"},
		about: "apply to report VM performance as oracle --from, with the key of that name in --home",
		define: func(f *flags) builder {
			name := f.String("name", "", "the oracle's name (required)")
			return func(_ []string, k *keys.Key) (bbus.Action, error) {
				return bbus.Action{OracleJoin: &bbus.OracleJoin{Name: *name, PubKey: k.PubKey}}, nil
			}
		},
	},
	{
		words: "oracle approve", args: "ORACLE", nargs: 1, flags: "[--pub-key BASE64]",
		about: "vote to admit an applicant oracle, with the key it applied with (read from --node unless --pub-key)",
		define: func(f *flags) builder {
			pub := f.String("pub-key", "", "base64 key the vote is for (default: the key the pending oracle applied with, read from --node)")
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				k, err := keyFlag(f, "pub-key", *pub)
				return bbus.Action{OracleApprove: &bbus.OracleApprove{Oracle: pos[0], PubKey: k}}, err
			}
		},
	},
	{
		words: "oracle remove", args: "ORACLE", nargs: 1,
		about: "vote to remove an active oracle: once the vote passes it reports no more, and its reports in windows not yet decided stop counting toward their quorum",
		define: func(*flags) builder {
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				return bbus.Action{OracleRemove: &bbus.OracleRef{Oracle: pos[0]}}, nil
			}
		},
	},
	{
		words: "report", args: "VM", nargs: 1, flags: "--start RFC3339 --end RFC3339 --availability PCT [--latency-ms N]",
		about: "report a VM's measured service over a past window (signed by an oracle)", required: []string{"start", "end", "availability"},
		define: func(f *flags) builder {
			start := f.String("start", "", "start of the window, RFC3339 (required)")
			end := f.String("end", "", "end of the window, RFC3339 (required)")
			avail := f.String("availability", "", "measured availability in percent (required)")
			latency := f.Int64("latency-ms", 0, "measured latency in milliseconds")
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				r := &bbus.ReportAction{VM: pos[0], LatencyMS: *latency}
				err := firstErr(
					func() (err error) { r.Start, err = unixFlag("start", *start); return },
					func() (err error) { r.End, err = unixFlag("end", *end); return },
					func() (err error) { r.Availability, err = bbus.ParsePct(*avail); return })
				return bbus.Action{Report: r}, err
			}
		},
	},
	{
		words: "invoice close", flags: "--provider CLOUD --consumer CLOUD --until RFC3339", required: []string{"provider", "consumer", "until"},
		about: "close the invoice of provider --from to a consumer, for everything since their last invoice; prints the invoice id",
		define: func(f *flags) builder {
			provider := f.String("provider", "", "the provider: cloud --from (required)")
			consumer := f.String("consumer", "", "the consumer that pays (required)")
			until := f.String("until", "", "end of the invoiced period, RFC3339 (required)")
			return func([]string, *keys.Key) (bbus.Action, error) {
				u, err := unixFlag("until", *until)
				return bbus.Action{InvoiceClose: &bbus.InvoiceClose{Provider: *provider, Consumer: *consumer, Until: u}}, err
			}
		},
	},
	{
		words: "invoice accept", args: "INVOICE", nargs: 1, about: "accept an invoice (by its consumer)",
		define: func(*flags) builder {
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				return bbus.Action{InvoiceAccept: &bbus.InvoiceRef{Invoice: pos[0]}}, nil
			}
		},
	},
	{
		words: "invoice dispute", args: "INVOICE", nargs: 1, flags: "[--reason TEXT]", about: "dispute an invoice (by its consumer)",
		define: func(f *flags) builder {
			reason := f.String("reason", "", "why the consumer disputes it")
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				return bbus.Action{InvoiceDispute: &bbus.InvoiceDispute{Invoice: pos[0], Reason: *reason}}, nil
			}
		},
	},
	{
		words: "invoice correct", args: "INVOICE", nargs: 1, flags: "--hosting AMOUNT [--penalties AMOUNT] --reason TEXT", required: []string{"hosting", "reason"},
		about: "answer a disputed invoice with a corrected one for the same period (by its provider); prints the correction's id",
		define: func(f *flags) builder {
			hosting := f.String("hosting", "", "the hosting the corrected invoice asks, at most the disputed invoice's (required)")
			penalties := f.String("penalties", "0", "the penalties it deducts, at least the disputed invoice's")
			reason := f.String("reason", "", "why the provider corrects it (required)")
			return func(pos []string, _ *keys.Key) (bbus.Action, error) {
				a := &bbus.InvoiceCorrect{Invoice: pos[0], Reason: *reason}
				err := firstErr(
					func() (err error) { a.Hosting, err = bbus.ParseAmount(*hosting); return },
					func() (err error) { a.Penalties, err = bbus.ParseAmount(*penalties); return })
				return bbus.Action{InvoiceCorrect: a}, err
			}
		},
	},
}

// tagList is a repeatable --tag K=V flag.
type tagList []bbus.Tag

func (t *tagList) String() string { return "" }

func (t *tagList) Type() string { return "K=V" }

func (t *tagList) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return bbus.Errorf(bbus.EINVALID, "tag %q is not K=V", s)
	}
	*t = append(*t, bbus.Tag{Key: k, Value: v})
	return nil
}

func (t tagList) sorted() []bbus.Tag {
	out := append([]bbus.Tag(nil), t...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// unixFlag parses an RFC3339 time flag into Unix seconds.
func unixFlag(name, s string) (int64, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, bbus.Errorf(bbus.EINVALID, "--%s %q is not an RFC3339 time like 2026-11-25T18:00:00Z", name, s)
	}
	return t.Unix(), nil
}

// firstErr runs steps in order and returns the first error.
func firstErr(steps ...func() error) error {
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}
