package client

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/bbusdev/bbus"
)

// list fetches one page of a list route.
func list[T any](ctx context.Context, c *Client, path string, q url.Values) ([]T, string, error) {
	var l bbus.List[T]
	if err := c.get(ctx, path, q, &l); err != nil {
		return nil, "", err
	}
	return l.Items, l.Next, nil
}

// one fetches one record.
func one[T any](ctx context.Context, c *Client, path string) (*T, error) {
	v := new(T)
	if err := c.get(ctx, path, nil, v); err != nil {
		return nil, err
	}
	return v, nil
}

// withFilters adds the non-empty filters to q.
func withFilters(q url.Values, kv ...string) url.Values {
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	return q
}

// Offers lists published offers.
func (c *Client) Offers(ctx context.Context, p bbus.Page) ([]bbus.Offer, string, error) {
	return list[bbus.Offer](ctx, c, "/v1/offers", pageQuery(p))
}

// Match ranks the clouds able to host a request (see ledger.MatchClouds).
func (c *Client) Match(ctx context.Context, req bbus.MatchRequest) ([]bbus.Match, error) {
	q := url.Values{}
	q.Set("cpu", strconv.FormatInt(req.Resources.CPU, 10))
	q.Set("mem_mib", strconv.FormatInt(req.Resources.MemMiB, 10))
	q.Set("disk_iops", strconv.FormatInt(req.Resources.DiskIOPS, 10))
	q.Set("net_mbps", strconv.FormatInt(req.Resources.NetMbps, 10))
	if req.MaxPriceVCPUHour >= 0 {
		q.Set("max_price_vcpu_hour", bbus.FormatAmount(req.MaxPriceVCPUHour))
	}
	for _, t := range req.Tags {
		q.Add("tag", t.Key+"="+t.Value)
	}
	withFilters(q, "exclude", req.Exclude)
	items, _, err := list[bbus.Match](ctx, c, "/v1/match", q)
	return items, err
}

// Agreements lists agreements.
func (c *Client) Agreements(ctx context.Context, f bbus.AgreementFilter, p bbus.Page) ([]bbus.Agreement, string, error) {
	return list[bbus.Agreement](ctx, c, "/v1/agreements", withFilters(pageQuery(p), "cloud", f.Cloud, "status", f.Status))
}

// Agreement fetches one agreement.
func (c *Client) Agreement(ctx context.Context, id string) (*bbus.Agreement, error) {
	return one[bbus.Agreement](ctx, c, "/v1/agreements/"+url.PathEscape(id))
}

// Oracles lists oracles.
func (c *Client) Oracles(ctx context.Context, p bbus.Page) ([]bbus.Oracle, string, error) {
	return list[bbus.Oracle](ctx, c, "/v1/oracles", pageQuery(p))
}

// Oracle fetches one oracle.
func (c *Client) Oracle(ctx context.Context, id string) (*bbus.Oracle, error) {
	return one[bbus.Oracle](ctx, c, "/v1/oracles/"+url.PathEscape(id))
}

// Report fetches one oracle report.
func (c *Client) Report(ctx context.Context, id string) (*bbus.Report, error) {
	return one[bbus.Report](ctx, c, "/v1/reports/"+url.PathEscape(id))
}

// Violations lists SLA violations.
func (c *Client) Violations(ctx context.Context, f bbus.ViolationFilter, p bbus.Page) ([]bbus.Violation, string, error) {
	return list[bbus.Violation](ctx, c, "/v1/violations", withFilters(pageQuery(p), "cloud", f.Cloud, "vm", f.VM))
}

// Invoices lists invoices, of one cloud if cloud is set.
func (c *Client) Invoices(ctx context.Context, cloud string, p bbus.Page) ([]bbus.Invoice, string, error) {
	return list[bbus.Invoice](ctx, c, "/v1/invoices", withFilters(pageQuery(p), "cloud", cloud))
}

// Invoice fetches one invoice with its lines.
func (c *Client) Invoice(ctx context.Context, id string) (*bbus.Invoice, error) {
	return one[bbus.Invoice](ctx, c, "/v1/invoices/"+url.PathEscape(id))
}

// Standings returns every member's and every oracle's reputation, best first.
func (c *Client) Standings(ctx context.Context) (*bbus.ReputationList, error) {
	return one[bbus.ReputationList](ctx, c, "/v1/reputation")
}

// Windows returns one page of a VM's reported windows starting at or after
// since (zero: from the first), with their reports and combined values.
func (c *Client) Windows(ctx context.Context, vm string, since time.Time, p bbus.Page) ([]bbus.Window, string, error) {
	q := pageQuery(p)
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339))
	}
	return list[bbus.Window](ctx, c, "/v1/vms/"+url.PathEscape(vm)+"/windows", q)
}

// Reputation lists every member's reputation, best first.
func (c *Client) Reputation(ctx context.Context) ([]bbus.Standing, error) {
	items, _, err := list[bbus.Standing](ctx, c, "/v1/reputation", nil)
	return items, err
}
