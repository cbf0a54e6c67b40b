package httpapi

import (
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/bbusdev/bbus"
)

// What keeps web pages of other sites from driving the API through a
// visitor's browser (the node listens on loopback by default, which every
// page the visitor opens can reach):
//   - the Host header must be a name the node serves (checkHost): a page whose
//     own name its attacker points at 127.0.0.1 (DNS rebinding) sends its
//     own name;
//   - a request from a page of another origin is refused unless CORS names
//     that origin (checkOrigin): browsers send Origin with every POST and
//     with every cross-origin fetch, and Sec-Fetch-Site with every request;
//   - a write must say Content-Type: application/json (checkContentType),
//     which no form and no "simple" cross-origin request can send.

// checkHost refuses a request whose Host header names a host the node does
// not serve: IP addresses, localhost (and names under .localhost) and the
// names of Options.Hosts are served; "*" there serves any name.
func (a *api) checkHost(r *http.Request) *bbus.Error {
	if r.Host == "" {
		return nil // HTTP/1.0 without Host; no browser sends that
	}
	name := r.Host
	if h, _, err := net.SplitHostPort(name); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.ToLower(strings.Trim(name, "[]")), ".")
	if net.ParseIP(name) != nil || name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return nil
	}
	for _, h := range a.opts.Hosts {
		if h == "*" || strings.EqualFold(strings.TrimSuffix(h, "."), name) {
			return nil
		}
	}
	return bbus.Errorf(bbus.EFORBIDDEN, "this node does not serve the host name %q (a DNS name pointed at it by another site?): call it by IP address or localhost, or add the name to rest.hosts", bbus.Clip(name))
}

// corsAllowed reports whether CORS lets pages of origin call the API.
func (a *api) corsAllowed(origin string) bool {
	return len(a.opts.CORSOrigins) > 0 && (slices.Contains(a.opts.CORSOrigins, "*") || slices.Contains(a.opts.CORSOrigins, origin))
}

// checkOrigin refuses a request a browser sent for a page of another origin
// that CORS does not name: one whose Origin is not the node's own, or, with
// no Origin, whose Sec-Fetch-Site is cross-site (except a plain navigation to
// a page of the node, a link followed, which cannot read or write anything).
func (a *api) checkOrigin(r *http.Request) *bbus.Error {
	if origin := r.Header.Get("Origin"); origin != "" {
		if a.corsAllowed(origin) || sameOrigin(origin, r) {
			return nil
		}
		return bbus.Errorf(bbus.EFORBIDDEN, "requests from pages of %s are refused: this node serves pages of other origins only if rest.cors_origins names them", bbus.Clip(origin))
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" &&
		!((r.Method == http.MethodGet || r.Method == http.MethodHead) && r.Header.Get("Sec-Fetch-Mode") == "navigate") {
		return bbus.Errorf(bbus.EFORBIDDEN, "requests from pages of other sites are refused: this node serves pages of other origins only if rest.cors_origins names them")
	}
	return nil
}

// sameOrigin reports whether origin is the node's own as r reached it.
func sameOrigin(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // "null" among others: a sandboxed page or a file
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return u.Scheme == scheme && strings.EqualFold(u.Host, r.Host)
}

// checkContentType refuses a write whose body is not declared as JSON.
func checkContentType(r *http.Request) *bbus.Error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/json" {
		return nil
	}
	if ct == "" {
		return bbus.Errorf(bbus.EMALFORMED, "a write must have Content-Type: application/json; the request has none")
	}
	return bbus.Errorf(bbus.EMALFORMED, "a write must have Content-Type: application/json, not %q", bbus.Clip(ct))
}
