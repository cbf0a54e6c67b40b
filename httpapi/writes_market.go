package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/bbusdev/bbus"
)

func init() { writes = append(writes, marketWrites...) }

func amount(name string, d bbus.Decimal, def string) (int64, error) {
	if d == "" {
		d = bbus.Decimal(def)
	}
	v, err := bbus.ParseAmount(string(d))
	if err != nil {
		return 0, bbus.Errorf(bbus.EINVALID, "%s: %s", name, bbus.ErrorMessage(err))
	}
	return v, nil
}

func pct(name string, d bbus.Decimal) (int64, error) {
	v, err := bbus.ParsePct(string(d))
	if err != nil {
		return 0, bbus.Errorf(bbus.EINVALID, "%s: %s", name, bbus.ErrorMessage(err))
	}
	return v, nil
}

func unix(name, s string, required bool) (int64, error) {
	if s == "" && !required {
		return 0, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, bbus.Errorf(bbus.EINVALID, "%s %q is not an RFC 3339 time like 2026-11-25T18:00:00Z", name, s)
	}
	return t.Unix(), nil
}

// steps runs parse steps in order and returns the first error.
func steps(fs ...func() error) error {
	for _, f := range fs {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

var marketWrites = []write{
	{"POST /v1/offers", func(_ *http.Request, body []byte) (bbus.Action, error) {
		var q bbus.OfferRequest
		o := new(bbus.OfferPublish)
		err := steps(
			func() error { return decodeBody(body, &q, false) },
			func() (err error) { o.PriceVCPUHour, err = amount("price_vcpu_hour", q.PriceVCPUHour, ""); return },
			func() (err error) { o.PriceGiBHour, err = amount("price_gib_hour", q.PriceGiBHour, "0"); return },
			func() error {
				for _, t := range q.Tag {
					k, v, ok := strings.Cut(t, "=")
					if !ok {
						return bbus.Errorf(bbus.EINVALID, "tag %q is not K=V", t)
					}
					o.Tags = append(o.Tags, bbus.Tag{Key: k, Value: v})
				}
				return nil
			})
		o.Resources = q.Resources
		return bbus.Action{OfferPublish: o}, err
	}},
	{"POST /v1/agreements", func(_ *http.Request, body []byte) (bbus.Action, error) {
		var q bbus.AgreementRequest
		a := new(bbus.AgreementPropose)
		err := steps(
			func() error { return decodeBody(body, &q, false) },
			func() (err error) { a.PriceVCPUHour, err = amount("price_vcpu_hour", q.PriceVCPUHour, ""); return },
			func() (err error) { a.PriceGiBHour, err = amount("price_gib_hour", q.PriceGiBHour, "0"); return },
			func() (err error) { a.Availability, err = pct("availability", q.Availability); return },
			func() (err error) { a.PenaltyPct, err = pct("penalty_pct", q.PenaltyPct); return },
			func() (err error) { a.Until, err = unix("until", q.Until, false); return })
		a.Provider, a.Consumer, a.MaxLatencyMS = q.Provider, q.Consumer, q.MaxLatencyMS
		return bbus.Action{AgreementPropose: a}, err
	}},
	{"POST /v1/agreements/{id}/sign", pathAction("agreement", func(id string) bbus.Action {
		return bbus.Action{AgreementSign: &bbus.AgreementRef{Agreement: id}}
	})},
	{"POST /v1/agreements/{id}/decline", func(r *http.Request, body []byte) (bbus.Action, error) {
		var q bbus.DeclineRequest
		if err := decodeBody(body, &q, true); err != nil {
			return bbus.Action{}, err
		}
		return bbus.Action{AgreementDecline: &bbus.AgreementDecline{Agreement: r.PathValue("id"), Reason: q.Reason}}, nil
	}},
	{"POST /v1/oracles/{id}/invite", func(r *http.Request, body []byte) (bbus.Action, error) {
		var q bbus.InviteRequest
		if err := decodeBody(body, &q, false); err != nil {
			return bbus.Action{}, err
		}
		if q.ValidatorKey != nil {
			return bbus.Action{}, bbus.Errorf(bbus.EINVALID, "an oracle has no validator key; validator_key is for clouds")
		}
		if q.NodeID != "" {
			return bbus.Action{}, bbus.Errorf(bbus.EINVALID, "an oracle has no node; node_id is for clouds")
		}
		a := &bbus.OracleInvite{Oracle: r.PathValue("id"), PubKey: q.PubKey}
		return bbus.Action{OracleInvite: a}, a.Validate()
	}},
	// The node fills in the key the vote is for from the pending record (applicantKey).
	{"POST /v1/oracles/{id}/approve", pathAction("oracle", func(id string) bbus.Action {
		return bbus.Action{OracleApprove: &bbus.OracleApprove{Oracle: id}}
	})},
	{"POST /v1/oracles/{id}/remove", pathAction("oracle", func(id string) bbus.Action {
		return bbus.Action{OracleRemove: &bbus.OracleRef{Oracle: id}}
	})},
	{"POST /v1/invoices", func(_ *http.Request, body []byte) (bbus.Action, error) {
		var q bbus.InvoiceRequest
		a := new(bbus.InvoiceClose)
		err := steps(
			func() error { return decodeBody(body, &q, false) },
			func() (err error) { a.Until, err = unix("until", q.Until, true); return })
		a.Provider, a.Consumer = q.Provider, q.Consumer
		return bbus.Action{InvoiceClose: a}, err
	}},
	{"POST /v1/invoices/{id}/accept", pathAction("invoice", func(id string) bbus.Action {
		return bbus.Action{InvoiceAccept: &bbus.InvoiceRef{Invoice: id}}
	})},
	{"POST /v1/invoices/{id}/dispute", func(r *http.Request, body []byte) (bbus.Action, error) {
		var q bbus.DisputeRequest
		if err := decodeBody(body, &q, true); err != nil {
			return bbus.Action{}, err
		}
		return bbus.Action{InvoiceDispute: &bbus.InvoiceDispute{Invoice: r.PathValue("id"), Reason: q.Reason}}, nil
	}},
	{"POST /v1/invoices/{id}/correct", func(r *http.Request, body []byte) (bbus.Action, error) {
		var q bbus.CorrectRequest
		a := &bbus.InvoiceCorrect{Invoice: r.PathValue("id")}
		err := steps(
			func() error { return decodeBody(body, &q, false) },
			func() (err error) { a.Hosting, err = amount("hosting", q.Hosting, ""); return },
			func() (err error) { a.Penalties, err = amount("penalties", q.Penalties, "0"); return })
		a.Reason = q.Reason
		return bbus.Action{InvoiceCorrect: a}, err
	}},
}
