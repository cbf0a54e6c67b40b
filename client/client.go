// Package client is a Go client of a bbus node's REST API (package httpapi).
// Every error it returns for something the node refused is a *bbus.Error with
// the node's code and message; a node it cannot reach is EUNAVAILABLE.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bbusdev/bbus"
)

// maxResponseBytes bounds what the client reads of one response.
const maxResponseBytes = 64 << 20

// Client talks to one node. It is safe for concurrent use.
type Client struct {
	base  string
	hc    *http.Client
	token string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests through hc (for timeouts,
// proxies or TLS settings); the default is http.DefaultClient.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithToken makes the client send token as its bearer token (bbus token
// create): needed for writes the node signs, and for reads where the node asks.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// New returns a client of the node at baseURL, like "http://127.0.0.1:8080".
// A base without a scheme is taken as http://.
func New(baseURL string, opts ...Option) *Client {
	if !strings.Contains(baseURL, "://") {
		baseURL = "http://" + baseURL
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), hc: http.DefaultClient}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL returns the node's address as the client uses it.
func (c *Client) BaseURL() string { return c.base }

// Status describes the node and its chain.
func (c *Client) Status(ctx context.Context) (*bbus.Status, error) {
	var st bbus.Status
	if err := c.get(ctx, "/v1/status", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// Submit sends a signed transaction, byte for byte, as bbus.SignTx or
// Signer.Sign made it. With wait it returns once the transaction is committed;
// without, once the node admitted it. A transaction the ledger rejected in its
// block returns both its result (where it was committed) and a *bbus.Error.
func (c *Client) Submit(ctx context.Context, raw []byte, wait bool) (*bbus.TxResult, error) {
	return c.post(ctx, "/v1/txs", raw, wait)
}

// post sends body to a route that answers like POST /v1/txs: a TxResult, or
// the error shape with the result of a transaction rejected in its block.
func (c *Client) post(ctx context.Context, path string, body []byte, wait bool) (*bbus.TxResult, error) {
	q := url.Values{}
	if !wait {
		q.Set("wait", "false")
	}
	req, err := c.request(ctx, http.MethodPost, path, q, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	var res bbus.TxResult
	e, err := c.do(req, &res)
	if e != nil && e.Result != nil {
		return e.Result, err
	}
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// Send signs action with s, submits it and waits for its commit: Sign, then
// Submit with wait.
func (c *Client) Send(ctx context.Context, s Signer, action bbus.Action) (*bbus.TxResult, error) {
	raw, _, err := s.Sign(action)
	if err != nil {
		return nil, err
	}
	return c.Submit(ctx, raw, true)
}

// Clouds returns one page of the federation's clouds in id order, and the
// cursor of the next page ("" after the last).
func (c *Client) Clouds(ctx context.Context, p bbus.Page) ([]bbus.Cloud, string, error) {
	var l bbus.List[bbus.Cloud]
	if err := c.get(ctx, "/v1/clouds", pageQuery(p), &l); err != nil {
		return nil, "", err
	}
	return l.Items, l.Next, nil
}

// Cloud returns one cloud.
func (c *Client) Cloud(ctx context.Context, id string) (*bbus.Cloud, error) {
	var cl bbus.Cloud
	if err := c.get(ctx, "/v1/clouds/"+url.PathEscape(id), nil, &cl); err != nil {
		return nil, err
	}
	return &cl, nil
}

// VMs returns one page of VMs in id order, and the cursor of the next page.
func (c *Client) VMs(ctx context.Context, p bbus.Page) ([]bbus.VM, string, error) {
	var l bbus.List[bbus.VM]
	if err := c.get(ctx, "/v1/vms", pageQuery(p), &l); err != nil {
		return nil, "", err
	}
	return l.Items, l.Next, nil
}

// VM returns one VM.
func (c *Client) VM(ctx context.Context, id string) (*bbus.VM, error) {
	var vm bbus.VM
	if err := c.get(ctx, "/v1/vms/"+url.PathEscape(id), nil, &vm); err != nil {
		return nil, err
	}
	return &vm, nil
}

// VMHistory returns a VM with all its hosting intervals and migrations.
func (c *Client) VMHistory(ctx context.Context, id string) (*bbus.History, error) {
	var h bbus.History
	if err := c.get(ctx, "/v1/vms/"+url.PathEscape(id)+"/history", nil, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// HostAt returns the hosting interval of a VM that covers time at.
func (c *Client) HostAt(ctx context.Context, id string, at time.Time) (*bbus.Interval, error) {
	var iv bbus.Interval
	q := url.Values{"at": {at.Format(time.RFC3339Nano)}}
	if err := c.get(ctx, "/v1/vms/"+url.PathEscape(id)+"/host", q, &iv); err != nil {
		return nil, err
	}
	return &iv, nil
}

// Migration returns one migration.
func (c *Client) Migration(ctx context.Context, id string) (*bbus.Migration, error) {
	var m bbus.Migration
	if err := c.get(ctx, "/v1/migrations/"+url.PathEscape(id), nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Migrations returns one page of the migrations that match f, in the order
// they were proposed, and the cursor of the next page.
func (c *Client) Migrations(ctx context.Context, f bbus.MigrationFilter, p bbus.Page) ([]bbus.Migration, string, error) {
	q := pageQuery(p)
	for k, v := range map[string]string{"vm": f.VM, "cloud": f.Cloud, "status": f.Status} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.Format(time.RFC3339Nano))
	}
	var l bbus.List[bbus.Migration]
	if err := c.get(ctx, "/v1/migrations", q, &l); err != nil {
		return nil, "", err
	}
	return l.Items, l.Next, nil
}

func pageQuery(p bbus.Page) url.Values {
	q := url.Values{}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.After != "" {
		q.Set("after", p.After)
	}
	return q
}

func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	req, err := c.request(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return err
	}
	_, err = c.do(req, out)
	return err
}

func (c *Client) request(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Request, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, bbus.Errorf(bbus.EINVALID, "node address %q: %v", c.base, err)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// do sends req and decodes a 2xx response's body into out. For any other status
// it returns the error shape the node sent (if it sent one) and the error as a
// *bbus.Error.
func (c *Client) do(req *http.Request, out any) (*bbus.ErrorResponse, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return nil, bbus.Errorf(bbus.EUNAVAILABLE, "%s %s: %v", req.Method, req.URL.Path, ctxErr)
		}
		return nil, bbus.Errorf(bbus.EUNAVAILABLE, "cannot reach the node at %s: %v", c.base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, bbus.Errorf(bbus.EUNAVAILABLE, "reading the response of %s %s: %v", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err := json.Unmarshal(body, out); err != nil {
			return nil, bbus.Errorf(bbus.EINTERNAL, "the response of %s %s is not the JSON expected: %v", req.Method, req.URL.Path, err)
		}
		return nil, nil
	}
	var e bbus.ErrorResponse
	if json.Unmarshal(body, &e) == nil && e.Error != nil && e.Error.Code != "" {
		return &e, e.Error
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	return nil, bbus.Errorf(CodeOfStatus(resp.StatusCode), "%s %s: HTTP %s: %s", req.Method, req.URL.Path, resp.Status, text)
}

// unwrapURLError drops the method and URL that *url.Error repeats.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
