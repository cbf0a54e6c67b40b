package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/bbusdev/bbus"
	"github.com/bbusdev/bbus/kv"
	"github.com/bbusdev/bbus/ledger"
)

// marketRoutes registers the reads of offers, match-making, agreements,
// oracles, reports, violations, invoices and reputation.
func (a *api) marketRoutes() {
	a.mux.HandleFunc("GET /v1/offers", a.offers)
	a.mux.HandleFunc("GET /v1/match", a.match)
	a.mux.HandleFunc("GET /v1/agreements", a.agreements)
	a.mux.HandleFunc("GET /v1/agreements/{id}", single(a, ledger.Agreement))
	a.mux.HandleFunc("GET /v1/oracles", a.oracles)
	a.mux.HandleFunc("GET /v1/oracles/{id}", single(a, ledger.Oracle))
	a.mux.HandleFunc("GET /v1/reports/{id}", single(a, ledger.Report))
	a.mux.HandleFunc("GET /v1/violations", a.violations)
	a.mux.HandleFunc("GET /v1/violations/{id}", single(a, ledger.Violation))
	a.mux.HandleFunc("GET /v1/invoices", a.invoices)
	a.mux.HandleFunc("GET /v1/invoices/{id}", single(a, ledger.Invoice))
	a.mux.HandleFunc("GET /v1/invoices/{id}/lines", a.invoiceLines)
	a.mux.HandleFunc("GET /v1/reputation", a.reputation)
}

// single serves GET .../{id} with a ledger lookup.
func single[T any](a *api, find func(kv.Reader, string) (*T, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.read(w, r, func(rd kv.Reader) (any, error) { return find(rd, r.PathValue("id")) })
	}
}

// list serves a paginated GET with fn over the page asked for.
func (a *api) list(w http.ResponseWriter, r *http.Request, fn func(rd kv.Reader, p bbus.Page) (any, error)) {
	p, err := pageParams(r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	a.read(w, r, func(rd kv.Reader) (any, error) { return fn(rd, p) })
}

func (a *api) offers(w http.ResponseWriter, r *http.Request) {
	a.list(w, r, func(rd kv.Reader, p bbus.Page) (any, error) {
		items, next := ledger.Offers(rd, p)
		return &bbus.List[bbus.Offer]{Items: items, Next: next}, nil
	})
}

func (a *api) oracles(w http.ResponseWriter, r *http.Request) {
	a.list(w, r, func(rd kv.Reader, p bbus.Page) (any, error) {
		items, next := ledger.Oracles(rd, p)
		return &bbus.List[bbus.Oracle]{Items: items, Next: next}, nil
	})
}

func (a *api) agreements(w http.ResponseWriter, r *http.Request) {
	f := bbus.AgreementFilter{Cloud: r.URL.Query().Get("cloud"), Status: r.URL.Query().Get("status")}
	a.list(w, r, func(rd kv.Reader, p bbus.Page) (any, error) {
		items, next, err := ledger.Agreements(rd, f, p)
		return &bbus.List[bbus.Agreement]{Items: items, Next: next}, err
	})
}

func (a *api) violations(w http.ResponseWriter, r *http.Request) {
	f := bbus.ViolationFilter{Cloud: r.URL.Query().Get("cloud"), VM: r.URL.Query().Get("vm")}
	a.list(w, r, func(rd kv.Reader, p bbus.Page) (any, error) {
		items, next, err := ledger.Violations(rd, f, p)
		return &bbus.List[bbus.Violation]{Items: items, Next: next}, err
	})
}

func (a *api) invoices(w http.ResponseWriter, r *http.Request) {
	cloud := r.URL.Query().Get("cloud")
	a.list(w, r, func(rd kv.Reader, p bbus.Page) (any, error) {
		items, next, err := ledger.Invoices(rd, cloud, p)
		return &bbus.List[bbus.Invoice]{Items: items, Next: next}, err
	})
}

// invoiceLines serves one page of an invoice's lines, read from their own records.
func (a *api) invoiceLines(w http.ResponseWriter, r *http.Request) {
	a.list(w, r, func(rd kv.Reader, p bbus.Page) (any, error) {
		items, next, err := ledger.InvoiceLines(rd, r.PathValue("id"), p)
		return &bbus.List[bbus.InvoiceLine]{Items: items, Next: next}, err
	})
}

func (a *api) reputation(w http.ResponseWriter, r *http.Request) {
	a.read(w, r, func(rd kv.Reader) (any, error) {
		return &bbus.ReputationList{Items: ledger.Reputations(rd), Oracles: ledger.OracleReputations(rd)}, nil
	})
}

// match serves GET /v1/match?cpu=&mem_mib=&disk_iops=&net_mbps=&max_price_vcpu_hour=&tag=K=V&exclude=.
func (a *api) match(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := bbus.MatchRequest{MaxPriceVCPUHour: -1, Exclude: q.Get("exclude")}
	for _, f := range []struct {
		name string
		v    *int64
	}{{"cpu", &req.Resources.CPU}, {"mem_mib", &req.Resources.MemMiB}, {"disk_iops", &req.Resources.DiskIOPS}, {"net_mbps", &req.Resources.NetMbps}} {
		if s := q.Get(f.name); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				writeError(w, bbus.Errorf(bbus.EINVALID, "parameter %s=%q is not a whole number", f.name, s))
				return
			}
			*f.v = n
		}
	}
	if s := q.Get("max_price_vcpu_hour"); s != "" {
		p, err := bbus.ParseAmount(s)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		req.MaxPriceVCPUHour = p
	}
	for _, t := range q["tag"] {
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			writeError(w, bbus.Errorf(bbus.EINVALID, "tag %q is not K=V", t))
			return
		}
		req.Tags = append(req.Tags, bbus.Tag{Key: k, Value: v})
	}
	a.read(w, r, func(rd kv.Reader) (any, error) {
		items, err := ledger.MatchClouds(rd, req)
		return &bbus.List[bbus.Match]{Items: items}, err
	})
}
