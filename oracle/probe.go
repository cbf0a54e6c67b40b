package oracle

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// probeResult is one probe's outcome: whether the VM answered, and how long
// it took.
type probeResult struct {
	ok      bool
	latency time.Duration
	err     string
}

// prober probes endpoints. It holds no state beyond its HTTP client.
type prober struct {
	hc      *http.Client
	timeout time.Duration
}

func newProber(timeout time.Duration) *prober {
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true, TLSHandshakeTimeout: timeout}
	return &prober{hc: &http.Client{Transport: tr, Timeout: timeout,
		// A redirect is an answer: the VM serves.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, timeout: timeout}
}

// probe checks endpoint once: an HTTP(S) answer with a 2xx or 3xx status, or
// an accepted TCP connection, within the timeout. Every probe opens a new
// connection, so the latency includes connecting.
func (p *prober) probe(ctx context.Context, endpoint string) probeResult {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	u, err := url.Parse(endpoint)
	if err != nil {
		return probeResult{err: err.Error()}
	}
	start := time.Now()
	if u.Scheme == "tcp" {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return probeResult{err: err.Error()}
		}
		conn.Close()
		return probeResult{ok: true, latency: time.Since(start)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return probeResult{err: err.Error()}
	}
	req.Header.Set("User-Agent", "bbus-oracle")
	resp, err := p.hc.Do(req)
	if err != nil {
		return probeResult{err: err.Error()}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	lat := time.Since(start)
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return probeResult{latency: lat, err: "HTTP " + resp.Status}
	}
	return probeResult{ok: true, latency: lat}
}

// availability is ok/probes in thousandths of a percent (100 % = 100000),
// rounded down: integer arithmetic only.
func availability(ok, probes int64) int64 {
	if probes <= 0 {
		return 0
	}
	return ok * 100000 / probes
}

// percentile returns the nearest-rank percentile pct (1 to 100) of the
// samples, 0 if there are none: the smallest sample that at least pct % of
// the samples do not exceed.
func percentile(samples []int64, pct int) int64 {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := (pct*len(s) + 99) / 100 // ceil(pct/100 * n), from 1
	return s[max(rank, 1)-1]
}
