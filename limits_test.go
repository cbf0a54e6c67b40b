package bbus

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// TestEveryActionValidates fails for an action type without a Validate method:
// a new action must say what ranges its fields take before it can be admitted.
func TestEveryActionValidates(t *testing.T) {
	validator := reflect.TypeOf((*Validatable)(nil)).Elem()
	typ := reflect.TypeOf(Action{})
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if !f.Type.Implements(validator) {
			t.Errorf("Action.%s: %s has no method Validate() error; add one to limits.go with the ranges of its fields, and list them in docs/TRANSACTIONS.md", f.Name, f.Type)
		}
	}
}

// TestEveryActionValidateRuns sets each action in turn, zero-valued, and
// checks that Action.Validate reaches its type's method (a zero action is
// invalid for every type but an offer: it names no id).
func TestEveryActionValidateRuns(t *testing.T) {
	typ := reflect.TypeOf(Action{})
	for i := 0; i < typ.NumField(); i++ {
		var a Action
		reflect.ValueOf(&a).Elem().Field(i).Set(reflect.New(typ.Field(i).Type.Elem()))
		err := a.Validate()
		if typ.Field(i).Name == "OfferPublish" {
			continue // an offer of nothing, free, untagged, is valid
		}
		if ErrorCode(err) != EINVALID {
			t.Errorf("a zero %s: Validate = %v, want an %s error", typ.Field(i).Name, err, EINVALID)
		}
	}
	var none Action
	if ErrorCode(none.Validate()) != EMALFORMED {
		t.Error("an empty action validated")
	}
}

// TestRanges checks each field's bounds: the extremes inside pass, the
// values just outside and the int64 extremes fail naming the field.
func TestRanges(t *testing.T) {
	id := "x1"
	res := Resources{CPU: 1, MemMiB: 1}
	key := make([]byte, 32)
	type intCase struct {
		field  string
		lo, hi int64
		make   func(v int64) Action
	}
	cases := []intCase{
		{"agreement_propose.until", 0, MaxUnix, func(v int64) Action {
			return Action{AgreementPropose: &AgreementPropose{Provider: "a", Consumer: "b", Until: v}}
		}},
		{"agreement_propose.price_vcpu_hour_micro", 0, MaxPrice, func(v int64) Action {
			return Action{AgreementPropose: &AgreementPropose{Provider: "a", Consumer: "b", PriceVCPUHour: v}}
		}},
		{"agreement_propose.price_gib_hour_micro", 0, MaxPrice, func(v int64) Action {
			return Action{AgreementPropose: &AgreementPropose{Provider: "a", Consumer: "b", PriceGiBHour: v}}
		}},
		{"agreement_propose.availability_mpct", 0, MaxPct, func(v int64) Action {
			return Action{AgreementPropose: &AgreementPropose{Provider: "a", Consumer: "b", Availability: v}}
		}},
		{"agreement_propose.penalty_mpct", 0, MaxPct, func(v int64) Action {
			return Action{AgreementPropose: &AgreementPropose{Provider: "a", Consumer: "b", PenaltyPct: v}}
		}},
		{"agreement_propose.max_latency_ms", 0, MaxLatencyMS, func(v int64) Action {
			return Action{AgreementPropose: &AgreementPropose{Provider: "a", Consumer: "b", MaxLatencyMS: v}}
		}},
		{"report.end", 1, MaxUnix, func(v int64) Action { return Action{Report: &ReportAction{VM: id, Start: 0, End: v}} }},
		{"report.start", 0, MaxUnix - 1, func(v int64) Action { return Action{Report: &ReportAction{VM: id, Start: v, End: MaxUnix}} }},
		{"report.availability_mpct", 0, MaxPct, func(v int64) Action {
			return Action{Report: &ReportAction{VM: id, End: 1, Availability: v}}
		}},
		{"report.latency_ms", 0, MaxLatencyMS, func(v int64) Action { return Action{Report: &ReportAction{VM: id, End: 1, LatencyMS: v}} }},
		{"invoice_close.until", 0, MaxUnix, func(v int64) Action {
			return Action{InvoiceClose: &InvoiceClose{Provider: "a", Consumer: "b", Until: v}}
		}},
		{"offer_publish.price_vcpu_hour_micro", 0, MaxPrice, func(v int64) Action {
			return Action{OfferPublish: &OfferPublish{Resources: res, PriceVCPUHour: v}}
		}},
		{"cpu", 0, MaxResource, func(v int64) Action {
			return Action{CloudJoin: &CloudJoin{Name: "n", PubKey: key, Resources: Resources{CPU: v}}}
		}},
		{"mem_mib", 1, MaxResource, func(v int64) Action {
			return Action{VMRegister: &VMRegister{VM: id, Resources: Resources{CPU: 1, MemMiB: v}}}
		}},
		{"net_mbps", 0, MaxResource, func(v int64) Action {
			return Action{OfferPublish: &OfferPublish{Resources: Resources{NetMbps: v}}}
		}},
	}
	for _, c := range cases {
		for _, v := range []int64{c.lo, c.hi} {
			a := c.make(v)
			if err := a.Validate(); err != nil {
				t.Errorf("%s = %d refused: %v", c.field, v, err)
			}
		}
		for _, v := range []int64{c.lo - 1, c.hi + 1, math.MinInt64, math.MaxInt64} {
			a := c.make(v)
			err := a.Validate()
			if ErrorCode(err) != EINVALID {
				t.Errorf("%s = %d: %v, want %s", c.field, v, err, EINVALID)
			} else if !strings.Contains(ErrorMessage(err), c.field) && !strings.Contains(ErrorMessage(err), "above zero") {
				t.Errorf("%s = %d: the message %q does not name the field", c.field, v, ErrorMessage(err))
			}
		}
	}
	b := Body{Expires: MaxUnix + 1, Action: Action{VMTerminate: &VMRef{VM: id}}}
	if err := b.Validate(); ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), "expires") {
		t.Errorf("expires past year 9999: %v", err)
	}
	b.Expires = MaxUnix
	if err := b.Validate(); err != nil {
		t.Errorf("expires at the end of year 9999: %v", err)
	}
}
