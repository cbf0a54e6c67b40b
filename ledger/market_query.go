package ledger

import (
	"bytes"
	"encoding/binary"
	"sort"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
)

// listSeq pages through records numbered by sequence ("<kind>-<n>" ids) stored
// under primary+<n>, walking index+<n> instead when index is set. keep filters.
func listSeq[T any](r kv.Reader, kind, primary, index string, p bbus.Page, keep func(*T) bool, id func(*T) string) ([]T, string, error) {
	prefix := []byte(primary)
	if index != "" {
		prefix = []byte(index)
	}
	var start []byte
	if p.After != "" {
		seq, ok := parseSeqID(kind, p.After)
		if !ok {
			return nil, "", bbus.Errorf(bbus.EINVALID, "cursor %q is not a %s id", clipID(p.After), kind)
		}
		if seq == 1<<64-1 {
			return []T{}, "", nil // nothing can follow the last number (seq+1 would wrap to the first page)
		}
		start = append(bytes.Clone(prefix), uint64be(seq+1)...)
	}
	out := []T{}
	next := ""
	limit := pageLimit(p)
	r.Iterate(prefix, start, func(k, v []byte) bool {
		var rec T
		if index == "" {
			mustUnmarshal(v, &rec)
		} else {
			getJSON(r, seqKey(primary, binary.BigEndian.Uint64(k[len(k)-8:])), &rec)
		}
		if keep != nil && !keep(&rec) {
			return true
		}
		if len(out) == limit {
			next = id(&out[len(out)-1])
			return false
		}
		out = append(out, rec)
		return true
	})
	return out, next, nil
}

// getSeq reads the record of kind with the given id.
func getSeq[T any](r kv.Reader, kind, primary, what, id string) (*T, error) {
	seq, ok := parseSeqID(kind, id)
	rec := new(T)
	if !ok || !getJSON(r, seqKey(primary, seq), rec) {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "no %s %q", what, clipID(id))
	}
	return rec, nil
}

// validFilterID checks an id given as a list filter; empty passes.
func validFilterID(what, id string) error {
	if id == "" {
		return nil
	}
	return bbus.ValidateID(what, id)
}

// Offers returns the published offers in cloud order, and the next page's cursor.
func Offers(r kv.Reader, p bbus.Page) ([]bbus.Offer, string) {
	return listByID(r, prefixOffer, p, func(o *bbus.Offer) string { return o.Cloud })
}

// MatchClouds ranks the active clouds whose offer can host req now: the request
// fits both what the offer offers and what the cloud has free, the offer's
// vCPU price is at most the ceiling, and the offer carries every tag asked for.
// The score is the hourly cost divided by the reputation (as a fraction of
// 10000), so a cheaper and a more reputable cloud both rank higher; ties go to
// the higher reputation, then to the lower id.
func MatchClouds(r kv.Reader, req bbus.MatchRequest) ([]bbus.Match, error) {
	if err := req.Resources.Validate("request", true); err != nil {
		return nil, err
	}
	out := []bbus.Match{}
	var offers []bbus.Offer
	r.Iterate(prefixOffer, nil, func(_, v []byte) bool {
		var o bbus.Offer
		mustUnmarshal(v, &o)
		offers = append(offers, o)
		return true
	})
	for _, o := range offers {
		c, err := Cloud(r, o.Cloud)
		if err != nil || c.Status != bbus.CloudActive || c.ID == req.Exclude {
			continue
		}
		free := c.Free()
		if !req.Resources.Fits(free) || !req.Resources.Fits(o.Resources) ||
			req.MaxPriceVCPUHour >= 0 && o.PriceVCPUHour > req.MaxPriceVCPUHour || !hasTags(o.Tags, req.Tags) {
			continue
		}
		cost, ok := bbus.Charge(3600*1_000_000_000, req.Resources, o.PriceVCPUHour, o.PriceGiBHour)
		if !ok {
			continue
		}
		rep := max(c.ReputationBP, 1)
		out = append(out, bbus.Match{Cloud: c.ID, Free: free, Offer: o, CostPerHour: cost, ReputationBP: c.ReputationBP,
			Score: bbus.MulDiv(cost, 10000, rep)})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Score != b.Score {
			return a.Score < b.Score
		}
		if a.ReputationBP != b.ReputationBP {
			return a.ReputationBP > b.ReputationBP
		}
		return a.Cloud < b.Cloud
	})
	return out, nil
}

func hasTags(have, want []bbus.Tag) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// Agreements lists agreements in the order they were proposed.
func Agreements(r kv.Reader, f bbus.AgreementFilter, p bbus.Page) ([]bbus.Agreement, string, error) {
	if err := validFilterID("cloud", f.Cloud); err != nil {
		return nil, "", err
	}
	index := ""
	if f.Cloud != "" {
		index = "ac/" + f.Cloud + "/"
	}
	return listSeq(r, "agr", "a/", index, p, func(a *bbus.Agreement) bool { return f.Status == "" || a.Status == f.Status },
		func(a *bbus.Agreement) string { return a.ID })
}

// Agreement returns the agreement with the given id.
func Agreement(r kv.Reader, id string) (*bbus.Agreement, error) {
	return getSeq[bbus.Agreement](r, "agr", "a/", "agreement", id)
}

// Oracles lists oracles in id order.
func Oracles(r kv.Reader, p bbus.Page) ([]bbus.Oracle, string) {
	return listByID(r, prefixOracle, p, func(o *bbus.Oracle) string { return o.ID })
}

// Oracle returns the oracle with the given id.
func Oracle(r kv.Reader, id string) (*bbus.Oracle, error) {
	o := new(bbus.Oracle)
	if bbus.ValidateID("oracle", id) != nil || !getJSON(r, oracleKey(id), o) {
		return nil, bbus.Errorf(bbus.ENOTFOUND, "no oracle %q", clipID(id))
	}
	return o, nil
}

// Report returns the oracle report with the given id.
func Report(r kv.Reader, id string) (*bbus.Report, error) {
	return getSeq[bbus.Report](r, "rep", "rp/", "report", id)
}

// Violations lists SLA violations in the order they were recorded.
func Violations(r kv.Reader, f bbus.ViolationFilter, p bbus.Page) ([]bbus.Violation, string, error) {
	index, err := filterIndex(f.VM, f.Cloud, "viv/", "vic/")
	if err != nil {
		return nil, "", err
	}
	return listSeq(r, "vio", "vi/", index, p, func(v *bbus.Violation) bool { return f.Cloud == "" || v.Cloud == f.Cloud },
		func(v *bbus.Violation) string { return v.ID })
}

// Violation returns the violation with the given id.
func Violation(r kv.Reader, id string) (*bbus.Violation, error) {
	return getSeq[bbus.Violation](r, "vio", "vi/", "violation", id)
}

// Invoices lists invoices in the order they were closed, those of one cloud
// (as provider or consumer) if cloud is set.
func Invoices(r kv.Reader, cloud string, p bbus.Page) ([]bbus.Invoice, string, error) {
	if err := validFilterID("cloud", cloud); err != nil {
		return nil, "", err
	}
	index := ""
	if cloud != "" {
		index = "ic/" + cloud + "/"
	}
	list, next, err := listSeq(r, "inv", "i/", index, p, nil, func(i *bbus.Invoice) string { return i.ID })
	for i := range list {
		list[i].Lines = []bbus.InvoiceLine{} // a list holds heads: the lines are read with InvoiceLines
	}
	return list, next, err
}

// Invoice returns the invoice with the given id: its head, with its first
// MaxLimit lines and in LinesNext the cursor of the rest (InvoiceLines).
func Invoice(r kv.Reader, id string) (*bbus.Invoice, error) {
	inv, err := getSeq[bbus.Invoice](r, "inv", "i/", "invoice", id)
	if err != nil {
		return nil, err
	}
	inv.Lines, inv.LinesNext, err = InvoiceLines(r, id, bbus.Page{Limit: MaxLimit})
	return inv, err
}

// Reputations returns every active member's reputation, best first, ties by id.
func Reputations(r kv.Reader) []bbus.Standing {
	out := []bbus.Standing{}
	r.Iterate(prefixCloud, nil, func(_, v []byte) bool {
		var c bbus.Cloud
		mustUnmarshal(v, &c)
		if c.Status == bbus.CloudActive {
			out = append(out, bbus.Standing{Cloud: c.ID, ReputationBP: c.ReputationBP, Reports: c.Reports, Compliant: c.Compliant})
		}
		return true
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].ReputationBP > out[j].ReputationBP })
	return out
}
